"""Scoring one customer against a population's boundaries: the streaming path, and its reference.

A customer's rank key in each dimension is (value, customer_id): R on the time
of the last order (later is better), F on the number of orders, M on net
monetary cents, AOV on the average order value in cents (rounded half-even).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_app.core.fold import CustomerState
from stream_app.core.model import Scores, Totals
from stream_app.core.money import aov_cents
from stream_app.core.quintiles import DIMENSIONS, Cuts, Key, cuts_from_sorted


def rank_keys(customer_id: str, totals: Totals) -> dict[str, Key]:
    """The four (value, customer_id) keys a scored customer is ranked on."""
    return {
        "r": (totals.last_order_us, customer_id),  # type: ignore[dict-item]
        "f": (totals.frequency, customer_id),
        "m": (totals.monetary_cents, customer_id),
        "aov": (aov_cents(totals.monetary_cents, totals.frequency), customer_id),
    }


@dataclass(frozen=True)
class Boundaries:
    """Cut keys of every dimension over one population, with a version and the population size."""

    cuts: dict[str, Cuts] = field(default_factory=dict)
    customers: int = 0
    version: int = 0

    def score(self, customer_id: str, totals: Totals) -> Scores:
        keys = rank_keys(customer_id, totals)
        s = {d: (self.cuts[d].score(keys[d]) if self.customers else 1) for d in DIMENSIONS}
        return Scores(r=s["r"], f=s["f"], m=s["m"], aov=s["aov"])

    def same_cuts(self, other: "Boundaries") -> bool:
        return self.customers == other.customers and self.cuts == other.cuts

    def to_json(self) -> dict:
        return {"version": self.version, "customers": self.customers, "cuts": {d: c.to_json() for d, c in self.cuts.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "Boundaries":
        return cls(
            cuts={d: Cuts.from_json(c) for d, c in data["cuts"].items()},
            customers=int(data["customers"]),
            version=int(data["version"]),
        )


def boundaries_of(population: dict[str, Totals], version: int = 0) -> Boundaries:
    """Boundaries of a whole population held in memory (tests, the batch reference)."""
    scored = {cid: t for cid, t in population.items() if t.scored}
    keys = [rank_keys(cid, t) for cid, t in scored.items()]
    cuts = {d: cuts_from_sorted(sorted(k[d] for k in keys)) for d in DIMENSIONS}
    return Boundaries(cuts=cuts, customers=len(scored), version=version)


def score_states(states: dict[str, CustomerState]) -> dict[str, tuple[Totals, Scores]]:
    """Fold-then-score reference: every scored customer's totals and scores."""
    population = {cid: s.totals() for cid, s in states.items()}
    bounds = boundaries_of(population)
    return {cid: (t, bounds.score(cid, t)) for cid, t in population.items() if t.scored}
