"""The fold conventions: distinct orders, returns, duplicates, snapshots, arrival order."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from stream_app.core.fold import CustomerState, apply, fold
from stream_app.core.model import OrderEvent
from stream_app.core.scoring import score_states

DAY = 86_400_000_000


def order(cid, oid, cents, day, typ="order", channel=None, cats=()):
    return OrderEvent(typ, cid, day * DAY, order_id=oid, amount_cents=cents, channel=channel, categories=tuple(cats))


def snapshot(cid, day, orders, cents, first_day, channel=None):
    return OrderEvent("snapshot", cid, day * DAY, orders=orders, monetary_cents=cents,
                      first_order_us=first_day * DAY, last_order_us=day * DAY, channel=channel)


def totals(events):
    return fold(events)["c"].totals()


def test_frequency_counts_distinct_orders_and_returns_only_lower_monetary():
    t = totals([order("c", "1", 1000, 1), order("c", "2", 500, 3), order("c", "C9", -300, 9, "return")])
    assert (t.frequency, t.monetary_cents, t.first_order_us, t.last_order_us) == (2, 1200, 1 * DAY, 3 * DAY)


def test_zero_amount_order_is_still_an_order():
    t = totals([order("c", "1", 0, 2)])
    assert t.frequency == 1 and t.monetary_cents == 0 and t.scored


def test_identical_duplicate_is_ignored_and_does_not_change_state():
    state, changed = apply(None, order("c", "1", 1000, 1))
    assert changed and state.seq == 1
    state, changed = apply(state, order("c", "1", 1000, 1))
    assert not changed and state.seq == 1
    assert state.totals().frequency == 1 and state.totals().monetary_cents == 1000


def test_conflicting_duplicate_keeps_the_same_version_whatever_the_arrival_order():
    a, b = order("c", "1", 1000, 1), order("c", "1", 900, 1)
    assert totals([a, b]).monetary_cents == totals([b, a]).monetary_cents == 900
    assert totals([a, b]).frequency == 1


def test_a_return_may_reuse_an_order_id_without_being_taken_as_a_duplicate():
    t = totals([order("c", "1", 1000, 1), order("c", "1", -1000, 2, "return")])
    assert t.frequency == 1 and t.monetary_cents == 0 and t.last_order_us == 1 * DAY


def test_customer_with_only_returns_is_kept_but_not_scored():
    states = fold([order("c", "C1", -500, 1, "return"), order("d", "1", 100, 1)])
    assert "c" in states and not states["c"].totals().scored
    assert set(score_states(states)) == {"d"}


def test_snapshot_counts_and_orders_after_it_add_up():
    t = totals([snapshot("c", 10, 4, 40000, 1), order("c", "old", 999, 5), order("c", "new", 1000, 12)])
    assert (t.frequency, t.monetary_cents, t.first_order_us, t.last_order_us) == (5, 41000, 1 * DAY, 12 * DAY)


def test_latest_snapshot_wins_in_any_order():
    old, new = snapshot("c", 10, 4, 40000, 1), snapshot("c", 20, 6, 50000, 1)
    assert totals([old, new]).frequency == totals([new, old]).frequency == 6


def test_channel_is_the_latest_orders_and_categories_the_union():
    t = totals([order("c", "1", 1, 1, channel="web", cats=["A"]), order("c", "2", 1, 5, channel="app", cats=["B", "A"]),
                order("c", "3", 1, 3, channel="store")])
    assert t.channel == "app" and t.categories == ("A", "B")


events_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]),
        st.sampled_from(["order", "order", "order", "return", "snapshot"]),
        st.integers(0, 6),  # order id
        st.integers(0, 50_000),
        st.integers(1, 30),  # day
    ),
    min_size=1,
    max_size=80,
)


def to_events(specs):
    out = []
    for cid, typ, oid, cents, day in specs:
        if typ == "snapshot":
            out.append(snapshot(cid, day, cents % 7, cents, max(1, day - 3)))
        else:
            out.append(order(cid, f"o{oid}", -cents if typ == "return" else cents, day, typ))
    return out


@settings(max_examples=150)
@given(events_strategy, st.randoms(use_true_random=False))
def test_scores_never_depend_on_arrival_order_or_repeats(specs, rnd: random.Random):
    events = to_events(specs)
    shuffled = events + rnd.sample(events, k=len(events) // 2)
    rnd.shuffle(shuffled)
    expected = {cid: (t.frequency, t.monetary_cents, t.last_order_us, s) for cid, (t, s) in score_states(fold(events)).items()}
    got = {cid: (t.frequency, t.monetary_cents, t.last_order_us, s) for cid, (t, s) in score_states(fold(shuffled)).items()}
    assert got == expected


def test_state_defaults():
    assert CustomerState("x").totals().scored is False
