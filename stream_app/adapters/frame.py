"""The column form of many events: what adapters return and the batch job scores.

One row per canonical event, exact units (integer cents, epoch microseconds).
Converting to and from OrderEvent objects is lossless, which the tests use to
check the vectorised batch job against the event-by-event fold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stream_app.core.model import SNAPSHOT, OrderEvent
from stream_app.core.validate import limits, parse
from stream_app.errors import BadEvent, BadInput

INT_COLUMNS = ("occurred_us", "amount_cents", "orders", "monetary_cents", "first_order_us", "last_order_us")
STR_COLUMNS = ("type", "customer_id", "order_id", "currency", "channel", "country")
COLUMNS = STR_COLUMNS[:3] + INT_COLUMNS + STR_COLUMNS[3:] + ("categories",)
MISSING_TIME = np.iinfo(np.int64).min  # first/last order time of a non-snapshot row


@dataclass
class EventFrame:
    """Events in columns, plus what the adapter skipped and why (never silent loss)."""

    df: pd.DataFrame
    source: str = ""
    skipped: dict[str, int] = field(default_factory=dict)
    #: where each row comes from, for error messages: its data record in the source
    #: (0-based, header excluded; None: the row position), how to turn a record into a
    #: 1-based line (default: record + 2), and the file column each event field is read from
    records: np.ndarray | None = None
    line_of: Callable[[int], int] | None = None
    columns: dict[str, str] = field(default_factory=dict)
    #: every row was already accepted by parse() (the events reader checks each line): check() has nothing to add
    contract_checked: bool = False

    def __len__(self) -> int:
        return len(self.df)

    def events(self) -> Iterator[OrderEvent]:
        """The rows as OrderEvent objects, in frame order."""
        return frame_to_events(self.df)

    def in_time_order(self) -> "EventFrame":
        """Sorted by time, then customer and order id: the order `events` writes and `replay` sends."""
        df = self.df.take(time_order(self.df))
        return EventFrame(df.reset_index(drop=True), self.source, dict(self.skipped))

    def check(self, now_us: int | None = None) -> "EventFrame":
        """Refuse the frame, at its first bad row, if any event breaks the order-event contract.

        The rows are checked column-wise against :func:`limits` (fast); the
        first offending row is then given to :func:`parse`, the worker's own
        validator, whose reason the error carries.
        """
        if self.contract_checked:
            return self
        now_us = now_us if now_us is not None else int(time.time() * 1_000_000)
        bad = contract_violations(self.df, now_us)
        if not bad.any():
            return self
        positions = np.flatnonzero(bad)
        records = self.records[positions] if self.records is not None else positions
        pos, record = int(positions[np.argmin(records)]), int(records.min())
        row = next(frame_to_events(self.df.iloc[[pos]]))
        try:
            parse(row.to_json(), now_us)
            reason, field_name = "breaks the order-event contract", None
        except BadEvent as exc:
            reason, field_name = exc.reason, exc.field
        column = self.columns.get((field_name or "").split("[")[0], field_name)
        line = self.line_of(record) if self.line_of else record + 2
        raise BadInput(reason, source=self.source, line=line, field=column)



def events_to_frame(events: Iterable[OrderEvent], source: str = "") -> EventFrame:
    """OrderEvent objects -> EventFrame."""
    rows = [
        (
            e.type,
            e.customer_id,
            e.order_id,
            e.occurred_us,
            e.amount_cents,
            e.orders,
            e.monetary_cents,
            MISSING_TIME if e.first_order_us is None else e.first_order_us,
            MISSING_TIME if e.last_order_us is None else e.last_order_us,
            e.currency,
            e.channel,
            e.country,
            e.categories,
        )
        for e in events
    ]
    df = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    return EventFrame(normalise(df), source)


def time_order(df: pd.DataFrame) -> np.ndarray:
    """Row positions sorted by time, then customer id and order id (a missing id first), stable.

    What ``df.sort_values(["occurred_us", "customer_id", "order_id"], kind="stable", na_position="first")``
    gives, without pandas factorizing two string columns of every row (7 s at 10M events): the times are
    sorted as integers and only rows sharing a time with another are ordered by their ids.
    """
    times = df["occurred_us"].to_numpy(dtype=np.int64)
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    tied = np.zeros(len(order), bool)
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    tied[same] = tied[same + 1] = True
    if same.size:
        rows = order[tied]  # runs of equal times, each in place; sorting them by (time, ids) keeps the runs
        customers = df["customer_id"].to_numpy(dtype=object)[rows].tolist()
        orders = df["order_id"].to_numpy(dtype=object)[rows].tolist()
        keys = [(t, c is not None, c or "", o is not None, o or "")
                for t, c, o in zip(times[rows].tolist(), customers, orders)]
        order[tied] = rows[sorted(range(len(rows)), key=keys.__getitem__)]
    return order


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Column types every consumer of a frame may rely on."""
    for col in INT_COLUMNS:
        df[col] = df[col].astype(np.int64)
    for col in STR_COLUMNS:
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    if "categories" not in df:
        df["categories"] = [()] * len(df)
    return df[list(COLUMNS)]


