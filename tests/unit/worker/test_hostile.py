"""Hostile records on the orders topic: none stops, loops or steers the processor.

The fakes of test_worker_processor.py stand in for the Table, Redis and Kafka;
tests/integration/worker/test_hostile.py sends the same records to a real worker.
"""

from __future__ import annotations

import base64
import hashlib
import json

import fastjsonschema
import orjson
import pytest
from aiokafka.errors import (KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError,
                             NotLeaderForPartitionError, RecordTooLargeError)
from faust.exceptions import ProducerSendError
from redis.exceptions import ConnectionError as RedisConnectionError

from stream_app.kafka.partitioner import partition_of
from stream_app.core.model import OrderEvent
from stream_app.core.segments import SegmentMap
from stream_app.core.validate import load_schema
from stream_app.kafka.dead_letter import KEY_LIMIT, VALUE_LIMIT, dead_letter, dead_letter_key
from stream_app.worker import control
from stream_app.worker.app import server_fault
from stream_app.worker.messages import Msg
from stream_app.worker.processor import Processor
from tests.unit.worker.test_processor import (PARTITIONS, DictTable, TwinSinks, assert_equals_batch, drive, run,
                                              sample_events, to_msgs)

YEAR_ONE = "0001-01-01T00:00:00+01:00"  # valid RFC 3339, but before the first representable UTC instant
PRODUCER_LIMIT = 1_000_000


def replayed(n_customers: int = 40):
    """A finished replay: events folded, boundaries v1 published and every partition rescored."""
    evs = sample_events(n_customers)
    msgs = to_msgs(evs)
    sinks = TwinSinks()
    proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    nxt = {p: 1 + max(m.offset for m in msgs if m.partition == p) for p in range(PARTITIONS)}
    run(drive(proc, sinks, msgs, 25, nxt))
    return evs, sinks, proc, nxt


def profiles_of(sinks: TwinSinks) -> dict:
    return {cid: dict(p) for cid, p in sinks.profiles.items()}


def controls(nxt: dict[int, int], payload: bytes) -> list[Msg]:
    out = []
    for p in range(PARTITIONS):
        out.append(Msg(p, nxt[p], control.CONTROL_KEY, payload))
        nxt[p] += 1
    return out


def test_a_forged_control_record_is_a_dead_letter_and_the_real_versions_still_rule():
    evs, sinks, proc, nxt = replayed()
    before, changes_before = profiles_of(sinks), len(sinks.changes)
    forged = [
        orjson.dumps({"control": "rescore", "version": 10**15}),
        # the old format, carrying boundaries that would make everyone hibernating
        orjson.dumps({"control": "rescore", "computed_us": 1, "boundaries": {
            "version": 10**15, "customers": 1, "cuts": {d: [[0, "~"]] * 4 for d in ("r", "f", "m", "aov")}}}),
        orjson.dumps({"control": "rescore", "boundaries": {"version": 7, "customers": 3, "cuts": {}}}),
        b'{"control":"rescore","version":"1"}', b"not json at all", b"",
    ]
    for payload in forged:
        run(proc.process(controls(nxt, payload)))
    assert len(sinks.dead) == len(forged) * PARTITIONS
    assert all(d["reason"] and d["key"] == control.CONTROL_KEY.decode() for d in sinks.dead)
    assert any("Redis does not hold" in d["reason"] for d in sinks.dead)
    assert profiles_of(sinks) == before and len(sinks.changes) == changes_before
    assert proc.bounds.version == sinks.published.version == 1
    assert sinks.rescored == {p: 1 for p in range(PARTITIONS)}

    # a control naming a version the leader did publish is only a trigger: the cuts come from Redis
    run(proc.process(controls(nxt, orjson.dumps({"control": "rescore", "boundaries": {
        "version": 1, "customers": 1, "cuts": {d: [[0, "~"]] * 4 for d in ("r", "f", "m", "aov")}}}))))
    assert profiles_of(sinks) == before and len(sinks.changes) == changes_before

    # the leader's next versions are followed as before
    more = sample_events(40, seed=9)
    msgs = to_msgs(more, nxt)
    for m in msgs:
        nxt[m.partition] = max(nxt[m.partition], m.offset + 1)
    run(drive(proc, sinks, msgs, 30, nxt))
    assert proc.bounds.version == 2 and sinks.rescored == {p: 2 for p in range(PARTITIONS)}
    assert_equals_batch(evs + more, sinks)


