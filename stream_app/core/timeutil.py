"""Event times as integer microseconds since the epoch, UTC: exact, hashable, cheap to compare."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

US_PER_DAY = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def parse_rfc3339(text: str) -> int:
    """RFC 3339 with an offset or Z (as the order-event schema requires) -> epoch microseconds."""
    if not isinstance(text, str):
        raise ValueError(f"not a timestamp string: {text!r}")
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    if len(s) < 11 or s[10] not in "Tt ":
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        raise ValueError(f"date-time without an offset: {text!r}")
    return to_us(dt)


def to_us(dt: datetime) -> int:
    """A timezone-aware datetime as epoch microseconds."""
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@lru_cache(maxsize=1024)
def format_us(us: int) -> str:
    """Epoch microseconds as RFC 3339 UTC with Z, seconds precision unless finer is needed.

    Built from cached texts (the date of a day, the hour and minute of a minute of the day) and a table
    of seconds: a changed customer's profile and events carry three times, and building a datetime for
    each was a tenth of a rescore's Python time; formatting hours, minutes and seconds was still 4 us a
    time. Two of the three repeat across a flush's customers (its ``updated_at``, and a rescore's
    ``occurred_at``, the boundaries' time), so the texts are memoised too.
    """
    seconds, frac = divmod(us, 1_000_000)
    day, second = divmod(seconds, 86_400)
    minute, second = divmod(second, 60)
    base = _date_text(day) + _minute_text(minute) + _SECONDS[second]
    return f"{base}.{frac:06d}Z" if frac else base + "Z"


@lru_cache(maxsize=4096)
def _date_text(day: int) -> str:
    """The UTC date of a day number since the epoch, as YYYY-MM-DD."""
    dt = datetime.fromtimestamp(day * 86_400, tz=timezone.utc)
    return f"{dt.year:04d}-{dt:%m-%d}"  # %Y does not pad years before 1000 on every libc


@lru_cache(maxsize=None)  # 1,440 minutes in a day
def _minute_text(minute_of_day: int) -> str:
    return "T%02d:%02d:" % divmod(minute_of_day, 60)


_SECONDS = tuple(f"{s:02d}" for s in range(60))


def recency_days(last_order_us: int, as_of_us: int) -> int:
    """Whole days from the last order to the as-of time (floor)."""
    return (as_of_us - last_order_us) // US_PER_DAY
