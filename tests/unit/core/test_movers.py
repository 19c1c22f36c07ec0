"""The movers of a cut move are exactly the customers whose scores differ when everyone is rescored."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from stream_app.core.movers import EVERY_KEY, Interval, chain_intervals, intervals, moves, rescores_everyone, within
from stream_app.core.quintiles import DIMENSIONS, Cuts, cuts_from_sorted
from stream_app.core.scoring import Boundaries

# few values and short ids over a small alphabet: many ties on values, and ties broken by the id
ids = st.text("abcd", min_size=1, max_size=3)
values = st.tuples(*[st.integers(-3, 3)] * 4)
populations = st.dictionaries(ids, values, min_size=1, max_size=40)


def boundaries(population: dict[str, tuple[int, ...]], version: int) -> Boundaries:
    cuts = {d: cuts_from_sorted(sorted((v[i], cid) for cid, v in population.items())) for i, d in enumerate(DIMENSIONS)}
    return Boundaries(cuts=cuts, customers=len(population), version=version)


def changed(old: Boundaries, new: Boundaries, population: dict[str, tuple[int, ...]]) -> set[str]:
    """The reference: rescore everyone and keep those whose scores differ on any dimension."""
    return {cid for cid, v in population.items() if old.score_values(cid, v) != new.score_values(cid, v)}


def found(old: Boundaries, new: Boundaries, population: dict[str, tuple[int, ...]]) -> set[str]:
    return {cid for cid, v in population.items() if moves(old, new, v, cid)}


def with_cut_customers(population: dict, *bounds: Boundaries) -> dict:
    """The population plus, in every dimension, a customer sitting exactly on each cut key."""
    out = dict(population)
    for b in bounds:
        for i, d in enumerate(DIMENSIONS):
            for value, cid in b.cuts[d].keys:
                v = list(out.get(cid, (0, 0, 0, 0)))
                v[i] = value
                out[cid] = tuple(v)
    return out


@settings(max_examples=400, deadline=None)
@given(populations, st.data())
def test_movers_of_a_recompute_equal_the_customers_whose_scores_differ(before, data):
    # the stream moved some customers' values, added some and dropped some; then the cuts were recomputed
    after = dict(before)
    for cid in data.draw(st.lists(st.sampled_from(sorted(before)), max_size=10)):
        after[cid] = data.draw(values)
    after.update(data.draw(st.dictionaries(ids, values, max_size=5)))
    for cid in data.draw(st.lists(st.sampled_from(sorted(after)), max_size=3)):
        if len(after) > 1:
            after.pop(cid, None)
    old, new = boundaries(before, 1), boundaries(after, 2)
    everyone = with_cut_customers(after, old, new)
    assert found(old, new, everyone) == changed(old, new, everyone)


cut_keys = st.lists(st.tuples(st.integers(-3, 3), ids), min_size=4, max_size=4).map(lambda k: tuple(sorted(k)))


@settings(max_examples=400, deadline=None)
@given(populations, st.fixed_dictionaries({d: cut_keys for d in DIMENSIONS}),
       st.fixed_dictionaries({d: cut_keys for d in DIMENSIONS}))
def test_movers_of_any_cut_move_equal_the_customers_whose_scores_differ(population, old_keys, new_keys):
    old = Boundaries({d: Cuts(k) for d, k in old_keys.items()}, customers=9, version=4)
    new = Boundaries({d: Cuts(k) for d, k in new_keys.items()}, customers=9, version=5)
    everyone = with_cut_customers(population, old, new)
    assert found(old, new, everyone) == changed(old, new, everyone)
    for spans in intervals(old, new).values():
        assert len(spans) <= 4
        # disjoint and ascending: the Redis query pages through each one without overlap
        assert all(a.hi <= b.lo for a, b in zip(spans, spans[1:]))


def test_a_customer_on_the_old_cut_key_keeps_its_score_and_one_on_the_new_moves():
    old = Boundaries({d: Cuts(((0, "a"), (5, "b"), (7, "a"), (9, "a"))) for d in DIMENSIONS}, 10, 1)
    new = Boundaries({d: Cuts(((0, "a"), (5, "d"), (7, "a"), (9, "a"))) for d in DIMENSIONS}, 10, 2)
    assert intervals(old, new)["f"] == [Interval((5, "b"), (5, "d"), lo_inclusive=False, hi_inclusive=True)]
    on_old, between, on_new, above = (5, "b"), (5, "c"), (5, "d"), (5, "e")
    assert [moves(old, new, (v,) * 4, c) for v, c in (on_old, between, on_new, above)] == [False, True, True, False]


def test_recency_ranks_later_orders_higher_so_a_cut_moving_later_demotes_the_customers_it_passes():
    old = Boundaries({d: Cuts(((10, "a"), (20, "a"), (30, "a"), (40, "a"))) for d in DIMENSIONS}, 10, 1)
    new = Boundaries({**old.cuts, "r": Cuts(((10, "a"), (20, "a"), (30, "a"), (45, "a")))}, 10, 2)
    assert intervals(old, new) == {"r": [Interval((40, "a"), (45, "a"))], "f": [], "m": [], "aov": []}
    assert old.score_values("x", (42, 0, 0, 0)).r == 5 and new.score_values("x", (42, 0, 0, 0)).r == 4
    assert moves(old, new, (42, 0, 0, 0), "x") and not moves(old, new, (46, 0, 0, 0), "x")


def test_everyone_moves_without_old_cuts_or_without_new_ones():
    some = boundaries({"a": (1, 1, 1, 1), "b": (2, 2, 2, 2)}, 3)
    for old, new in [(Boundaries(), some), (boundaries({"a": (1, 1, 1, 1)}, 0), some),
                     (some, Boundaries(version=4)), (some, Boundaries({"r": some.cuts["r"]}, 2, 4))]:
        assert rescores_everyone(old, new)
        assert intervals(old, new) == {d: [EVERY_KEY] for d in DIMENSIONS}
        assert moves(old, new, (1, 1, 1, 1), "a") and moves(old, new, (99, 99, 99, 99), "zz")
    assert not rescores_everyone(some, boundaries({"a": (1, 1, 1, 1)}, 4))


def test_few_movers_in_a_large_population_after_a_steady_stream_recompute():
    rng = random.Random(15)
    for _ in range(5):
        before = {str(rng.randrange(10**7)): (rng.randrange(1000), rng.choice((1, 1, 1, 2, 2, 3, 5)),
                                             rng.randrange(10**5), rng.randrange(5000)) for _ in range(5000)}
        after = dict(before)
        for cid in rng.sample(sorted(before), 50):  # new orders: the latest time, one more order, more money
            r, f, m, a = after[cid]
            after[cid] = (2000, f + 1, m + 700, (m + 700) // (f + 1))
        old, new = boundaries(before, 7), boundaries(after, 8)
        expected = changed(old, new, after)
        assert found(old, new, after) == expected
        assert 0 < len(expected) < len(after) // 10


@settings(max_examples=300, deadline=None)
@given(st.lists(populations, min_size=2, max_size=5), populations)
def test_a_chain_of_moves_covers_everyone_scored_differently_under_some_version(chain_populations, customers):
    chain = [boundaries(p, v + 1) for v, p in enumerate(chain_populations)]
    spans = chain_intervals(chain)
    last = chain[-1]
    everyone = with_cut_customers(customers, *chain)
    for cid, v in everyone.items():
        differs = any(b.score_values(cid, v) != last.score_values(cid, v) for b in chain)
        inside = any(within(spans[d], (value, cid)) for d, value in zip(DIMENSIONS, v))
        assert inside or not differs, (cid, v)
    for d in DIMENSIONS:
        assert all(a.hi < b.lo for a, b in zip(spans[d], spans[d][1:]))
    if len(chain) == 2:
        assert spans == intervals(chain[0], chain[1])