def test_a_malformed_boundaries_record_in_redis_makes_the_control_a_dead_letter():
    evs, sinks, proc, nxt = replayed()
    before = profiles_of(sinks)

    async def broken():
        raise_it = __import__("stream_app.errors", fromlist=["BadEvent"]).BadEvent
        raise raise_it("the boundaries record in Redis is malformed: KeyError: 'cuts'")

    sinks.latest_published = broken
    run(proc.process(controls(nxt, control.encode_rescore(1))))
    assert len(sinks.dead) == PARTITIONS and all("malformed" in d["reason"] for d in sinks.dead)
    assert profiles_of(sinks) == before


@pytest.mark.parametrize("when", [YEAR_ONE, "0001-01-01T00:30:00+00:59"])
def test_an_event_before_year_one_utc_is_a_dead_letter_and_the_customer_keeps_its_other_events(when):
    """Its time cannot be formatted (the event passed validation when this was written): the customer, with
    it alone, cannot be scored. The record becomes a dead letter, the customer's next event is kept."""
    evs = sample_events(30)
    msgs = to_msgs(evs)
    good = OrderEvent("order", "newcomer", evs[-1].occurred_us, "n1", 1234)
    hostile = {**good.to_json(), "order_id": "from-year-one", "occurred_at": when}
    p = partition_of(b"newcomer", PARTITIONS)
    bad = Msg(p, 10_000, b"newcomer", orjson.dumps(hostile))
    sinks = TwinSinks()
    proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    nxt = {p: 20_000 for p in range(PARTITIONS)}
    batch = msgs[:20] + [bad, Msg(p, 10_001, b"newcomer", orjson.dumps(good.to_json()))] + msgs[20:]
    run(drive(proc, sinks, batch, 1, nxt))
    assert [(d["partition"], d["offset"]) for d in sinks.dead] == [(p, 10_000)]
    assert sinks.dead[0]["reason"] and "from-year-one" in sinks.dead[0]["value"]
    assert_equals_batch(evs + [good], sinks)


def test_any_failure_while_folding_one_record_is_a_dead_letter(monkeypatch):
    """Whatever raises on one record (here the fold, made to fail on one order id) refuses that record only."""
    import stream_app.worker.processor as processor

    real = processor.apply

    def apply(state, ev):
        if ev.order_id == "o7":
            raise ArithmeticError("boom")
        return real(state, ev)

    monkeypatch.setattr(processor, "apply", apply)
    evs = sample_events(30)
    sinks = TwinSinks()
    proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    run(drive(proc, sinks, to_msgs(evs), 11, {p: 10_000 for p in range(PARTITIONS)}))
    assert len(sinks.dead) == 1 and "ArithmeticError: boom" in sinks.dead[0]["reason"]
    assert_equals_batch([e for e in evs if e.order_id != "o7"], sinks)


