"""The messages of the engine: a canonical order event and a customer's scored profile."""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_app.core.money import format_cents
from stream_app.core.timeutil import format_us

ORDER, RETURN, SNAPSHOT = "order", "return", "snapshot"
EVENT_TYPES = (ORDER, RETURN, SNAPSHOT)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One canonical event (schemas/order_event.schema.json), with exact integer units.

    Times are epoch microseconds (UTC) and money integer cents, so that folding
    events never rounds. ``order``/``return`` carry ``order_id`` and
    ``amount_cents`` (negative for a return); a ``snapshot`` carries a CRM
    export's totals for the customer.
    """

    type: str
    customer_id: str
    occurred_us: int
    order_id: str | None = None
    amount_cents: int = 0
    currency: str | None = None
    channel: str | None = None
    country: str | None = None
    categories: tuple[str, ...] = ()
    orders: int = 0
    monetary_cents: int = 0
    first_order_us: int | None = None
    last_order_us: int | None = None

    def to_json(self) -> dict:
        """The event as the schema's JSON object (major units, RFC 3339 times)."""
        out: dict = {"type": self.type, "customer_id": self.customer_id, "occurred_at": format_us(self.occurred_us)}
        if self.type == SNAPSHOT:
            out["orders"] = self.orders
            out["monetary"] = float(format_cents(self.monetary_cents))
            out["first_order_at"] = format_us(self.first_order_us)  # type: ignore[arg-type]
            out["last_order_at"] = format_us(self.last_order_us)  # type: ignore[arg-type]
        else:
            out["order_id"] = self.order_id
            out["amount"] = float(format_cents(self.amount_cents))
        for key in ("currency", "channel", "country"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.categories:
            out["categories"] = list(self.categories)
        return out


@dataclass(slots=True)  # not frozen, as core/decide.py's messages: a rescore builds several per customer
class Scores:
    """The four quintile scores of one customer (1-5 each)."""

    r: int
    f: int
    m: int
    aov: int

    @property
    def rfm_score(self) -> str:
        return f"{self.r}{self.f}{self.m}"

    @property
    def rfm_sum(self) -> int:
        return self.r + self.f + self.m


@dataclass(slots=True)
class Totals:
    """What RFM needs of a customer's history, derived from its state."""

    frequency: int = 0
    monetary_cents: int = 0
    first_order_us: int | None = None
    last_order_us: int | None = None
    channel: str | None = None
    categories: tuple[str, ...] = field(default_factory=tuple)

    @property
    def scored(self) -> bool:
        """Only customers with at least one order are ranked (returns alone are not)."""
        return self.frequency > 0 and self.last_order_us is not None