def contract_violations(df: pd.DataFrame, now_us: int) -> np.ndarray:
    """Rows that :func:`stream_app.core.validate.parse` would refuse, as a boolean mask.

    Frames hold exact units, so the schema's bounds apply to integer cents;
    a test checks this against parse() on random events.
    """
    lim = limits()
    n = len(df)
    if n == 0:
        return np.zeros(0, bool)
    kind = df["type"].to_numpy(dtype=object)
    snap = kind == SNAPSHOT
    order = kind == "order"
    ret = kind == "return"
    bad = ~(snap | order | ret)

    bad |= _each_distinct(df["customer_id"], lambda v: not (isinstance(v, str) and lim.customer_id.fullmatch(v)))

    occurred = df["occurred_us"].to_numpy()
    bad |= (occurred > now_us + lim.future_tolerance_us) | (occurred < lim.earliest_us)

    fact = ~snap
    amount = df["amount_cents"].to_numpy()
    lo, hi = lim.amount_cents
    bad |= fact & ((amount < lo) | (amount > hi))
    bad |= order & (amount < 0)
    bad |= ret & (amount > 0)
    lo_len, hi_len = lim.order_id_length
    bad |= fact & _each_distinct(df["order_id"], lambda v: not (isinstance(v, str) and lo_len <= len(v) <= hi_len))

    orders = df["orders"].to_numpy()
    monetary = df["monetary_cents"].to_numpy()
    first, last = df["first_order_us"].to_numpy(), df["last_order_us"].to_numpy()
    bad |= snap & ((orders < lim.orders[0]) | (orders > lim.orders[1]))
    bad |= snap & ((monetary < lim.monetary_cents[0]) | (monetary > lim.monetary_cents[1]))
    bad |= snap & ((first < lim.earliest_us) | (first > last) | (last > occurred))

    bad |= _each_distinct(df["currency"], lambda v: not _missing(v) and not (isinstance(v, str) and lim.currency.fullmatch(v)))
    for name, longest in lim.text_length.items():
        bad |= _each_distinct(df[name], lambda v, n=longest: not _missing(v) and not (isinstance(v, str) and len(v) <= n))
    shortest_cat, longest_cat = lim.category_length

    def bad_categories(cats) -> bool:
        return len(cats) > lim.categories_items or any(
            not isinstance(c, str) or not shortest_cat <= len(c) <= longest_cat for c in cats)

    bad |= _each_distinct(df["categories"], bad_categories)
    return bad


def _each_distinct(col: pd.Series, test: Callable[[object], object]) -> np.ndarray:
    """``bool(test(value))`` per row, computed once per distinct value (ids, channels, category lists repeat)."""
    codes, uniques = pd.factorize(col, use_na_sentinel=False)
    return np.fromiter((bool(test(v)) for v in uniques), bool, len(uniques))[codes]


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def frame_to_events(df: pd.DataFrame) -> Iterator[OrderEvent]:
    """EventFrame rows -> OrderEvent objects."""
    for row in df.itertuples(index=False):
        snap = row.type == SNAPSHOT
        yield OrderEvent(
            type=row.type,
            customer_id=row.customer_id,
            occurred_us=int(row.occurred_us),
            order_id=None if snap else row.order_id,
            amount_cents=int(row.amount_cents),
            currency=row.currency,
            channel=row.channel,
            country=row.country,
            categories=tuple(row.categories) if row.categories else (),
            orders=int(row.orders),
            monetary_cents=int(row.monetary_cents),
            first_order_us=int(row.first_order_us) if snap else None,
            last_order_us=int(row.last_order_us) if snap else None,
        )