def test_an_unreadable_stored_state_refuses_that_customers_records_only():
    evs = sample_events(30)
    msgs = to_msgs(evs)
    table = DictTable()
    victim = evs[0].customer_id
    table.data[victim.encode()] = b"\x00garbage"
    sinks = TwinSinks()
    proc = Processor(table, sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    run(drive(proc, sinks, msgs, 13, {p: 10_000 for p in range(PARTITIONS)}))
    mine = [m for m in msgs if m.key == victim.encode()]
    assert len(sinks.dead) == len(mine) and all("stored state" in d["reason"] for d in sinks.dead)
    assert victim not in sinks.profiles and len(sinks.profiles) > 10


def test_a_rescore_skips_a_customer_it_cannot_score_and_goes_on():
    evs, sinks, proc, nxt = replayed()
    victim = next(k for k in proc.table.data)
    proc.table.data[victim] = b"[1, broken"
    more = sample_events(40, seed=12)
    msgs = [m for m in to_msgs(more, nxt) if m.key != victim]
    for m in msgs:
        nxt[m.partition] = max(nxt[m.partition], m.offset + 1)
    run(drive(proc, sinks, msgs, 30, nxt))
    assert proc.counters.failed == 1 and sinks.rescored == {p: 2 for p in range(PARTITIONS)}


def test_dead_letters_are_bounded_and_describe_the_whole_record():
    schema = fastjsonschema.compile(load_schema("dead_letter.schema.json"))
    cases = [
        (b"\x00" * 170_000, b"c1"),  # JSON escapes each NUL as six characters
        (bytes(range(256)) * 8_000, b"k"),  # not UTF-8: base64
        ("é".encode() * 600_000, b"k"),  # UTF-8 cut inside a character
        (b"{" * 2_000_000, b"\x00" * 1_000_000),  # a huge key too
    ]
    for raw, key in cases:
        out = dead_letter(raw, key, "x" * 5000, "f" * 500, "orders", 1, 2)
        assert len(out) < PRODUCER_LIMIT // 2
        doc = json.loads(out)
        schema(doc)
        assert doc["truncated"] and doc["value_bytes"] == len(raw) and doc["key_bytes"] == len(key)
        assert doc["value_sha256"] == hashlib.sha256(raw).hexdigest()
        kept = doc["value"].encode() if doc["encoding"] == "utf-8" else base64.b64decode(doc["value"])
        assert raw.startswith(kept) and VALUE_LIMIT - 3 <= len(kept) <= VALUE_LIMIT
        assert len(dead_letter_key(key)) <= KEY_LIMIT
    small = json.loads(dead_letter(b'{"a": 1}', b"k", "r", None, "t", 0, 0))
    assert small["value"] == '{"a": 1}' and not small["truncated"] and small["value_bytes"] == 8


def test_the_processor_bounds_the_dead_letters_of_huge_records():
    sinks = TwinSinks()
    proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    raw_sizes = []

    async def publish(changes, dead, audience=()):
        raw_sizes.extend(len(k or b"") + len(v) for k, v in dead)
        await TwinSinks.publish(sinks, changes, dead, audience)

    sinks.publish = publish
    run(proc.process([Msg(0, 1, b"c1", b"\x00" * 170_000), Msg(0, 2, b"k" * 2_000_000, b"[" * 1_500_000),
                      Msg(1, 3, None, None), Msg(2, 4, control.CONTROL_KEY, b"\x00" * 3_000_000)]))
    assert len(sinks.dead) == 4 and max(raw_sizes) < PRODUCER_LIMIT // 2
    assert all(d["reason"] for d in sinks.dead)


@pytest.mark.parametrize("exc, retry", [
    (RedisConnectionError("down"), True),
    (ConnectionResetError(), True),
    (KafkaConnectionError(), True),
    (KafkaTimeoutError(), True),
    (NotLeaderForPartitionError(), True),
    (MessageSizeTooLargeError(), False),
    (RecordTooLargeError(), False),
])
def test_only_server_faults_are_retried(exc, retry):
    assert server_fault(exc) is retry
    wrapped = ProducerSendError(f"Error while sending: {exc!r}")
    wrapped.__cause__ = exc
    if isinstance(exc, (KafkaConnectionError, KafkaTimeoutError, NotLeaderForPartitionError,
                        MessageSizeTooLargeError, RecordTooLargeError)):
        assert server_fault(wrapped) is retry  # as Faust's producer raises it


def test_a_customer_that_cannot_be_scored_is_folded_again_without_the_record_to_blame(monkeypatch):
    """Scoring fails (here: made to fail) once a poisoned order is in the state: within one batch, only that
    record becomes a dead letter; the customer's events before and after it are kept."""
    real = Processor._score

    def score(self, p, *args, **kwargs):
        if "poison" in p.stored.state.orders:
            raise OverflowError("cannot format")
        return real(self, p, *args, **kwargs)

    monkeypatch.setattr(Processor, "_score", score)
    evs = sample_events(30)
    cid = evs[3].customer_id
    t = evs[-1].occurred_us
    extra = [OrderEvent("order", cid, t + 1, "before", 500), OrderEvent("order", cid, t + 2, "poison", 700),
             OrderEvent("order", cid, t + 3, "after", 900)]
    sinks = TwinSinks()
    proc = Processor(DictTable(), sinks, SegmentMap.load(), "orders", partitions=PARTITIONS)
    run(drive(proc, sinks, to_msgs(evs + extra), 1000, {p: 10_000 for p in range(PARTITIONS)}))
    assert len(sinks.dead) == 1 and "OverflowError: cannot format" in sinks.dead[0]["reason"]
    assert "poison" in sinks.dead[0]["value"]
    assert_equals_batch(evs + [extra[0], extra[2]], sinks)


def test_repeated_controls_of_a_version_already_rescored_do_not_rescan_the_partition():
    """A flood of valid-looking controls (forged, or a new leader's resends) costs one Redis read each."""
    evs, sinks, proc, nxt = replayed()
    scans = []
    items = proc.table.partition_items
    proc.table.partition_items = lambda partition: scans.append(partition) or items(partition)
    before = profiles_of(sinks)
    for _ in range(5):
        run(proc.process(controls(nxt, control.encode_rescore(1))))
    assert scans == [] and proc.counters.controls == 6 * PARTITIONS and profiles_of(sinks) == before
    proc.reassigned()  # after a rebalance: every partition's last drained rescore is this version, nothing to do
    run(proc.process(controls(nxt, control.encode_rescore(1))))
    assert scans == [] and proc.counters.takeover_rescores == PARTITIONS
    proc.reassigned()
    sinks.rescored.clear()  # no rescore recorded: the next control rescans, and compares with Redis
    run(proc.process(controls(nxt, control.encode_rescore(1))))
    assert sorted(scans) == list(range(PARTITIONS))
