"""Quintile cuts equal pd.qcut over ranks; cut keys score like ranks; bins are as even as N allows."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_app.core.quintiles import Cuts, cut_ranks, cuts_from_sorted, cuts_of, score_ranks


@pytest.mark.parametrize("n", list(range(2, 400)) + [997, 4339, 19945, 100_003])
def test_score_ranks_equals_pandas_qcut(n):
    ranks = np.arange(1, n + 1)
    expected = pd.qcut(ranks, 5, labels=[1, 2, 3, 4, 5]).astype(int)
    assert (score_ranks(ranks, n) == np.asarray(expected)).all()


def test_single_customer_scores_one_where_qcut_refuses():
    with pytest.raises(ValueError):
        pd.qcut([1], 5, labels=[1, 2, 3, 4, 5])
    assert score_ranks(np.array([1]), 1).tolist() == [1]
    assert cuts_from_sorted([(10, "a")]).score((10, "a")) == 1


@pytest.mark.parametrize("n,expected", [(2, [1, 5]), (3, [1, 3, 5]), (4, [1, 2, 4, 5]), (5, [1, 2, 3, 4, 5])])
def test_populations_smaller_than_five(n, expected):
    assert score_ranks(np.arange(1, n + 1), n).tolist() == expected


@given(st.integers(min_value=1, max_value=5000))
def test_each_score_holds_floor_or_ceil_of_n_over_5(n):
    counts = np.bincount(score_ranks(np.arange(1, n + 1), n), minlength=6)[1:]
    if n >= 5:
        assert set(counts) <= {n // 5, -(-n // 5)}
    assert counts.sum() == n


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(-5, 5), st.text("abc", min_size=1, max_size=3)), min_size=1, max_size=60, unique_by=lambda k: k[1]))
def test_cut_keys_score_every_customer_like_its_rank(keys):
    ordered = sorted(keys)
    cuts = cuts_from_sorted(ordered)
    by_rank = score_ranks(np.arange(1, len(ordered) + 1), len(ordered))
    assert [cuts.score(k) for k in ordered] == by_rank.tolist()


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(-3, 3) | st.integers(-2**62, 2**62), st.text("abc", min_size=1, max_size=4)),
                min_size=0, max_size=80, unique_by=lambda k: k[1]))
def test_cuts_of_values_equal_the_cuts_of_the_sorted_keys(keys):
    """Heavy ties (a few values) and wide values: only the tied customers are ordered by id."""
    assert cuts_of([v for v, _ in keys], [c for _, c in keys]) == cuts_from_sorted(sorted(keys))


def test_cut_ranks_are_the_last_rank_of_each_bin():
    assert cut_ranks(10) == [2, 4, 6, 8]
    assert cut_ranks(11) == [3, 5, 7, 9]


def test_cuts_round_trip_json():
    cuts = Cuts(((1, "a"), (2, "b"), (3, "c"), (4, "d")))
    assert Cuts.from_json(cuts.to_json()) == cuts


def test_vectorised_half_even_division_equals_the_exact_scalar_one():
    from stream_app.core.money import div_round_half_even, div_round_half_even_array

    num = np.arange(-1000, 1001, dtype=np.int64)
    for den in (1, 2, 3, 7, 10, 10_000):
        assert div_round_half_even_array(num, den).tolist() == [div_round_half_even(int(n), den) for n in num]
