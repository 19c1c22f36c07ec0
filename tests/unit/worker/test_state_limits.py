"""A customer's stored state is bounded: digests for long order ids, at most MAX_FACTS orders and returns,
at most MAX_CATEGORIES categories; the batch job applies the same rules, and the worst case at the limit
still fits the producer's 1 MB record limit."""

from __future__ import annotations

import random

import orjson
import pytest

from stream_app.kafka.partitioner import partition_of
from stream_app import batch
from stream_app.adapters.frame import events_to_frame
from stream_app.core.fold import MAX_CATEGORIES, MAX_FACTS, ORDER_KEY_CHARS, CustomerState, apply, fold, order_key
from stream_app.core.model import OrderEvent
from stream_app.core.segments import SegmentMap
from stream_app.errors import BadEvent, BadInput
from stream_app.core import stored as codec
from stream_app.core.stored import Stored
from stream_app.worker.messages import Msg
from stream_app.worker.processor import Processor
from tests.unit.worker.test_processor import PARTITIONS, DictTable, TwinSinks, run

PRODUCER_LIMIT = 1_000_000
T0 = 1_600_000_000_000_000


def worst_order(cid: str, i: int, typ: str = "order") -> OrderEvent:
    """An order as large as the schema allows where the state keeps it: 128-character id, 64-character channel."""
    return OrderEvent(typ, cid, T0 + i, f"{i:0128d}", 99_999_999_999 if typ == "order" else -99_999_999_999,
                      channel=f"{i:064d}")


def test_short_order_ids_are_kept_and_long_ones_become_fixed_size_digests():
    assert order_key("536365") == "536365"
    assert order_key("x" * ORDER_KEY_CHARS) == "x" * ORDER_KEY_CHARS
    long_keys = {order_key(f"{i:0128d}") for i in range(1000)}
    assert len(long_keys) == 1000 and {len(k) for k in long_keys} == {ORDER_KEY_CHARS + 1}


def test_a_customer_at_the_fact_limit_fits_one_changelog_record_and_refuses_one_more():
    state = CustomerState("c" * 64)
    for i in range(MAX_FACTS):
        apply(state, worst_order(state.customer_id, i, "order" if i % 2 else "return"))
    for i in range(MAX_CATEGORIES * 2):
        o = worst_order(state.customer_id, 1)  # an order it holds, bringing a new category
        apply(state, OrderEvent(o.type, o.customer_id, o.occurred_us, o.order_id, o.amount_cents, channel=o.channel,
                                categories=(f"{i:064d}",)))
    assert len(state.orders) + len(state.returns) == MAX_FACTS and len(state.categories) == MAX_CATEGORIES
    stored = Stored(state, last_offset=2**62, boundaries_version=2**40, segment="x" * 64, ranks=(1, 2, 3, 4),
                    audiences=tuple(f"audience-{i:055d}" for i in range(50)), rules_fp="f" * 64)
    size = len(codec.encode(stored))
    assert size < PRODUCER_LIMIT * 0.9, size
    before = codec.encode(stored)
    with pytest.raises(BadEvent) as err:
        apply(state, worst_order(state.customer_id, MAX_FACTS + 1))
    assert err.value.field == "order_id" and str(MAX_FACTS) in err.value.reason
    assert codec.encode(stored) == before  # refused without a change
    # an order id it already holds may still be corrected (the smaller fact wins), at the limit
    _, changed = apply(state, OrderEvent("order", state.customer_id, T0 - 1, f"{1:0128d}", 5))
    assert changed


def test_categories_keep_the_first_in_string_order_whatever_the_arrival_order():
    cats = [f"cat{i:03d}" for i in range(150)]
    events = [OrderEvent("order", "c", T0 + i, str(i), 100, categories=tuple(cats[i * 10 : i * 10 + 10]))
              for i in range(15)]
    shuffled = events[:]
    random.Random(4).shuffle(shuffled)
    expected = tuple(sorted(cats)[:MAX_CATEGORIES])
    assert fold(events)["c"].totals().categories == fold(shuffled)["c"].totals().categories == expected
    scored = batch.score(events_to_frame(shuffled)).set_index("customer_id")
    assert tuple(scored.loc["c", "categories"]) == expected


def test_channel_ties_between_long_order_ids_agree_with_batch():
    """Two orders at the same time with channels: the later key wins, keys being what the state holds."""
    for seed in range(20):
        rng = random.Random(seed)
        ids = ["".join(rng.choice("ab") for _ in range(rng.choice([5, 40, 128]))) + str(i) for i in range(4)]
        events = [OrderEvent("order", "c", T0, oid, 100, channel=f"ch{i}") for i, oid in enumerate(ids)]
        got = fold(events)["c"].totals().channel
        scored = batch.score(events_to_frame(events)).set_index("customer_id")
        assert scored.loc["c", "channel"] == got


def test_batch_refuses_a_customer_over_the_fact_limit_as_the_worker_does():
    events = [OrderEvent("order", "c", T0 + i, str(i), 1) for i in range(MAX_FACTS + 1)]
    with pytest.raises(BadInput) as err:
        batch.score(events_to_frame(events[:-1] + [events[-1]]))
    assert "limit" in str(err.value)
    assert len(batch.score(events_to_frame(events[:-1]))) == 1  # at the limit: fine


def test_the_worker_dead_letters_the_event_over_the_limit_and_keeps_the_customer():
    cid = "bulk"
    p = partition_of(cid.encode(), PARTITIONS)
    msgs = [Msg(p, i, cid.encode(), orjson.dumps(worst_order(cid, i).to_json())) for i in range(MAX_FACTS + 3)]
    table, sinks = DictTable(), TwinSinks()
    proc = Processor(table, sinks, SegmentMap.load(), "orders")
    for i in range(0, len(msgs), 1000):
        run(proc.process(msgs[i : i + 1000]))
    assert [d["offset"] for d in sinks.dead] == [MAX_FACTS, MAX_FACTS + 1, MAX_FACTS + 2]
    assert all("limit" in d["reason"] and d["field"] == "order_id" for d in sinks.dead)
    assert sinks.profiles[cid]["frequency"] == str(MAX_FACTS)
    assert len(table.data[cid.encode()]) < PRODUCER_LIMIT * 0.9


def test_a_state_of_the_previous_format_is_read_into_todays_keys():
    long_id = "L" * 100
    old = orjson.dumps([1, {long_id: [T0, 500, None], "s1": [T0, 100, None]}, {}, None,
                        [f"c{i:03d}" for i in range(80)], 2, 7, None, None, 0, None, [], ""])
    stored = codec.decode("c", old)
    assert set(stored.state.orders) == {order_key(long_id), "s1"} and len(stored.state.categories) == MAX_CATEGORIES
    _, changed = apply(stored.state, OrderEvent("order", "c", T0, long_id, 500))
    assert not changed  # the same order, recognised under its new key
    assert codec.decode("c", codec.encode(stored)) == stored
