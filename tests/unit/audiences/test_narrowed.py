"""Rules narrowed to a combination of scores and segment select what the whole rules select.

The worker decides the score-only part of the rules once per (segment, r, f, m, aov) and tests only the
rest per customer (AudienceRules.narrowed, Scorer.membership); batch and the reference test every
condition. Random rule files, with `any` items mixing score and total fields, hold the two equal.
"""

from __future__ import annotations

import random

import pytest

from stream_app.audiences import rules as R
from stream_app.core.model import Scores, Totals
from stream_app.core.segments import SegmentMap, value_band
from stream_app.worker.scorer import Scorer

SEGMENTS = SegmentMap.load()
CHANNELS = ["Online", "Offline", "Mobile"]
CATEGORIES = ["KADIN", "ERKEK", "COCUK", "AKTIFSPOR"]


def _condition(rng: random.Random) -> dict:
    field = rng.choice(sorted(R.FIELDS))
    kind = R.FIELDS[field]
    op = rng.choice(R.KIND_OPS[kind])
    lo, hi = R.RANGES.get(field, (0, 40))
    if kind == "int":
        one = lambda: rng.randint(lo, hi)  # noqa: E731
    elif kind == "money":
        one = lambda: rng.choice([0, 1, 25, 99.99, 250, 1000])  # noqa: E731
    elif field == "segment":
        one = lambda: rng.choice(SEGMENTS.names)  # noqa: E731
    elif field == "value_band":
        one = lambda: rng.choice(R.VALUE_BANDS)  # noqa: E731
    elif field == "channel":
        one = lambda: rng.choice(CHANNELS)  # noqa: E731
    else:
        one = lambda: rng.choice(CATEGORIES)  # noqa: E731
    value = sorted({one() for _ in range(rng.randint(1, 3))}, key=str) if op in R.LIST_OPS else one()
    return {"field": field, "op": op, "value": value}


def _rules(rng: random.Random) -> R.AudienceRules:
    audiences = []
    for i in range(rng.randint(1, 6)):
        items = []
        for _ in range(rng.randint(1, 3)):
            if rng.random() < 0.4:
                items.append({"any": [_condition(rng) for _ in range(rng.randint(2, 3))]})
            else:
                items.append(_condition(rng))
        audiences.append({"name": f"a{i}", "all": items})
    return R.parse({"audiences": audiences}, segment_names=SEGMENTS.names)


def _profile(rng: random.Random) -> tuple[Scores, Totals, tuple]:
    scores = Scores(*(rng.randint(1, 5) for _ in range(4)))
    freq = rng.randint(1, 40)
    totals = Totals(frequency=freq, monetary_cents=rng.randint(-5_000, 200_000),
                    channel=rng.choice(["", *CHANNELS]),
                    categories=tuple(sorted(rng.sample(CATEGORIES, rng.randint(0, 2)))))
    ranks = (1, freq, totals.monetary_cents, rng.randint(0, 150_000))
    return scores, totals, ranks


def _all_values(segment: str, s: Scores, t: Totals, ranks: tuple) -> dict:
    return {"segment": segment, "r_score": s.r, "f_score": s.f, "m_score": s.m, "aov_score": s.aov,
            "rfm_sum": s.rfm_sum, "value_band": value_band(s.rfm_sum), "recency_days": None,
            "frequency": t.frequency, "monetary": t.monetary_cents, "aov": ranks[3],
            "channel": t.channel or None, "categories": frozenset(t.categories)}


@pytest.mark.parametrize("seed", range(40))
def test_narrowed_rules_select_what_the_whole_rules_select(seed):
    rng = random.Random(seed)
    rules = _rules(rng)
    scorer = Scorer(SEGMENTS, rules, rules.fingerprint, now_us=lambda: 0)
    for _ in range(400):  # more profiles than combinations met: the cache is hit as well as filled
        scores, totals, ranks = _profile(rng)
        segment = SEGMENTS.segment(scores.r, scores.f)
        expected = rules.membership_of_values(_all_values(segment, scores, totals, ranks))
        assert scorer.membership(segment, scores, totals, ranks) == expected
    assert len(scorer._by_scores) < 400


def test_an_item_on_scores_alone_is_decided_by_narrowing():
    rules = R.parse({"audiences": [
        {"name": "big_spenders", "all": [{"field": "m_score", "op": "gte", "value": 4}]},
        {"name": "frequent_women", "all": [{"field": "f_score", "op": "gte", "value": 4},
                                           {"field": "categories", "op": "contains_any", "value": ["KADIN"]}]},
        {"name": "either", "all": [{"any": [{"field": "r_score", "op": "eq", "value": 5},
                                            {"field": "frequency", "op": "gte", "value": 10}]}]},
    ]}, segment_names=SEGMENTS.names)
    known = {"segment": "champions", "r_score": 5, "f_score": 4, "m_score": 2, "aov_score": 1, "rfm_sum": 11,
             "value_band": "high"}
    plans = rules.narrowed(known)
    # m_score 2 excludes big_spenders; r_score 5 settles `either`; frequent_women still needs its categories
    assert [(name, [[f for f, _, _ in alt] for alt in items]) for name, items in plans] == [
        ("either", []), ("frequent_women", [["categories"]])]
    assert R.members(plans, {"categories": frozenset({"KADIN"})}) == ["either", "frequent_women"]
    assert R.members(plans, {"categories": frozenset()}) == ["either"]
