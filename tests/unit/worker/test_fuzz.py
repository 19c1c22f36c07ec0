"""Fuzzing the event path: arbitrary bytes and JSON near the schema never raise out of the processor.

Every record either becomes a dead letter with a reason (bounded, valid against
schemas/dead_letter.schema.json) or is a valid event folded into its customer's
stored state (or a control record naming a published version). The fakes are
those of test_worker_processor.py.
"""

from __future__ import annotations

import json

import fastjsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_app.kafka.partitioner import partition_of
from stream_app.core.fold import apply
from stream_app.core.segments import SegmentMap
from stream_app.core.validate import decode, load_schema
from stream_app.core import stored as codec
from stream_app.worker import control
from stream_app.worker.messages import Msg
from stream_app.worker.processor import Processor
from tests.unit.worker.test_processor import PARTITIONS, DictTable, TwinSinks, drive, run, sample_events, to_msgs

CUSTOMERS = ["000", "001", "002", "c1", "x" * 64]
FIELDS = ["type", "customer_id", "occurred_at", "order_id", "amount", "currency", "channel", "country",
          "categories", "orders", "monetary", "first_order_at", "last_order_at"]
DATES = ["2020-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00-23:59",
         "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59.999999999Z", "2020-02-30T00:00:00Z",
         "1970-01-01T00:00:00+00:00", "2021-06-01 12:00:00+02:00", "2020-01-01T24:00:00Z", "2020-01-01T00:00:00"]
LETTERS = fastjsonschema.compile(load_schema("dead_letter.schema.json"))



def dumps(value) -> bytes:
    """The standard library's JSON: unlike orjson it writes integers beyond 64 bits (and Infinity)."""
    return json.dumps(value).encode()


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
    st.sampled_from(DATES), st.sampled_from([1e9, -1e9, 1e308, 5e-324, 2**63, -(2**63), 0.005, 0.015]),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


@st.composite
def near_schema(draw) -> tuple[bytes | None, bytes]:
    """A valid-looking event with a few fields changed, dropped or added; keyed by its customer mostly."""
    cid = draw(st.sampled_from(CUSTOMERS))
    kind = draw(st.sampled_from(["order", "return", "snapshot"]))
    ev: dict = {"type": kind, "customer_id": cid, "occurred_at": draw(st.sampled_from(DATES[:1] + DATES))}
    if kind == "snapshot":
        ev.update(orders=draw(st.integers(0, 20)), monetary=draw(st.floats(-1e9, 1e9)),
                  first_order_at=draw(st.sampled_from(DATES)), last_order_at=draw(st.sampled_from(DATES)))
    else:
        amount = draw(st.floats(0, 1e9)) * (1 if kind == "order" else -1)
        ev.update(order_id=draw(st.text(min_size=1, max_size=8)), amount=amount)
    if draw(st.booleans()):
        ev["categories"] = draw(st.lists(st.text(min_size=1, max_size=64), max_size=70))
    if draw(st.booleans()):
        ev["channel"] = draw(st.text(max_size=70))
    changes = draw(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), json_values, max_size=3))
    for name, value in changes.items():
        ev[name] = value
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=2)):
        ev.pop(name, None)
    key = draw(st.one_of(st.just(cid.encode()), st.just(cid.encode()), st.binary(max_size=8), st.none()))
    return key, dumps(ev)


control_records = st.tuples(st.just(control.CONTROL_KEY), st.one_of(
    st.binary(max_size=60),
    st.fixed_dictionaries({"control": st.sampled_from(["rescore", "other"]), "version": json_scalars}).map(dumps),
    st.integers(-3, 3).map(control.encode_rescore)))
records = st.one_of(
    near_schema(),
    st.tuples(st.one_of(st.none(), st.binary(max_size=70), st.sampled_from([c.encode() for c in CUSTOMERS])),
              st.one_of(st.none(), st.binary(max_size=300))),
    st.tuples(st.sampled_from([c.encode() for c in CUSTOMERS]), json_values.map(dumps)),
    control_records,
)


def warmed_up() -> tuple[Processor, TwinSinks, DictTable, dict[int, int]]:
    """A processor that has scored a few customers and rescored to boundaries v1."""
    sinks, table = TwinSinks(), DictTable()
    proc = Processor(table, sinks, SegmentMap.load(), "orders", now_us=lambda: 1_700_000_000_000_000)
    msgs = to_msgs(sample_events(6))
    nxt = {p: 1 + max((m.offset for m in msgs if m.partition == p), default=0) for p in range(PARTITIONS)}
    run(drive(proc, sinks, msgs, 100, nxt))
    return proc, sinks, table, nxt


def accepted(key: bytes | None, value: bytes | None) -> bool:
    """Whether a record not dead-lettered is really a valid event keyed by its customer."""
    if control.is_control(key):
        return control.parse(value).version <= 1
    ev = decode(value or b"")
    return key == ev.customer_id.encode()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(records, min_size=1, max_size=25), st.integers(1, 25))
def test_no_record_raises_out_of_the_processor_and_every_refusal_has_a_reason(recs, batch):
    proc, sinks, table, nxt = warmed_up()
    dead_before = len(sinks.dead)
    msgs = []
    for key, value in recs:
        p = partition_of(key, PARTITIONS) if key else 0
        msgs.append(Msg(p, nxt[p], key, value))
        nxt[p] += 1
    for i in range(0, len(msgs), batch):
        run(proc.process(msgs[i : i + batch]))  # must not raise
    letters = sinks.dead[dead_before:]
    refused = {(d["partition"], d["offset"]) for d in letters}
    assert len(refused) == len(letters), "one dead letter per refused record"
    for d in letters:
        LETTERS(d)
        assert d["reason"].strip()
    for m in msgs:
        if (m.partition, m.offset) in refused:
            continue
        assert accepted(m.key, m.value), f"record {m} was neither refused nor valid"
        if not control.is_control(m.key):
            stored = codec.decode(m.key.decode(), table.data[m.key])
            if stored.last_offset < m.offset:  # a batch of duplicates only writes nothing
                assert not apply(stored.state, decode(m.value))[1], "a valid event was not folded"
