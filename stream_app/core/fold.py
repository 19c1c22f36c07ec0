"""Folding events into a customer's state, so that replays, duplicates and arrival order never matter.

The state is a set of facts, not a running sum: the distinct orders and
returns seen (by order_id) and the latest CRM snapshot. Totals are derived
from those facts, so applying the same event twice, or the same events in
another order, yields the same totals. That is what lets the streaming worker
run at-least-once and still be exact.

Conventions (the batch/stream contract, see docs/semantics.md):
- an order_id counts once per customer and type; when two events disagree on
  the same order_id, the one with the smaller (time, amount) is kept, a choice
  that does not depend on arrival order;
- the snapshot with the latest time (then the largest content) wins, and
  orders/returns at or before its time are taken as included in it;
- a return lowers monetary and leaves frequency and recency alone.

A customer's state is bounded, because the worker stores it as one changelog
record (under the producer's 1 MB limit) whatever its events: an order id
longer than ``ORDER_KEY_CHARS`` is kept as a fixed-size digest
(:func:`order_key`), a customer holds at most ``MAX_FACTS`` distinct orders and
returns (an event that would add one more is refused), and at most
``MAX_CATEGORIES`` categories, the first in string order, which does not
depend on the order events arrive in. The batch job applies the same rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from stream_app.core.model import ORDER, RETURN, SNAPSHOT, OrderEvent, Totals
from stream_app.errors import BadEvent

#: order ids up to this length are kept as they are; longer ones as a digest one character longer (no clash)
ORDER_KEY_CHARS = 32
#: distinct orders and returns one customer may hold (a fact takes at most ~150 bytes stored: 750 KB)
MAX_FACTS = 5_000
#: categories kept per customer (each at most 64 characters by the event schema)
MAX_CATEGORIES = 64


def order_key(order_id: str) -> str:
    """How an order id is kept in a customer's state: itself when short, else a 132-bit digest of it."""
    if len(order_id) <= ORDER_KEY_CHARS:
        return order_id
    return hashlib.sha256(order_id.encode()).hexdigest()[: ORDER_KEY_CHARS + 1]


def cap_categories(categories: set[str]) -> set[str]:
    """The categories a customer keeps: the first MAX_CATEGORIES in string order."""
    return categories if len(categories) <= MAX_CATEGORIES else set(sorted(categories)[:MAX_CATEGORIES])

# (occurred_us, amount_cents, channel)
Fact = tuple[int, int, str | None]
# (occurred_us, orders, monetary_cents, first_us, last_us, channel)
Snapshot = tuple[int, int, int, int, int, str | None]


@dataclass(slots=True)
class CustomerState:
    """Everything rfm-stream remembers of one customer (orders and returns keyed by :func:`order_key`)."""

    customer_id: str
    orders: dict[str, Fact] = field(default_factory=dict)
    returns: dict[str, Fact] = field(default_factory=dict)
    snapshot: Snapshot | None = None
    categories: set[str] = field(default_factory=set)
    #: number of events that changed this state; part of the published version
    seq: int = 0

    def totals(self) -> Totals:
        """Frequency, exact monetary, first/last order, channel and categories from the facts."""
        snap = self.snapshot
        since = snap[0] if snap else None
        t = Totals()
        latest: tuple[int, str] | None = None
        if snap:
            t.frequency, t.monetary_cents = snap[1], snap[2]
            t.first_order_us, t.last_order_us = snap[3], snap[4]
            t.channel = snap[5]
            latest = (snap[4], "")
        for order_id, (ts, cents, channel) in self.orders.items():
            if since is not None and ts <= since:
                continue
            t.frequency += 1
            t.monetary_cents += cents
            if t.last_order_us is None or ts > t.last_order_us:
                t.last_order_us = ts
            if t.first_order_us is None or ts < t.first_order_us:
                t.first_order_us = ts
            if channel is not None and (latest is None or (ts, order_id) > latest):
                latest, t.channel = (ts, order_id), channel
        for ts, cents, _ in self.returns.values():
            if since is None or ts > since:
                t.monetary_cents += cents
        t.categories = tuple(sorted(self.categories))
        return t


def apply(state: CustomerState | None, event: OrderEvent) -> tuple[CustomerState, bool]:
    """Fold one event into the state (in place); returns the state and whether it changed.

    BadEvent (the state unchanged) when the event would give the customer more than MAX_FACTS orders and returns.
    """
    if state is None:
        state = CustomerState(event.customer_id)
    changed = False
    if event.type in (ORDER, RETURN):
        key = order_key(event.order_id)  # type: ignore[arg-type]
        facts = state.orders if event.type == ORDER else state.returns
        if key not in facts and len(state.orders) + len(state.returns) >= MAX_FACTS:
            raise BadEvent(f"the customer already has {MAX_FACTS} distinct orders and returns, the limit", "order_id")
    if event.type == SNAPSHOT:
        snap: Snapshot = (
            event.occurred_us,
            event.orders,
            event.monetary_cents,
            event.first_order_us,  # type: ignore[assignment]
            event.last_order_us,  # type: ignore[assignment]
            event.channel,
        )
        if state.snapshot is None or _snap_key(snap) > _snap_key(state.snapshot):
            state.snapshot, changed = snap, True
    elif event.type in (ORDER, RETURN):
        fact: Fact = (event.occurred_us, event.amount_cents, event.channel)
        old = facts.get(key)
        if old is None or _fact_key(fact) < _fact_key(old):
            facts[key] = fact
            changed = True
    else:  # validated events never get here
        raise ValueError(f"unknown event type {event.type!r}")
    if event.categories and not state.categories.issuperset(event.categories):
        kept = cap_categories(state.categories | set(event.categories))
        if kept != state.categories:
            state.categories = kept
            changed = True
    if changed:
        state.seq += 1
    return state, changed


def _fact_key(fact: Fact) -> tuple:
    return (fact[0], fact[1], fact[2] or "")


def _snap_key(snap: Snapshot) -> tuple:
    return (*snap[:5], snap[5] or "")


def fold(events, states: dict[str, CustomerState] | None = None) -> dict[str, CustomerState]:
    """Fold many events into a dict of states: the reference the batch job is tested against."""
    states = {} if states is None else states
    for event in events:
        states[event.customer_id], _ = apply(states.get(event.customer_id), event)
    return states
