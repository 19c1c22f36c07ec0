"""The column form of many events: what adapters return and the batch job scores.

One row per canonical event, exact units (integer cents, epoch microseconds).
Converting to and from OrderEvent objects is lossless, which the tests use to
check the vectorised batch job against the event-by-event fold.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stream_app.core.model import SNAPSHOT, OrderEvent

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

    def __len__(self) -> int:
        return len(self.df)

    def events(self) -> Iterator[OrderEvent]:
        """The rows as OrderEvent objects, in frame order."""
        return frame_to_events(self.df)

    def in_time_order(self) -> "EventFrame":
        """Sorted by time, then customer and order id: the order `events` writes and `replay` sends."""
        df = self.df.sort_values(["occurred_us", "customer_id", "order_id"], kind="stable", na_position="first")
        return EventFrame(df.reset_index(drop=True), self.source, dict(self.skipped))



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


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Column types every consumer of a frame may rely on."""
    for col in INT_COLUMNS:
        df[col] = df[col].astype(np.int64)
    for col in STR_COLUMNS:
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    if "categories" not in df:
        df["categories"] = [()] * len(df)
    return df[list(COLUMNS)]


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
