"""The order-event contract: fixtures, the fast validator against the reference one, bad events."""

import json
from pathlib import Path

import jsonschema
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream_app.core.validate import decode, load_schema, parse
from stream_app.errors import BadEvent

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SCHEMA = load_schema("order_event.schema.json")
REFERENCE = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())


def lines(name):
    return [json.loads(line) for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def test_schema_is_a_valid_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("event", lines("events_valid.jsonl"))
def test_valid_fixtures_pass_both_validators(event):
    REFERENCE.validate(event)
    parsed = parse(event)
    assert parsed.customer_id == event["customer_id"]


@pytest.mark.parametrize("event", lines("events_invalid.jsonl"))
def test_invalid_fixtures_fail_both_validators(event):
    assert not REFERENCE.is_valid(event)
    with pytest.raises(BadEvent) as err:
        parse(event)
    assert err.value.reason


def test_reasons_name_the_field():
    with pytest.raises(BadEvent) as err:
        parse({"type": "order", "customer_id": "1", "occurred_at": "2011-01-04T10:00:00Z", "order_id": "1", "amount": "x"})
    assert err.value.field == "amount"


def test_future_dates_are_refused_with_a_reason():
    with pytest.raises(BadEvent, match="future"):
        parse({"type": "order", "customer_id": "1", "occurred_at": "2999-01-01T00:00:00Z", "order_id": "1", "amount": 1})


def test_snapshot_cannot_know_a_later_order():
    with pytest.raises(BadEvent) as err:
        parse({"type": "snapshot", "customer_id": "1", "occurred_at": "2021-01-01T00:00:00Z", "orders": 1, "monetary": 1,
               "first_order_at": "2020-01-01T00:00:00Z", "last_order_at": "2021-06-01T00:00:00Z"})
    assert err.value.field == "last_order_at"


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"null", b'"order"', b""])
def test_malformed_bytes_are_bad_events_not_crashes(raw):
    with pytest.raises(BadEvent):
        decode(raw)


def test_amounts_are_exact_cents():
    e = parse({"type": "order", "customer_id": "1", "occurred_at": "2011-01-04T10:00:00Z", "order_id": "1", "amount": 0.1})
    assert e.amount_cents == 10
    e = parse({"type": "order", "customer_id": "1", "occurred_at": "2011-01-04T10:00:00Z", "order_id": "1", "amount": 139.12})
    assert e.amount_cents == 13912


json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**13, 10**13) | st.floats(allow_nan=False, allow_infinity=False)
                           | st.text(max_size=12), lambda c: st.lists(c, max_size=3), max_leaves=5)
events = st.fixed_dictionaries(
    {"type": st.sampled_from(["order", "return", "snapshot", "other"])},
    optional={
        "customer_id": st.sampled_from(["17850", "a-b", " x", "", 5]),
        "occurred_at": st.sampled_from(["2011-01-04T10:00:00Z", "2011-01-04", "2011-01-04T10:00:00+01:00", 7]),
        "order_id": st.sampled_from(["1", "", 3]),
        "amount": json_values,
        "orders": json_values,
        "monetary": json_values,
        "first_order_at": st.sampled_from(["2010-01-01T00:00:00Z", "x"]),
        "last_order_at": st.sampled_from(["2011-01-01T00:00:00Z", "x"]),
        "categories": json_values,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_fast_validator_agrees_with_the_reference(event):
    """fastjsonschema (used at run time) accepts exactly what the 2020-12 reference validator accepts."""
    try:
        parse(event, now_us=2**62)
        ours = True
    except BadEvent as exc:
        ours = "is after" in exc.reason  # semantic checks beyond the schema
        if ours:
            return
    assert ours == REFERENCE.is_valid(event), orjson.dumps(event)
