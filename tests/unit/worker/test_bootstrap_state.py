"""The states and profiles `rfm-stream bootstrap` computes equal what the worker's processor leaves, and
streaming on top of them equals batch over everything (no servers: tests/integration/worker/test_bootstrap.py
runs the command on the real stack)."""

from __future__ import annotations

import dataclasses

import pytest

from stream_app.adapters.frame import events_to_frame
from stream_app.audiences import rules as audience_rules
from stream_app.batch import score as batch_score
from stream_app.core.model import OrderEvent
from stream_app.core.scoring import boundaries_of
from stream_app.core.segments import SegmentMap
from stream_app.settings import Settings
from stream_app.core import stored as codec
from stream_app.worker.bootstrap import BootstrapResult, fold_history, settle_all
from stream_app.worker.processor import Processor
from tests.unit.worker.test_processor import PARTITIONS, DictTable, TwinSinks, drive, run, sample_events, to_msgs


def _processor(sinks: TwinSinks, table: DictTable) -> Processor:
    segments = SegmentMap.load()
    rules = audience_rules.load(segment_names=segments.names)
    return Processor(table, sinks, segments, "orders", rules=rules, rules_fp=rules.fingerprint)


def _with_snapshots(evs: list[OrderEvent]) -> list[OrderEvent]:
    """Some customers also get a CRM snapshot and categories, so every part of the state is exercised."""
    out = list(evs)
    t = evs[len(evs) // 2].occurred_us
    for i, cid in enumerate(sorted({e.customer_id for e in evs})[::5]):
        out.append(OrderEvent("snapshot", cid, t + i, orders=3, monetary_cents=12_345, first_order_us=t - 10**9,
                              last_order_us=t, channel="web", categories=("KADIN",)))
    return sorted(out, key=lambda e: (e.occurred_us, e.customer_id, e.order_id or ""))


@pytest.mark.parametrize("seed", [3, 11])
def test_bootstrap_states_equal_the_processors(seed):
    """Processing the history with the whole history's boundaries leaves the same Table values (but for the
    offset, which the history has none of in the orders topic) and the same profiles."""
    evs = _with_snapshots(sample_events(80, seed))
    states = fold_history(evs, BootstrapResult())
    stored, writes, bounds = settle_all(states, Settings())
    assert bounds.version == 1

    sinks, table = TwinSinks(), DictTable()
    sinks.published = boundaries_of({cid: s.totals() for cid, s in states.items()}, version=1)
    proc = _processor(sinks, table)
    msgs = to_msgs(evs)
    for i in range(0, len(msgs), 7):
        run(proc.process(msgs[i : i + 7]))
    assert sorted(table.data) == sorted(s.state.customer_id.encode() for s in stored)
    for st in stored:
        worker = codec.decode(st.state.customer_id, table.data[st.state.customer_id.encode()])
        assert dataclasses.replace(worker, last_offset=-1) == st
        assert codec.decode(st.state.customer_id, codec.encode(st)) == st
    for w in writes:
        p = sinks.profiles[w.customer_id]
        fields = dict(zip(w.fields[::2], w.fields[1::2]))
        for k in fields.keys() - {"updated_at"}:
            assert p[k] == fields[k], (w.customer_id, k)
        assert (p["seq"], p["bv"], p["segment"], p["ranks"], tuple(p["audiences"])) == (
            w.seq, w.boundaries_version, w.segment, w.ranks, w.audiences)


def test_streaming_the_whole_stream_on_a_bootstrapped_history_equals_batch():
    evs = _with_snapshots(sample_events(80, 5))
    history = evs[: int(len(evs) * 0.8)]
    stored, writes, bounds = settle_all(fold_history(history, BootstrapResult()), Settings())
    sinks, table = TwinSinks(), DictTable()
    run(sinks.write_profiles(writes))
    sinks.published = bounds
    table.data = {s.state.customer_id.encode(): codec.encode(s) for s in stored}
    proc = _processor(sinks, table)
    msgs = to_msgs(evs)  # the whole stream: the history again, then the rest, from offset 0
    nxt = {p: sum(1 for m in msgs if m.partition == p) for p in range(PARTITIONS)}
    run(drive(proc, sinks, msgs, 50, nxt))
    expected = batch_score(events_to_frame(evs))
    got = {cid: p for cid, p in sinks.profiles.items() if p["segment"]}
    assert sorted(got) == sorted(expected["customer_id"])
    for row in expected.itertuples():
        p = got[row.customer_id]
        assert (p["segment"], int(p["r_score"]), int(p["f_score"]), int(p["m_score"]), p["monetary"]) == (
            row.segment, row.r_score, row.f_score, row.m_score, row.monetary), row.customer_id
    assert proc.counters.duplicates >= len(history)  # the history again folds to nothing new


def test_a_profile_writer_that_fails_stops_the_load_with_its_error():
    """The writer thread's failure reaches the scoring thread, which stops instead of waiting on a full queue."""
    import redis.exceptions

    from stream_app.worker.bootstrap import Progress, Settler
    from stream_app.worker.bulk_writes import CHUNK, Budget, IndexEntries, Loader
    from stream_app.worker.population import Ranked

    evs = sample_events(40, 7)
    states = fold_history(evs, BootstrapResult())
    many = {f"{cid}-{i}": dataclasses.replace(s, customer_id=f"{cid}-{i}")
            for i in range(CHUNK * 8 // len(states) + 1) for cid, s in states.items()}  # more chunks than the queue holds
    ranked = Ranked()
    totals = ranked.add(many)
    nobody = Settings(redis_url="redis://127.0.0.1:9/0")  # the discard port: nothing answers
    result = BootstrapResult()
    loader = Loader(nobody, Settler(Settings(), ranked.boundaries(1)), result, Progress(quiet=True), Budget(), 4)
    with pytest.raises(redis.exceptions.ConnectionError):
        loader.load([(many, totals)], [IndexEntries(*part) for part in ranked.parts()])
    assert result.scored < len(many)  # it stopped scoring, not ran to the end


@pytest.mark.parametrize("seed", [2, 9])
def test_settle_is_the_decision_against_an_empty_redis(seed):
    """Processor.settle skips decide(), whose profile write and recorded scoring it must still equal."""
    from stream_app.core.decide import decide
    from stream_app.core.profile import WriteStatus
    from stream_app.core.stored import Stored, remember

    states = fold_history(_with_snapshots(sample_events(60, seed)), BootstrapResult())
    proc = _processor(TwinSinks(), DictTable())
    proc.offer(boundaries_of({cid: s.totals() for cid, s in states.items()}, version=1))
    for cid, state in sorted(states.items()):
        settled, decided = Stored(state), codec.decode(cid, codec.encode(Stored(state)))
        write = proc.settle(settled, updated_us=1_700_000_000_000_000)
        decision = decide(decided, proc.scorer.score(decided.state, proc.bounds, "order", 0,
                                                     updated_us=1_700_000_000_000_000), None)
        assert write == decision.write
        if write is None:
            assert decision.scoring is None and settled == decided
            continue
        assert decision.status is WriteStatus.WRITTEN
        remember(decided, decision.scoring)
        assert settled == decided
