"""When a new owner's first rescore may look only at the chain's candidates, and when it must look at everyone."""

from __future__ import annotations

import asyncio

from stream_app.core.quintiles import DIMENSIONS, Cuts
from stream_app.core.scoring import Boundaries
from stream_app.worker.rescore import MIN_CHUNK, RESCORE_CHUNK, RescorePace, since_last_rescore
from tests.unit.worker.test_processor import TwinSinks


def bounds(version: int, shift: int = 0) -> Boundaries:
    cuts = {d: Cuts(tuple((10 * q + shift, f"c{q}") for q in range(1, 5))) for d in DIMENSIONS}
    return Boundaries(cuts, 100, version)


def sinks_with(versions: list[Boundaries], rescored: tuple[int, str] | None, audiences_fp: str = "") -> TwinSinks:
    sinks = TwinSinks()
    sinks.audiences_fp = audiences_fp
    for b in versions:
        sinks.publish_boundaries(b)
    if rescored is not None:
        asyncio.run(sinks.mark_rescored(0, *rescored))
    return sinks


def spans(sinks: TwinSinks, new: Boundaries, rules_fp: str = ""):
    return asyncio.run(since_last_rescore(sinks, 0, new, rules_fp))


def test_the_chain_since_the_last_rescore_gives_the_candidates():
    chain = [bounds(1), bounds(2, 3), bounds(3)]
    got = spans(sinks_with(chain, (1, "")), chain[-1])
    assert got is not None and all(got[d] for d in DIMENSIONS)  # moved at v2 and back at v3: still candidates
    assert spans(sinks_with(chain, (3, "")), chain[-1]) == {d: [] for d in DIMENSIONS}  # already drained


def test_everyone_when_the_chain_cannot_be_vouched_for():
    chain = [bounds(1), bounds(2, 3), bounds(3)]
    assert spans(sinks_with(chain, None), chain[-1]) is None  # no rescore recorded
    assert spans(sinks_with(chain, (1, "old rules")), chain[-1]) is None  # marked by a worker with other rules
    assert spans(sinks_with(chain, (1, "x"), audiences_fp="y"), chain[-1], "x") is None  # published under other rules
    gap = sinks_with(chain, (1, ""))
    del gap.history[2]  # no longer kept
    assert spans(gap, chain[-1]) is None
    empty_start = [Boundaries(version=1), bounds(2)]  # the cut keys cannot say who moved
    assert spans(sinks_with(empty_start, (1, "")), empty_start[-1]) is None
    assert spans(sinks_with(chain, (1, "")), bounds(3, 1)) is None  # not the record Redis holds for that version


def test_a_partition_where_another_writer_was_ahead_is_scanned_in_full_once():
    from stream_app.worker.rescore import RescoreLedger

    ledger = RescoreLedger()
    ledger.rescored(0, 1)
    ledger.distrust(0)  # a write refused as stale: not an owner that died, the chain does not vouch for it
    assert ledger.doubted(0) and not ledger.trusted(0)
    ledger.scanning(0)
    ledger.rescored(0, 2)
    assert not ledger.doubted(0) and ledger.trusted(0)


def test_a_rescore_chunk_fits_the_time_left_in_its_slice():
    """The first chunk is small and measures the cost per customer; later chunks take as many customers as
    fit the time left, never more than the largest chunk nor fewer than the smallest (a chunk's round trips
    would then cost more than its customers)."""
    pace = RescorePace()
    first = pace.chunk(0.05, RESCORE_CHUNK)
    assert MIN_CHUNK <= first < RESCORE_CHUNK
    pace.took(0.02, 100)  # 200 us a customer
    assert pace.chunk(0.05, RESCORE_CHUNK) == 250
    assert pace.chunk(10.0, RESCORE_CHUNK) == RESCORE_CHUNK
    assert pace.chunk(0.0, RESCORE_CHUNK) == MIN_CHUNK
    assert pace.chunk(0.0, 7) == 7  # a smaller largest chunk (the tests' 7) wins over the smallest
    for _ in range(30):  # the cost doubles: the chunks follow
        pace.took(0.04, 100)
    assert 120 <= pace.chunk(0.05, RESCORE_CHUNK) <= 130
    pace.took(1.0, 0)  # a chunk that found its queue empty says nothing about the cost
    assert 120 <= pace.chunk(0.05, RESCORE_CHUNK) <= 130
