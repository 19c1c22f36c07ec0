"""The live state of a running deployment: every customer profile hash in Redis, as a scored frame.

The worker keeps one hash per customer at ``{prefix}:customer:{id}`` with the
fields segment, r_score, f_score, m_score, aov_score, rfm_score, rfm_sum,
value_band, frequency, monetary, aov, last_order_at (and channel, categories
when known). They are read with SCAN and pipelined HGETALL (never KEYS, which
blocks the server) into the frame shape :func:`stream_app.batch.score`
returns, so the report and the audience rules do not care where a profile
came from. Recency is measured to the latest ``last_order_at`` of the whole
population, the moment the profiles describe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from stream_app.audiences.rules import parse_categories
from stream_app.core.money import aov_cents, format_cents, to_cents
from stream_app.core.segments import value_band
from stream_app.core.timeutil import US_PER_DAY, parse_rfc3339, to_us
from stream_app.errors import BadInput, StackError
from stream_app.redis.keys import customer_head, customer_pattern

BATCH = 1000
REQUIRED = ("segment", "r_score", "f_score", "m_score", "frequency", "monetary", "last_order_at")


def read_profiles(url: str, prefix: str, client=None) -> pd.DataFrame:
    """Every scored profile under ``{prefix}:customer:``, one row per customer, sorted by customer_id."""
    import redis

    from stream_app import connect

    own = client is None
    if own:
        client = connect.redis_client(url)
    try:
        with connect.redis_errors(url):
            hashes = dict(_scan_hashes(client, prefix))
    except redis.RedisError as exc:
        raise StackError(f"Redis at {connect.mask_url(url)} cannot be read: {exc}") from None
    finally:
        if own:
            client.close()
    if not hashes:
        raise BadInput(f"no customer profiles under {customer_pattern(prefix)!r}", source=connect.mask_url(url))
    return profiles_frame(hashes)


def _scan_hashes(client, prefix: str) -> Iterable[tuple[str, dict[str, str]]]:
    head = customer_head(prefix).encode()
    batch: list[bytes] = []

    def flush() -> Iterable[tuple[str, dict[str, str]]]:
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.hgetall(key)
        for key, fields in zip(batch, pipe.execute(raise_on_error=False)):
            if isinstance(fields, dict) and fields:  # another type of key under the prefix: not a profile
                yield key[len(head):].decode(), {_text(k): _text(v) for k, v in fields.items()}
        batch.clear()

    for key in client.scan_iter(match=customer_pattern(prefix), count=BATCH):
        batch.append(key if isinstance(key, bytes) else key.encode())
        if len(batch) >= BATCH:
            yield from flush()
    if batch:
        yield from flush()


def profiles_frame(hashes: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """Profile hashes (customer id -> decoded fields) as a scored frame; hashes without scores are left out.

    A hash that cannot be a profile (a score outside 1-5, money or a time that
    does not parse, a number beyond int64: anything another program or an old
    version wrote under the prefix) is left out too, and counted in
    ``frame.attrs["unreadable"]``: one bad key must not stop the report.
    """
    rows = []
    unreadable = 0
    for cid, h in hashes.items():
        if any(not h.get(f) for f in REQUIRED):
            continue  # a customer with returns only, or a hash being written: not scored
        try:
            rows.append(_profile_row(cid, h))
        except (ValueError, ArithmeticError, TypeError):
            unreadable += 1
    df = _frame(rows)
    df.attrs["unreadable"] = unreadable
    return df


def _within(value: int, lo: int, hi: int) -> int:
    if not lo <= value <= hi:
        raise ValueError(f"{value} is outside {lo}..{hi}")
    return value


def _int(text: str, lo: int, hi: int) -> int:
    return _within(int(text), lo, hi)


#: bounds of what a worker writes, kept so that differences and sums of the frame stay within int64
_MAX_CENTS = 10**17
_MAX_COUNT = 2**53
_US_RANGE = (to_us(datetime(1, 1, 1, tzinfo=timezone.utc)) - US_PER_DAY,
             to_us(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)))


def _profile_row(cid: str, h: Mapping[str, str]) -> dict:
    """One hash as a frame row; ValueError when a field cannot be what the worker writes."""
    freq = _int(h["frequency"], 0, _MAX_COUNT)
    cents = _within(to_cents(h["monetary"]), -_MAX_CENTS, _MAX_CENTS)
    avg = _within(to_cents(h["aov"]), -_MAX_CENTS, _MAX_CENTS) if h.get("aov") else aov_cents(cents, freq)
    r, f, m = (_int(h[k], 1, 5) for k in ("r_score", "f_score", "m_score"))
    total = _int(h["rfm_sum"], 3, 15) if h.get("rfm_sum") else r + f + m
    return {
        "customer_id": h.get("customer_id") or cid,
        "frequency": freq,
        "monetary_cents": cents,
        "aov_cents": avg,
        "last_order_us": _within(_time_us(h["last_order_at"]), *_US_RANGE),
        "r_score": r, "f_score": f, "m_score": m,
        "aov_score": _int(h["aov_score"], 1, 5) if h.get("aov_score") else pd.NA,
        "rfm_score": h.get("rfm_score") or f"{r}{f}{m}",
        "rfm_sum": total,
        "value_band": h.get("value_band") or value_band(total),
        "segment": h["segment"],
        "channel": h.get("channel") or None,
        "categories": tuple(sorted(parse_categories(h.get("categories")))),
    }


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["customer_id", "frequency", "monetary_cents", "aov_cents", "last_order_us",
                                     "r_score", "f_score", "m_score", "aov_score", "rfm_score", "rfm_sum",
                                     "value_band", "segment", "channel", "categories"])
    for col in ("frequency", "monetary_cents", "aov_cents", "last_order_us", "rfm_sum"):
        df[col] = df[col].astype(np.int64)
    for col in ("r_score", "f_score", "m_score"):
        df[col] = df[col].astype(np.int8)
    df["aov_score"] = df["aov_score"].astype("Int8")
    as_of = int(df["last_order_us"].max()) if len(df) else 0
    df["recency_days"] = (as_of - df["last_order_us"]) // US_PER_DAY
    df["monetary"] = [format_cents(int(c)) for c in df["monetary_cents"]]
    df["aov"] = [format_cents(int(c)) for c in df["aov_cents"]]
    return df.sort_values("customer_id", kind="stable").reset_index(drop=True)


def _time_us(text: str) -> int:
    """RFC 3339, or integer epoch microseconds."""
    t = text.strip()
    return int(t) if t.lstrip("-").isdigit() else parse_rfc3339(t)


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v
