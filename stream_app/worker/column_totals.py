"""The totals of a bulk load's plain customers, taken from the frame's columns instead of from their states.

A bootstrap ranks every customer before it can cut the boundaries, and `CustomerState.totals` walked each
state's facts once more for it: 5.4 s of the 30 s a 10M-event fold took, for 1M customers whose facts the
fold had just laid out in columns. For a plain customer (orders and returns only, each order id once, no
snapshot, no categories: :func:`stream_app.worker.bootstrap.fold_frame`) the totals are sums, minima and
maxima over its rows, so they are taken per customer at column speed here. The one rule that is not a
reduction, the channel of the latest order that has one (by time, then order id), is one too except where
a customer's latest such orders share their time; those few are settled in Python, by order id, as the
fold's loop settles them. tests/unit/worker/test_bootstrap_fold.py holds the result equal to ``totals()``.
"""

from __future__ import annotations

import numpy as np

from stream_app.core.model import Totals

_EARLIEST = np.iinfo(np.int64).min
_LATEST = np.iinfo(np.int64).max


def plain_totals(customers: list[str], counts: np.ndarray, is_order: np.ndarray, occurred_us: np.ndarray,
                 cents: np.ndarray, channels: np.ndarray, order_ids: list[str]) -> dict[str, Totals]:
    """Each plain customer's totals. Its rows are consecutive, ``counts[i]`` of them for ``customers[i]``,
    orders and returns alike (``is_order`` tells them apart); every customer has at least one row."""
    if not customers:
        return {}
    starts = np.zeros(len(customers), np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    frequency = np.add.reduceat(is_order.astype(np.int64), starts)
    monetary = np.add.reduceat(cents, starts)  # int64: exact, returns (negative) included
    first = np.minimum.reduceat(np.where(is_order, occurred_us, _LATEST), starts)
    last = np.maximum.reduceat(np.where(is_order, occurred_us, _EARLIEST), starts)
    channel = _latest_channels(starts, counts, is_order, occurred_us, channels, order_ids)
    out: dict[str, Totals] = {}
    for cid, f, m, lo, hi, ch in zip(customers, frequency.tolist(), monetary.tolist(), first.tolist(),
                                     last.tolist(), channel):
        out[cid] = Totals(f, m, lo if f else None, hi if f else None, ch, ())
    return out


def _latest_channels(starts: np.ndarray, counts: np.ndarray, is_order: np.ndarray, occurred_us: np.ndarray,
                     channels: np.ndarray, order_ids: list[str]) -> list[str | None]:
    """Per customer, the channel of its latest order that has one, by (time, order id); None: no such order."""
    has = is_order & np.not_equal(channels, None)  # `is not None`, as totals() asks (pd.notna would drop NaN too)
    times = np.where(has, occurred_us, _EARLIEST)
    latest = np.maximum.reduceat(times, starts)
    group = np.repeat(np.arange(len(starts)), counts)
    at_latest = np.flatnonzero(has & (times == latest[group]))  # ascending: grouped by customer
    out: list[str | None] = [None] * len(starts)
    owner, best = -1, -1
    for who, row in zip(group[at_latest].tolist(), at_latest.tolist()):
        if who != owner:  # the customer's first order at its latest time
            owner, best = who, row
        elif order_ids[row] > order_ids[best]:  # the same time: the larger order id is the later
            best = row
        else:
            continue
        out[who] = channels[row]
    return out
