"""A profile rewritten from the table after Redis lost it is the profile Redis held (tests/integration/
test_server_faults.py runs the rewrite itself against a flushed and a restarted Redis)."""

from __future__ import annotations

from stream_app.core.segments import SegmentMap
from stream_app.core import stored as codec
from stream_app.worker.processor import Processor
from stream_app.worker.redis_epoch import restored_write
from tests.unit.worker.test_processor import PARTITIONS, DictTable, TwinSinks, drive, run, sample_events, to_msgs


def test_a_rewritten_profile_is_the_one_last_written():
    evs = sample_events()
    msgs = to_msgs(evs)
    sinks, table = TwinSinks(), DictTable()
    proc = Processor(table, sinks, SegmentMap.load(), "orders")
    nxt = {p: sum(1 for m in msgs if m.partition == p) for p in range(PARTITIONS)}
    run(drive(proc, sinks, msgs, 25, nxt))  # events, a recompute and a rescore: some profiles kept older versions
    rewritten = {}
    for key, raw in table.data.items():
        w = restored_write(codec.decode(key.decode(), raw), 1_700_000_000_000_000)
        if w is not None:
            rewritten[w.customer_id] = w
    held = {cid: p for cid, p in sinks.profiles.items() if p["segment"]}
    assert sorted(rewritten) == sorted(held)
    for cid, w in rewritten.items():
        p = held[cid]
        assert (w.seq, w.boundaries_version, w.segment, w.ranks, w.audiences) == (
            p["seq"], p["bv"], p["segment"], p["ranks"], p["audiences"]), cid
        fields = dict(zip(w.fields[::2], w.fields[1::2]))
        assert fields.pop("updated_at") == "2023-11-14T22:13:20Z"
        assert fields == {k: v for k, v in p.items() if k in fields}, cid
        assert set(fields) == set(p) - {"seq", "bv", "segment", "ranks", "audiences", "updated_at"}
