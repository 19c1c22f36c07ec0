"""The column-wise contract check of files agrees with the worker's validator, event for event.

Files are checked with :func:`contract_violations` (fast, over columns) and
the topic with :func:`parse`; both read the same schema. Random events at and
around every limit must get the same verdict from both, so a file refuses
exactly what the worker dead-letters, and what `events` writes reads back.
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_app.adapters.frame import contract_violations, events_to_frame
from stream_app.core.model import OrderEvent
from stream_app.core.validate import EARLIEST_US, FUTURE_TOLERANCE_US, decode, limits, parse
from stream_app.errors import BadEvent, BadInput

NOW = 1_700_000_000_000_000
YEAR_1 = -62_135_596_800_000_000
YEAR_9999 = 253_402_300_799_000_000
LIMIT = limits().amount_cents[1]

times = st.sampled_from([EARLIEST_US - 1, EARLIEST_US, NOW + FUTURE_TOLERANCE_US, NOW + FUTURE_TOLERANCE_US + 1,
                         1_293_840_000_000_000, YEAR_1, YEAR_9999]) | st.integers(EARLIEST_US - 10**12, NOW + 10**12)
cents = st.sampled_from([0, 1, -1, LIMIT, LIMIT + 1, -LIMIT, -LIMIT - 1]) | st.integers(-2 * LIMIT, 2 * LIMIT)
short_text = st.sampled_from([None, "web", "x" * 64, "x" * 65, ""])
events = st.builds(
    OrderEvent,
    type=st.sampled_from(["order", "return", "snapshot"]),
    customer_id=st.sampled_from(["17850", "a" * 64, "a" * 65, "\u0661\u0662", "\uff11", "ab\n", "-a", "a b",
                                 "A.b:c@d-e_f", ""]),
    occurred_us=times,
    order_id=st.sampled_from([None, "", "536365", "x" * 128, "x" * 129]),
    amount_cents=cents,
    currency=st.sampled_from([None, "GBP", "gbp", "GBPX"]),
    channel=short_text,
    country=short_text,
    categories=st.sampled_from([(), ("KADIN",), ("",), ("x" * 64,), ("x" * 65,), ("a",) * 64, ("a",) * 65]),
    orders=st.sampled_from([-1, 0, 1, 10_000_000, 10_000_001]),
    monetary_cents=cents,
    first_order_us=times,
    last_order_us=times,
)


def as_sent(event: OrderEvent) -> OrderEvent:
    """The event as a topic carries it (``OrderEvent.to_json``): a snapshot has no order fields, an order or
    return no snapshot fields, so those take their defaults."""
    fields = {f: getattr(event, f) for f in event.__slots__}
    if event.type == "snapshot":
        return OrderEvent(**{**fields, "order_id": None, "amount_cents": 0})
    return OrderEvent(**{**fields, "orders": 0, "monetary_cents": 0, "first_order_us": None, "last_order_us": None})


def worker_accepts(event: OrderEvent) -> bool:
    try:
        parse(event.to_json(), NOW)
        return True
    except BadEvent:
        return False


@settings(max_examples=600, deadline=None)
@given(event=events)
def test_column_check_agrees_with_the_worker(event):
    event = as_sent(event)
    frame = events_to_frame([event])
    assert (not contract_violations(frame.df, NOW)[0]) == worker_accepts(event), event


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(events, min_size=1, max_size=8))
def test_a_checked_frame_is_what_the_topic_accepts_and_events_reads_back(batch):
    batch = [as_sent(e) for e in batch]
    frame = events_to_frame(batch, "f.jsonl")
    try:
        frame.check(NOW)
    except BadInput as exc:
        first_bad = next(i for i, e in enumerate(batch) if not worker_accepts(e))
        assert exc.line == first_bad + 2
        return
    for event in frame.events():  # what `events` writes is one line of orjson per event
        assert decode(orjson.dumps(event.to_json())) == event


def test_limits_are_the_schemas():
    lim = limits()
    assert lim.amount_cents == (-10**11, 10**11) and lim.orders == (0, 10_000_000)
    assert lim.category_length == (1, 64) and lim.categories_items == 64


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z"])
def test_dates_before_1900_are_refused_not_formatted(when):
    with pytest.raises(BadEvent, match="is before 1900-01-01T00:00:00Z"):
        parse({"type": "order", "customer_id": "1", "occurred_at": when, "order_id": "1", "amount": 1})


def test_nan_amount_is_a_reason_not_a_crash():
    with pytest.raises(BadEvent, match="not a finite number"):
        parse({"type": "order", "customer_id": "1", "occurred_at": "2011-01-01T00:00:00Z", "order_id": "1",
               "amount": float("nan")})
