"""Turning untrusted JSON into an OrderEvent, or a BadEvent that says why.

The JSON Schema in schemas/order_event.schema.json is the contract; it is
compiled once with fastjsonschema (a tested, ~10x faster validator than a
generic one, which matters at thousands of events per second). Checks the
schema cannot express - a date in the future or before 1900, first order after
last order - follow it. Every reason is one line naming the field, for the
dead-letter topic and for batch error messages.

Files are checked column-wise for speed (adapters/frame.py), against
:func:`limits`, the same schema read as numbers and patterns, and the reason
of a refused row is then asked of :func:`parse` itself: a file refuses exactly
what the worker refuses, for the same reason.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import fastjsonschema
import orjson

from stream_app.core.model import SNAPSHOT, OrderEvent
from stream_app.core.money import to_cents
from stream_app.core.timeutil import parse_rfc3339
from stream_app.errors import BadEvent

#: the schemas ship inside the package (stream_app/schemas; the top-level schemas/ of a checkout links
#: there), read as package resources so that an installed wheel finds them wherever it lives
SCHEMA_DIR = resources.files("stream_app") / "schemas"
ORDER_EVENT_SCHEMA = SCHEMA_DIR / "order_event.schema.json"

#: events more than this far ahead of the clock are refused (clock skew allowance)
FUTURE_TOLERANCE_US = 24 * 3600 * 1_000_000
#: no date before this: no retailer has orders from then, and it keeps every time
#: formattable as a four-digit year whatever its offset (year 1 at +01:00 is year 0)
EARLIEST = "1900-01-01T00:00:00Z"
EARLIEST_US = parse_rfc3339(EARLIEST)


def load_schema(name: str) -> dict:
    """A schema of schemas/ by file name."""
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def customer_id_pattern() -> str:
    """The schema's customer_id pattern, for adapters that check ids column-wise."""
    return load_schema(ORDER_EVENT_SCHEMA.name)["properties"]["customer_id"]["pattern"]


@dataclass(frozen=True)
class Limits:
    """The order-event contract as numbers and patterns, for checks over whole columns.

    Read from the schema the validator compiles (not a copy of it), plus the
    rules the schema cannot express; amounts in integer cents.
    """

    amount_cents: tuple[int, int]
    monetary_cents: tuple[int, int]
    orders: tuple[int, int]
    customer_id: re.Pattern
    order_id_length: tuple[int, int]
    currency: re.Pattern
    text_length: dict[str, int]
    categories_items: int
    category_length: tuple[int, int]
    earliest_us: int = EARLIEST_US
    future_tolerance_us: int = FUTURE_TOLERANCE_US


@lru_cache(maxsize=None)
def limits() -> Limits:
    """:class:`Limits` of the order-event schema (patterns are matched whole, as the validator does)."""
    props = load_schema(ORDER_EVENT_SCHEMA.name)["properties"]

    def bounds(name: str, scale: int = 1) -> tuple[int, int]:
        return int(props[name]["minimum"] * scale), int(props[name]["maximum"] * scale)

    item = props["categories"]["items"]
    return Limits(
        amount_cents=bounds("amount", 100),
        monetary_cents=bounds("monetary", 100),
        orders=bounds("orders"),
        customer_id=re.compile(props["customer_id"]["pattern"]),
        order_id_length=(props["order_id"]["minLength"], props["order_id"]["maxLength"]),
        currency=re.compile(props["currency"]["pattern"]),
        text_length={k: props[k]["maxLength"] for k in ("channel", "country")},
        categories_items=props["categories"]["maxItems"],
        category_length=(item["minLength"], item["maxLength"]),
    )


@lru_cache(maxsize=None)
def _order_validator():
    return fastjsonschema.compile(load_schema(ORDER_EVENT_SCHEMA.name))


def decode(raw: bytes | str) -> OrderEvent:
    """Bytes off the wire -> a valid OrderEvent, or BadEvent('malformed JSON ...')."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadEvent(f"malformed JSON: {exc}") from None
    return parse(obj)


def parse(obj: object, now_us: int | None = None) -> OrderEvent:
    """A decoded JSON value -> OrderEvent, checked against the schema and common sense."""
    if not isinstance(obj, dict):
        raise BadEvent(f"an event must be a JSON object, not {type(obj).__name__}")
    try:
        _order_validator()(obj)
    except fastjsonschema.JsonSchemaValueException as exc:
        field = exc.name[5:] if exc.name and exc.name.startswith("data.") else None
        raise BadEvent(exc.message.replace("data.", "", 1) if field else exc.message, field) from None
    occurred = _time(obj, "occurred_at")
    limit = (now_us if now_us is not None else int(time.time() * 1_000_000)) + FUTURE_TOLERANCE_US
    if occurred > limit:
        raise BadEvent("is in the future", "occurred_at")
    if occurred < EARLIEST_US:
        raise BadEvent(f"is before {EARLIEST}", "occurred_at")
    categories = tuple(obj.get("categories") or ())
    common = dict(
        customer_id=obj["customer_id"],
        occurred_us=occurred,
        currency=obj.get("currency"),
        channel=obj.get("channel"),
        country=obj.get("country"),
        categories=categories,
    )
    if obj["type"] == SNAPSHOT:
        first, last = _time(obj, "first_order_at"), _time(obj, "last_order_at")
        if first < EARLIEST_US:
            raise BadEvent(f"is before {EARLIEST}", "first_order_at")
        if first > last:
            raise BadEvent("is after last_order_at", "first_order_at")
        if last > occurred:
            raise BadEvent("is after occurred_at (a snapshot cannot know a later order)", "last_order_at")
        return OrderEvent(
            type=SNAPSHOT,
            orders=obj["orders"],
            monetary_cents=_cents(obj, "monetary"),
            first_order_us=first,
            last_order_us=last,
            **common,
        )
    return OrderEvent(type=obj["type"], order_id=obj["order_id"], amount_cents=_cents(obj, "amount"), **common)


def _cents(obj: dict, field: str) -> int:
    """The schema has bounded the number; NaN (possible from a CSV cell) passes a bound, so refuse it here."""
    try:
        return to_cents(obj[field])
    except ValueError as exc:
        raise BadEvent(str(exc), field) from None


def _time(obj: dict, field: str) -> int:
    try:
        return parse_rfc3339(obj[field])
    except ValueError as exc:
        raise BadEvent(f"not a valid date-time: {exc}", field) from None
