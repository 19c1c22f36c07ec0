"""The stored state survives encoding exactly, and control/dead-letter/change records meet their contracts."""

from __future__ import annotations

import json

import fastjsonschema
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream_app.core.fold import CustomerState, apply, order_key
from stream_app.core.model import OrderEvent, Scores, Totals
from stream_app.core.quintiles import Cuts
from stream_app.core.scoring import Boundaries
from stream_app.core.validate import load_schema
from stream_app.errors import BadEvent
from stream_app.kafka.dead_letter import dead_letter
from stream_app.kafka.changes import change_event
from stream_app.core import stored as codec
from stream_app.core.stored import Stored
from stream_app.redis.boundaries import cuts_from_reply
from stream_app.worker import control
from stream_app.worker.boundaries import Published, recompute_due

events = st.builds(
    OrderEvent,
    type=st.sampled_from(["order", "return"]),
    customer_id=st.just("c1"),
    occurred_us=st.integers(0, 2**50),
    order_id=st.sampled_from(["a", "b", "c"]),
    amount_cents=st.integers(-10**6, 10**6),
    channel=st.sampled_from([None, "web", "store"]),
    categories=st.lists(st.sampled_from(["x", "y"]), max_size=2).map(tuple),
)


@given(st.lists(events, max_size=8), st.integers(-1, 10**9))
def test_encode_decode_round_trip(evs, offset):
    stored = Stored(apply(None, OrderEvent("order", "c1", 5, "z", 100))[0], last_offset=offset,
                    scores=Scores(1, 2, 3, 4), segment="loyal", boundaries_version=7, ranks=(5, 1, 100, 100))
    for e in evs:
        apply(stored.state, e)
    back = codec.decode("c1", codec.encode(stored))
    assert back == stored
    assert back.state.totals() == stored.state.totals()
    assert codec.scoring_of(codec.parse(codec.encode(stored))) == (stored.scores, "loyal", 7, (5, 1, 100, 100), "")


def test_a_format_1_state_reads_into_todays_order_keys_and_an_unknown_format_is_refused():
    long_id = "x" * 200  # format 1 kept raw order ids, however long
    v1 = [1, {long_id: [5, 100, "web"], "a": [6, 50, None]}, {long_id: [7, -20, None]}, None, ["k"], 3, 9,
          [1, 2, 3, 4], "loyal", 7, [6, 2, 130, 65], ["vip"], "fp"]
    stored = codec.decode("c1", orjson.dumps(v1))
    assert stored.state.orders == {order_key(long_id): (5, 100, "web"), "a": (6, 50, None)}
    assert stored.state.returns == {order_key(long_id): (7, -20, None)}
    assert (stored.state.categories, stored.state.seq, stored.last_offset) == ({"k"}, 3, 9)
    assert (stored.scores, stored.segment, stored.audiences, stored.rules_fp) == (Scores(1, 2, 3, 4), "loyal",
                                                                                 ("vip",), "fp")
    assert codec.decode("c1", codec.encode(stored)) == stored  # written back as today's format
    with pytest.raises(ValueError, match="unknown state format 3"):
        codec.decode("c1", orjson.dumps([3, *v1[1:]]))


def test_version_is_seq_plus_boundaries_version():
    stored = Stored(apply(None, OrderEvent("order", "c1", 5, "z", 100))[0], boundaries_version=3)
    assert stored.version == 1 + 3


def test_control_messages_name_a_version_and_malformed_ones_are_refused():
    assert control.parse(control.encode_rescore(4)) == control.Rescore(4)
    # an older leader's message carried the boundaries too: only their version is read
    b = Boundaries(cuts={"r": Cuts(((1, "a"), (2, "b"), (3, "c"), (4, "d")))}, customers=9, version=4)
    assert control.parse(orjson.dumps({"control": "rescore", "computed_us": 1, "boundaries": b.to_json()})).version == 4
    assert control.is_control(control.CONTROL_KEY) and not control.is_control(b"c1")
    for raw in (b'{"control": broken', b'{"type":"order"}', None, b"[]", b'{"control":"rescore"}',
                b'{"control":"rescore","version":0}', b'{"control":"rescore","version":"3"}',
                b'{"control":"rescore","version":1e15}', b'{"control":"rescore","version":true}',
                b'{"control":"rescore","version":' + str(2**64).encode() + b"}"):
        with pytest.raises(BadEvent) as err:
            control.parse(raw)
        assert err.value.reason
    assert control.parse(b'{"control":"rescore","boundaries":{"version":2,"cuts":{}}}').version == 2  # cuts unread


def test_change_event_and_dead_letter_match_their_schemas():
    changes = fastjsonschema.compile(load_schema("segment_change.schema.json"))
    letters = fastjsonschema.compile(load_schema("dead_letter.schema.json"))
    t = Totals(frequency=3, monetary_cents=-1234, last_order_us=10)
    changes(change_event("c1", None, "loyal", Scores(5, 4, 1, 2), t, "order", 0, 1, 10))
    changes(change_event("c1", "loyal", "at_risk", Scores(2, 4, 1, 2), t, "rescore", 3, 7, 10))
    for raw in (b"\xff\xfe not utf-8", b'{"type": "order"}', None):
        doc = json.loads(dead_letter(raw, b"k", "malformed JSON", None, "rfm.orders", 2, 41))
        letters(doc)
    doc = json.loads(dead_letter(b"\xff", None, "bad", "amount", "t", 0, 0))
    assert doc["encoding"] == "base64" and doc["field"] == "amount"


