"""format_us: the text of a time, whatever day and minute it falls on (its date and clock come from caches)."""

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from stream_app.core.timeutil import format_us, parse_rfc3339

FIRST = datetime(1, 1, 2, tzinfo=timezone.utc)
LAST = datetime(9999, 12, 30, tzinfo=timezone.utc)


def reference(us: int) -> str:
    """The same text built from a datetime of the whole instant."""
    dt = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)
    text = f"{dt.year:04d}-{dt:%m-%dT%H:%M:%S}"
    return f"{text}.{dt.microsecond:06d}Z" if dt.microsecond else f"{text}Z"


@given(st.datetimes(min_value=FIRST.replace(tzinfo=None), max_value=LAST.replace(tzinfo=None)))
def test_format_us_writes_the_instant_and_reads_back(dt):
    us = (dt.replace(tzinfo=timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    text = format_us(us)
    assert text == reference(us)
    assert parse_rfc3339(text) == us


def test_format_us_at_day_edges_and_before_the_epoch():
    day = 86_400_000_000
    assert format_us(0) == "1970-01-01T00:00:00Z"
    assert format_us(-1) == "1969-12-31T23:59:59.999999Z"
    assert format_us(day - 1) == "1970-01-01T23:59:59.999999Z"
    assert format_us(day) == "1970-01-02T00:00:00Z"
    assert format_us(parse_rfc3339("0999-03-01T12:00:00Z")) == "0999-03-01T12:00:00Z"  # a padded year
