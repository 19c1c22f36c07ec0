"""A changed customer's scoring under the worker's current boundaries, segment map and audience rules."""

from __future__ import annotations

from collections.abc import Callable

from stream_app.audiences.rules import AudienceRules, Plans, members
from stream_app.core.decide import Scored
from stream_app.core.fold import CustomerState
from stream_app.core.model import Scores, Totals
from stream_app.core.scoring import Boundaries, RankValues, rank_aov, rank_values
from stream_app.core.segments import SegmentMap, value_band


class Scorer:
    """Scores customers; the boundaries are passed on each call (the processor owns the newest version)."""

    def __init__(self, segments: SegmentMap, rules: AudienceRules | None, rules_fp: str, now_us: Callable[[], int]):
        self.segments = segments
        self.rules = rules
        self.rules_fp = rules_fp
        self.now_us = now_us
        #: (segment, r, f, m, aov) -> the rules narrowed to it: at most 625 combinations a segment map
        self._by_scores: dict[tuple[str, int, int, int, int], tuple[Plans, tuple[str, ...] | None]] = {}

    def score(self, state: CustomerState, bounds: Boundaries, cause: str, occurred_us: int,
              totals: Totals | None = None, updated_us: int | None = None,
              known: tuple[Boundaries, RankValues, Scores] | None = None) -> Scored:
        """``state`` scored against ``bounds``; ``cause`` and ``occurred_us`` say what changed it.
        ``totals``: the state's, when the caller already has them (a bootstrap cut the boundaries from them).
        ``updated_us``: the write's wall-clock time, when the caller read it once for many customers.
        ``known``: scores the caller already took of some rank values under some boundaries (a rescore
        sorting its chunk out), used when both are these."""
        totals = totals if totals is not None else state.totals()
        ranks = rank_values(totals)
        scores, segment, audiences = None, "", ()
        if ranks is not None:
            if known is not None and known[0] is bounds and known[1] == ranks:
                scores = known[2]
            else:
                scores = bounds.score_values(state.customer_id, ranks)
            segment = self.segments.segment(scores.r, scores.f)
            audiences = tuple(self.membership(segment, scores, totals, ranks))
        return Scored(customer_id=state.customer_id, seq=state.seq, boundaries_version=bounds.version,
                      totals=totals, ranks=ranks, scores=scores, segment=segment, audiences=audiences,
                      rules_fp=self.rules_fp, cause=cause, occurred_us=occurred_us,
                      updated_us=self.now_us() if updated_us is None else updated_us)

    def membership(self, segment: str, scores: Scores, totals: Totals, ranks: RankValues) -> list[str]:
        """The audiences of a profile. recency_days needs an as-of time the stream does not have: missing here.

        What the scores and segment decide is decided once per combination (:meth:`_narrowed`); only the
        audiences that still depend on the customer's totals are tested per customer."""
        if not self.rules:
            return []
        key = (segment, scores.r, scores.f, scores.m, scores.aov)
        narrowed = self._by_scores.get(key)
        if narrowed is None:
            narrowed = self._by_scores[key] = self._narrowed(segment, scores)
        plans, names = narrowed
        if names is not None:
            return list(names)
        return members(plans, {  # already the rules' normalised form: ints, cents, str or None
            "recency_days": None, "frequency": totals.frequency, "monetary": totals.monetary_cents,
            "aov": rank_aov(ranks), "channel": totals.channel or None, "categories": frozenset(totals.categories),
        })

    def _narrowed(self, segment: str, scores: Scores) -> tuple[Plans, tuple[str, ...] | None]:
        """The rules narrowed to profiles of these scores and segment, and the audiences' names when that
        decides them all (None: some still depend on other fields)."""
        assert self.rules is not None
        plans = self.rules.narrowed({
            "segment": segment, "r_score": scores.r, "f_score": scores.f, "m_score": scores.m,
            "aov_score": scores.aov, "rfm_sum": scores.rfm_sum, "value_band": value_band(scores.rfm_sum),
        })
        return plans, (None if any(items for _, items in plans) else tuple(name for name, _ in plans))
