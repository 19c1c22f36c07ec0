"""Scoring one customer against a population's boundaries: the streaming path, and its reference.

A customer's rank key in each dimension is (value, customer_id): R on the time
of the last order (later is better), F on the number of orders, M on net
monetary cents, AOV on the average order value in cents (rounded half-even).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stream_app.core.fold import CustomerState
from stream_app.core.model import Scores, Totals
from stream_app.core.money import aov_cents
from stream_app.core.quintiles import DIMENSIONS, Cuts, cuts_of

#: (last_order_us, frequency, monetary_cents, aov_cents): the values of DIMENSIONS, in that order
RankValues = tuple[int, int, int, int]


def rank_aov(ranks: RankValues) -> int:
    """The average order value in cents, as ranked (the fourth rank value)."""
    return ranks[3]


def rank_values(totals: Totals) -> RankValues | None:
    """The four exact integers a scored customer is ranked on, or None when it has no order."""
    if not totals.scored:
        return None
    return (
        totals.last_order_us,  # type: ignore[return-value]
        totals.frequency,
        totals.monetary_cents,
        aov_cents(totals.monetary_cents, totals.frequency),
    )


@dataclass(frozen=True)
class Boundaries:
    """Cut keys of every dimension over one population, with a version and the population size."""

    cuts: dict[str, Cuts] = field(default_factory=dict)
    customers: int = 0
    version: int = 0

    def score(self, customer_id: str, totals: Totals) -> Scores:
        """A scored customer's scores (its totals must have an order)."""
        return self.score_values(customer_id, rank_values(totals))  # type: ignore[arg-type]

    def score_values(self, customer_id: str, values: RankValues) -> Scores:
        """Scores from the four rank values: what a rescore needs, without folding the facts again."""
        if not self.customers:
            return Scores(1, 1, 1, 1)
        cuts, (r, f, m, a) = self.cuts, values  # unrolled: twice per rescored customer
        return Scores(r=cuts["r"].score((r, customer_id)), f=cuts["f"].score((f, customer_id)),
                      m=cuts["m"].score((m, customer_id)), aov=cuts["aov"].score((a, customer_id)))

    def to_json(self) -> dict:
        return {"version": self.version, "customers": self.customers, "cuts": {d: c.to_json() for d, c in self.cuts.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "Boundaries":
        bounds = cls(
            cuts={d: Cuts.from_json(c) for d, c in data["cuts"].items()},
            customers=int(data["customers"]),
            version=int(data["version"]),
        )
        if bounds.version < 0 or bounds.customers < 0 or bounds.customers and (
                sorted(bounds.cuts) != sorted(DIMENSIONS) or any(len(c.keys) != 4 for c in bounds.cuts.values())):
            raise ValueError("boundaries need a version, a population and four cut keys for each of r, f, m, aov")
        return bounds


def boundaries_of(population: dict[str, Totals], version: int = 0) -> Boundaries:
    """Boundaries of a whole population held in memory (tests, the batch reference)."""
    values = {cid: v for cid, t in population.items() if (v := rank_values(t)) is not None}
    ids = list(values)
    return boundaries_of_ranks(ids, [[values[cid][i] for cid in ids] for i in range(len(DIMENSIONS))], version)


def boundaries_of_ranks(ids: list[str], columns: Sequence[Sequence[int]], version: int = 0) -> Boundaries:
    """Boundaries of the scored customers ``ids`` from their rank values, one column per dimension (lists or
    int64 arrays): what a bulk load keeps of customers whose states it no longer holds."""
    cuts = {d: cuts_of(columns[i], ids) for i, d in enumerate(DIMENSIONS)}
    return Boundaries(cuts=cuts, customers=len(ids), version=version)


def score_states(states: dict[str, CustomerState]) -> dict[str, tuple[Totals, Scores]]:
    """Fold-then-score reference: every scored customer's totals and scores."""
    population = {cid: s.totals() for cid, s in states.items()}
    bounds = boundaries_of(population)
    return {cid: (t, bounds.score(cid, t)) for cid, t in population.items() if t.scored}
