"""Event times as integer microseconds since the epoch, UTC: exact, hashable, cheap to compare."""

from __future__ import annotations

from datetime import datetime, timezone

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


def format_us(us: int) -> str:
    """Epoch microseconds as RFC 3339 UTC with Z, seconds precision unless finer is needed."""
    dt = datetime.fromtimestamp(us // 1_000_000, tz=timezone.utc)
    frac = us % 1_000_000
    base = f"{dt.year:04d}-{dt:%m-%dT%H:%M:%S}"  # %Y does not pad years before 1000 on every libc
    return f"{base}.{frac:06d}Z" if frac else f"{base}Z"


def recency_days(last_order_us: int, as_of_us: int) -> int:
    """Whole days from the last order to the as-of time (floor)."""
    return (as_of_us - last_order_us) // US_PER_DAY