def test_cuts_from_redis_reply_are_exact_integers():
    reply = [b"12", 5] + [b"m", b"1322748000000000"] * 16
    changes, n, cuts = cuts_from_reply(reply)
    assert (changes, n) == (12, 5)
    assert cuts["aov"].keys[0] == (1322748000000000, "m")
    assert cuts_from_reply([b"0", 0]) == (0, 0, {d: Cuts(()) for d in ("r", "f", "m", "aov")})
    pub = Published(Boundaries(cuts=cuts, customers=5, version=2), 12, 99, 0.5)
    assert Published.from_bytes(pub.to_bytes()) == pub


def test_recompute_when_interval_passed_or_burst_ended():
    base = dict(changes=5, covered=3, interval=30.0, quiet=1.0)
    assert not recompute_due(now=10.0, last_change_at=9.5, last_recompute_at=0.0, **base)  # burst still going
    assert recompute_due(now=10.0, last_change_at=8.9, last_recompute_at=0.0, **base)  # quiet for 1.1 s
    assert recompute_due(now=40.0, last_change_at=39.9, last_recompute_at=5.0, **base)  # interval passed
    assert not recompute_due(now=40.0, last_change_at=0.0, last_recompute_at=0.0, changes=3, covered=3,
                             interval=30.0, quiet=1.0)  # nothing new


def test_a_rescore_in_progress_is_not_a_pause_of_the_stream():
    base = dict(changes=5, covered=3, interval=30.0, quiet=1.0, last_recompute_at=10.0)
    # still for 4 s, but the rescore the last recompute ordered has not finished: that stillness is its own
    assert not recompute_due(now=14.0, last_change_at=10.0, settled_at=None, **base)
    # the rescore ended at 13.5 and the backlog moved the index at once: the stream goes on
    assert not recompute_due(now=14.0, last_change_at=10.0, settled_at=13.5, **base)
    assert not recompute_due(now=15.0, last_change_at=14.5, settled_at=13.5, **base)
    # nothing moved for a quiet period after the rescore ended: the stream stopped
    assert recompute_due(now=15.0, last_change_at=10.0, settled_at=13.5, **base)
    # a rescore that never ends (a partition's worker gone) falls back to the interval
    assert recompute_due(now=40.0, last_change_at=39.9, settled_at=None, **base)


def test_a_stillness_no_longer_than_the_streams_own_pauses_is_not_its_end():
    base = dict(changes=5, covered=3, interval=30.0, quiet=1.0, last_recompute_at=10.0, settled_at=0.0)
    assert not recompute_due(now=14.0, last_change_at=11.0, pause=2.5, **base)  # 3 s < 1.5 x 2.5 s
    assert recompute_due(now=15.0, last_change_at=11.0, pause=2.5, **base)  # 4 s: longer than its pauses


def test_a_steady_stream_recomputes_once_per_interval():
    """The leader's loop of ticks, simulated: batches move the index every 1-3 s; a rescore stalls it 4 s."""
    interval, quiet, rescore_s = 30.0, 1.0, 4.0
    changes = covered = 0
    last_change_at = last_recompute_at = 0.0
    settled_at: float | None = 0.0
    rescore_until: float | None = None
    pauses: list[tuple[float, float]] = []
    recomputes = []
    next_batch = 0.0
    for tick in range(1, 301):
        now = float(tick)
        if rescore_until is not None and now >= rescore_until:
            settled_at, rescore_until = now, None
        if rescore_until is None and now >= next_batch:  # a batch lands while no rescore runs
            if settled_at is not None:
                pauses.append((now, now - max(last_change_at, settled_at)))
            changes, last_change_at = changes + 1, now
            next_batch = now + (1 + tick % 3)
        pause = max((p for t, p in pauses if now - t <= 2 * interval and p < interval), default=0.0)
        if recompute_due(now, changes, covered, last_change_at, last_recompute_at, interval, quiet, settled_at,
                         pause):
            recomputes.append(now)
            covered, last_recompute_at = changes, now
            settled_at, rescore_until = None, now + rescore_s
    # the first pauses are learnt (a few early recomputes), then one per interval
    assert len(recomputes) <= 300 // 30 + 3, recomputes
    assert all(b - a >= interval for a, b in zip(recomputes[3:], recomputes[4:])), recomputes
    # and when the stream stops, the end is seen long before the interval
    now = 300.0
    changes += 1
    last_change_at = now
    assert not recompute_due(now + 2, changes, covered, last_change_at, now - 10, interval, quiet, now - 20, pause)
    assert recompute_due(now + 5, changes, covered, last_change_at, now - 10, interval, quiet, now - 20, pause)


def test_an_encoded_value_holds_memory_of_its_own_length():
    """A memory:// Table keeps every value the worker wrote: orjson's 4 KB buffer must not come with each."""
    import tracemalloc

    st = Stored(CustomerState("c1", orders={"o1": (1_600_000_000_000_000, 1_250, "web")}, seq=1))
    tracemalloc.start()
    try:
        values = [codec.encode(st) for _ in range(1_000)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 1_000 * (len(values[0]) + 200), held  # the bytes object's header and the list's slot
