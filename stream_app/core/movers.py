"""Which customers a move of the quintile cuts rescores: key intervals per dimension, exactly.

A customer's score on one dimension is ``1 + the number of cut keys strictly below its rank key``
(``Cuts.score``, a ``bisect_left`` over the four ascending cut keys), where the rank key is
``(value, customer_id)`` with ties broken by the customer id. The value is the plain integer the dimension
ranks on, larger is better on every dimension: R ranks on the time of the last order (a later order is a
larger number and a higher score, no inversion), F on the order count, M on net cents, AOV on the average
order value in cents (rounded half-even, ``money.aov_cents``).

That score is a step function of the key that only steps up just *after* a cut key: a key equal to a cut key
is not above it. So take the old and the new cut keys of a dimension together, sorted, as breakpoints
``p1 < p2 < ... < pk``. At or below ``p1`` both scores are 1, above ``pk`` both are 5, and on each span
``(p_j, p_j+1]`` (lower end excluded, upper end included) both scores are constant. A customer's score on
that dimension differs exactly when its key lies in a span where the two scores differ, which is decided by
scoring the span's upper end with the very ``Cuts.score`` the worker uses, so the intervals can never
disagree with the scoring. Adjacent spans are merged: a cut that moved up by a few ranks gives one short
interval, whatever the population's size.

Everyone is rescored when there is nothing to compare with: the old boundaries are the empty version 0 (no
customer was scored against cuts yet) or either side lacks four cut keys per dimension (an empty population
scores everyone 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from stream_app.core.quintiles import DIMENSIONS, Cuts, Key
from stream_app.core.scoring import Boundaries, RankValues


@dataclass(frozen=True, slots=True)
class Interval:
    """A range of rank keys; ``None`` for an end means unbounded on that side."""

    lo: Key | None
    hi: Key | None
    lo_inclusive: bool = False
    hi_inclusive: bool = True

    def __contains__(self, key: Key) -> bool:
        if self.lo is not None and (key < self.lo or key == self.lo and not self.lo_inclusive):
            return False
        if self.hi is not None and (key > self.hi or key == self.hi and not self.hi_inclusive):
            return False
        return True


#: every key of a dimension: what a rescore of everyone asks for
EVERY_KEY = Interval(None, None, True, True)


def _complete(bounds: Boundaries) -> bool:
    return bool(bounds.customers) and all(len(bounds.cuts.get(d, Cuts(())).keys) == 4 for d in DIMENSIONS)


def rescores_everyone(old: Boundaries, new: Boundaries) -> bool:
    """True when the cut keys cannot say who moved, so every customer must be rescored."""
    return old.version == 0 or not _complete(old) or not _complete(new)


def dimension_intervals(old: Cuts, new: Cuts) -> list[Interval]:
    """The disjoint, ascending key intervals of one dimension in which the old and new cuts score differently."""
    points = sorted(set(old.keys) | set(new.keys))
    spans: list[Interval] = []
    for lo, hi in zip(points, points[1:]):
        if old.score(hi) == new.score(hi):
            continue
        if spans and spans[-1].hi == lo:
            spans[-1] = Interval(spans[-1].lo, hi)
        else:
            spans.append(Interval(lo, hi))
    return spans


def intervals(old: Boundaries, new: Boundaries) -> dict[str, list[Interval]]:
    """Per dimension, the key intervals holding exactly the customers whose score on it changes."""
    if rescores_everyone(old, new):
        return {d: [EVERY_KEY] for d in DIMENSIONS}
    return {d: dimension_intervals(old.cuts[d], new.cuts[d]) for d in DIMENSIONS}


def within(spans: list[Interval], key: Key) -> bool:
    """Whether a key lies in one of a dimension's intervals (at most four: one per cut that moved)."""
    return any(key in s for s in spans)


def moves(old: Boundaries, new: Boundaries, ranks: RankValues, cid: str) -> bool:
    """Whether a customer with these rank values scores differently under ``new`` than under ``old``."""
    spans = intervals(old, new)
    return any(within(spans[d], (value, cid)) for d, value in zip(DIMENSIONS, ranks))


def merged(spans: list[Interval]) -> list[Interval]:
    """The union of one dimension's ``(lo, hi]`` intervals, as disjoint ascending ones."""
    if any(s.lo is None or s.hi is None for s in spans):
        return [EVERY_KEY]
    out: list[Interval] = []
    for s in sorted(spans, key=lambda s: s.lo):  # type: ignore[arg-type, return-value]
        if out and s.lo <= out[-1].hi:  # type: ignore[operator]
            out[-1] = Interval(out[-1].lo, max(out[-1].hi, s.hi))  # type: ignore[type-var]
        else:
            out.append(s)
    return out


def chain_intervals(chain: list[Boundaries]) -> dict[str, list[Interval]]:
    """Where a customer scored under *any* version of ``chain`` may score differently under its last one.

    A customer whose scores under versions u and w differ has them differ between some two consecutive
    versions in between, so the union of the consecutive moves covers every customer that some writer may
    have scored with an intermediate version: what a new owner must compare with Redis after a takeover.
    (It is not exact: a customer that moved and moved back is in it, and a rescore finds it unchanged.)
    """
    if len(chain) < 2:
        return {d: [] for d in DIMENSIONS}
    pairs = [intervals(a, b) for a, b in zip(chain, chain[1:])]
    return {d: merged([s for p in pairs for s in p[d]]) for d in DIMENSIONS}


def since(scored_with: list[Boundaries], new: Boundaries) -> dict[str, list[Interval]] | None:
    """Where a customer last scored under any of ``scored_with`` may score differently under ``new``.

    A worker remembers which boundaries it scored each partition's customers with since the partition's last
    rescore; every customer's stored scores are those of one of them for its current rank values. So the
    union of ``intervals(u, new)`` over them holds every customer a rescore to ``new`` changes. None when
    that cannot be said from the cut keys (``rescores_everyone``): then everyone is looked at.
    """
    olds = [b for b in scored_with if b.version != new.version]
    if any(rescores_everyone(b, new) for b in olds):
        return None
    spans = {d: merged([s for b in olds for s in intervals(b, new)[d]]) for d in DIMENSIONS}
    if any(s.lo is None or s.hi is None for d in DIMENSIONS for s in spans[d]):
        return None
    return spans
