"""A bulk load in shards of customers folds and cuts exactly what it does holding everyone at once."""

from __future__ import annotations

import pytest

from stream_app.adapters.frame import events_to_frame
from stream_app.core.scoring import boundaries_of, rank_values
from stream_app.worker.bootstrap import BootstrapResult, fold_frame
from stream_app.worker.population import Ranked, part, shard_rows
from tests.unit.worker.test_bootstrap_state import _with_snapshots
from tests.unit.worker.test_processor import sample_events


def _frame(customers: int, seed: int):
    return events_to_frame(_with_snapshots(sample_events(customers, seed))).in_time_order()


@pytest.mark.parametrize("most", [1, 7, 30, 1000])
def test_shards_fold_to_the_whole_frames_states_and_boundaries(most):
    frame = _frame(90, 4)
    whole = fold_frame(frame, BootstrapResult())
    shards = shard_rows(frame, most)
    if most >= len(whole):
        assert shards is None  # one shard: folded once, as before
        return
    assert len(shards) == -(-len(whole) // most)
    assert sorted(int(i) for rows in shards for i in rows) == list(range(len(frame)))  # every row once
    ranked, folded, result, by_shard = Ranked(), {}, BootstrapResult(), []
    for rows in shards:
        assert list(rows) == sorted(rows)  # the frame's (time) order within a shard
        states = fold_frame(part(frame, rows), result)
        assert not folded.keys() & states.keys()  # a customer's events are all in one shard
        folded.update(states)
        ranked.add(states)
        by_shard.append(states)
    assert folded == whole
    assert result.events == len(frame) and ranked.customers == len(whole)
    assert ranked.boundaries(1) == boundaries_of({cid: s.totals() for cid, s in whole.items()}, version=1)
    # each shard's entries of the rank index: its scored customers, their rank values
    parts = ranked.parts()
    assert len(parts) == len(shards)
    for states, (ids, columns) in zip(by_shard, parts):
        expected = {cid: v for cid, s in states.items() if (v := rank_values(s.totals())) is not None}
        assert dict(zip(ids, zip(*(c.tolist() for c in columns)))) == expected and len(ids) == len(expected)


def test_shards_are_about_equal_and_the_same_for_the_same_file():
    frame = _frame(200, 8)
    sizes = [len({frame.df["customer_id"][i] for i in rows}) for rows in shard_rows(frame, 50)]
    assert len(sizes) == 4 and max(sizes) - min(sizes) <= 1
    again = shard_rows(_frame(200, 8), 50)
    assert all((a == b).all() for a, b in zip(shard_rows(frame, 50), again))
