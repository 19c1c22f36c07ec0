"""A rescore of a trusted partition decides against the profiles its states record as written, reading Redis
only for customers whose last write failed midway."""

from __future__ import annotations

import random

import pytest

from stream_app.core.quintiles import DIMENSIONS
from stream_app.core.scoring import Boundaries
from stream_app.worker import control
from stream_app.worker.messages import Msg
from tests.unit.worker.test_processor import (PARTITIONS, DyingSinks, _dying_worker, _moved_cuts, assert_chains,
                                              assert_equals_batch, drive, next_msgs, run, sample_events)


class FailingSinks(DyingSinks):
    """DyingSinks, and a write Redis applies whose reply is lost ("written")."""

    async def write_profiles(self, writes):
        if self.die_at == "written":
            await super(DyingSinks, self).write_profiles(writes)
            raise ConnectionError("the reply of the write was lost")
        return await super().write_profiles(writes)


def _trusted_worker(seed: int):
    """A processor that scored a stream and rescored every partition once (so it trusts them all)."""
    evs, msgs, sinks, _, proc, nxt = _dying_worker(seed, 150, FailingSinks())
    run(drive(proc, sinks, msgs, 37, nxt))
    assert all(proc.ledger.trusted(p) for p in range(PARTITIONS))
    return evs, sinks, proc, nxt


def _moved(rng: random.Random, sinks, bounds: Boundaries, version: int) -> Boundaries:
    return Boundaries({d: _moved_cuts(rng, sinks.profiles, bounds.cuts[d], i) for i, d in enumerate(DIMENSIONS)},
                      bounds.customers, version)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_trusted_partition_is_rescored_without_reading_a_profile(seed):
    more = sample_events(150, seed=seed + 100)  # the same customers order again, and move the cuts
    evs, sinks, proc, nxt = _trusted_worker(seed)
    run(proc.process(next_msgs(more, nxt)))
    changes, read = len(sinks.changes), len(sinks.read)
    run(drive(proc, sinks, [], 1, nxt))  # a second recompute: every partition rescores its movers
    assert proc.counters.narrow_rescores == PARTITIONS and len(sinks.changes) > changes
    assert sinks.read[read:] == []
    assert_equals_batch(evs + more, sinks)
    assert_chains(sinks)


@pytest.mark.parametrize("die_at", ["publish", "write", "written"])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_customers_whose_write_failed_are_read_when_their_rescore_is_retried(seed, die_at):
    """The rescore of a trusted partition to v2 fails after announcing its events, after delivering them,
    or after Redis applied the write (its reply lost). v3, which cuts like v1, is published before the
    retry: the retry scores most of those customers back to their states' v1 scoring. Deciding against the
    states alone would send nothing, and subscribers would keep the v2 events they were sent; the customers
    in doubt are read, so the retry delivers the announced events and decides against what was sent."""
    rng = random.Random(seed)
    _, sinks, proc, nxt = _trusted_worker(seed)
    b1 = sinks.published
    part = seed % PARTITIONS
    sinks.publish_boundaries(_moved(rng, sinks, b1, b1.version + 1))
    sinks.die_at = die_at
    v2 = [Msg(part, nxt[part], control.CONTROL_KEY, control.encode_rescore(b1.version + 1))]
    delivered = len(sinks.changes)
    with pytest.raises((RuntimeError, ConnectionError)):
        run(proc.process(v2))
    sinks.die_at = None
    assert (len(sinks.changes) > delivered) is (die_at != "publish")
    assert proc.ledger.trusted(part)
    doubt, read = set(proc._in_doubt), len(sinks.read)
    sinks.publish_boundaries(Boundaries(b1.cuts, b1.customers, b1.version + 2))
    run(proc.process(v2))  # the worker's retry of the batch (process_or_exit)
    run(proc.process([Msg(part, nxt[part] + 1, control.CONTROL_KEY, control.encode_rescore(b1.version + 2))]))
    assert doubt and set(sinks.read[read:]) == doubt  # the failed chunk's customers, and no one else
    assert not proc.jobs and not proc._in_doubt
    assert_chains(sinks)
