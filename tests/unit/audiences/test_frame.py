"""The vectorised batch path equals the per-profile reference, on random rules over random profiles."""

from decimal import Decimal

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_app.audiences import rules
from stream_app.audiences.frame import SEPARATOR, audience_column, masks

SEGMENTS = ("champions", "loyal_customers", "at_risk", "hibernating", "new_customers")
CATEGORIES = ("KADIN", "ERKEK", "COCUK", "AKTIFSPOR")
CHANNELS = ("Mobile", "Desktop", "Android App", None)

profiles = st.fixed_dictionaries({
    "r_score": st.integers(1, 5), "f_score": st.integers(1, 5), "m_score": st.integers(1, 5), "aov_score": st.integers(1, 5),
    "recency_days": st.integers(0, 400), "frequency": st.integers(1, 60),
    "monetary_cents": st.integers(-5_000, 3_000_000), "aov_cents": st.integers(-500, 300_000),
    "segment": st.sampled_from(SEGMENTS), "channel": st.sampled_from(CHANNELS),
    "categories": st.lists(st.sampled_from(CATEGORIES), unique=True, max_size=3).map(lambda c: tuple(sorted(c))),
})


def values_for(field):
    kind = rules.FIELDS[field]
    if kind == "int":
        lo, hi = rules.RANGES.get(field, (0, 400))
        return st.integers(lo, hi)
    if kind == "money":  # whole, cent and sub-cent amounts: exercise the floor/ceil of the exact comparison
        return st.decimals(min_value=-50, max_value=30_000, places=3).map(float)
    if field == "segment":
        return st.sampled_from(SEGMENTS)
    if field == "value_band":
        return st.sampled_from(rules.VALUE_BANDS)
    if field == "channel":
        return st.sampled_from([c for c in CHANNELS if c])
    return st.sampled_from(CATEGORIES)


@st.composite
def conditions(draw):
    field = draw(st.sampled_from(sorted(rules.FIELDS)))
    op = draw(st.sampled_from(rules.KIND_OPS[rules.FIELDS[field]]))
    if op in rules.LIST_OPS:
        value = draw(st.lists(values_for(field), min_size=1, max_size=3, unique=True))
    else:
        value = draw(values_for(field))
    return {"field": field, "op": op, "value": value}


@st.composite
def rule_files(draw):
    audiences = []
    for i in range(draw(st.integers(1, 4))):
        items = draw(st.lists(st.one_of(conditions(), st.builds(lambda c: {"any": c}, st.lists(conditions(), min_size=1, max_size=3))),
                              min_size=1, max_size=3))
        audiences.append({"name": f"aud_{i}", "all": items})
    return {"audiences": audiences}


def frame_of(rows):
    df = pd.DataFrame(rows)
    df["rfm_sum"] = df["r_score"] + df["f_score"] + df["m_score"]
    df["value_band"] = np.select([df["rfm_sum"] <= 6, df["rfm_sum"] <= 10], ["low", "mid"], "high")
    df["monetary"] = [f"{c / 100:.2f}" for c in df["monetary_cents"]]
    df["aov"] = [f"{c / 100:.2f}" for c in df["aov_cents"]]
    return df


@settings(max_examples=300, deadline=None)
@given(rule_files(), st.lists(profiles, min_size=1, max_size=25))
def test_masks_equal_the_per_profile_reference(data, rows):
    compiled = rules.parse(data)
    df = frame_of(rows)
    expected = [compiled.membership(row) for row in df.to_dict("records")]
    assert list(audience_column(df, compiled)) == [SEPARATOR.join(names) for names in expected]
    # the money columns read from strings (as from Redis) give the same masks as from cents
    without_cents = df.drop(columns=["monetary_cents", "aov_cents"])
    for name, mask in masks(df, compiled).items():
        assert (masks(without_cents, compiled)[name] == mask).all()


def test_a_sub_cent_threshold_never_equals_and_bounds_correctly():
    df = frame_of([{"r_score": 1, "f_score": 1, "m_score": 1, "aov_score": 1, "recency_days": 1, "frequency": 1,
                    "monetary_cents": c, "aov_cents": c, "segment": "champions", "channel": None, "categories": ()}
                   for c in (25000, 25001)])
    for op, expected in (("eq", [False, False]), ("gt", [False, True]), ("gte", [False, True]),
                         ("lt", [True, False]), ("lte", [True, False]), ("ne", [True, True])):
        r = rules.parse({"audiences": [{"name": "a", "all": [{"field": "aov", "op": op, "value": 250.005}]}]})
        assert r.audiences[0].items[0][0].value == Decimal("25000.500")
        assert masks(df, r)["a"].tolist() == expected, op
        assert [bool(r.membership(row)) for row in df.to_dict("records")] == expected, op


def test_an_empty_frame_has_an_empty_column():
    df = frame_of([{"r_score": 1, "f_score": 1, "m_score": 1, "aov_score": 1, "recency_days": 1, "frequency": 1,
                    "monetary_cents": 1, "aov_cents": 1, "segment": "champions", "channel": None, "categories": ()}]).iloc[:0]
    assert audience_column(df, rules.load()).tolist() == []
