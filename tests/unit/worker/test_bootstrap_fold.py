"""bootstrap's column-wise fold leaves, customer for customer, the state apply() leaves event by event.

Equal down to what the Table stores: the facts in their insertion order (the
changelog value lists them so), seq, the snapshot and categories, the order of
the customers, and the events refused and counted; and the plain customers'
totals it takes from the columns equal those of the states apply() leaves.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from stream_app.adapters.frame import events_to_frame
from stream_app.core.fold import MAX_FACTS
from stream_app.core.model import OrderEvent
from stream_app.core import stored as codec
from stream_app.worker.bootstrap import BootstrapResult, fold_frame, fold_history

T0 = 1_600_000_000_000_000


def assert_same_fold(evs: list[OrderEvent]) -> None:
    frame = events_to_frame(evs).in_time_order()
    expected, got = BootstrapResult(), BootstrapResult()
    by_event = fold_history(frame.events(), expected)
    totals = {}
    by_column = fold_frame(frame, got, totals)
    assert list(by_column) == list(by_event)
    for cid, t in totals.items():  # the plain customers' totals, taken from the columns
        assert t == by_event[cid].totals(), cid
    for cid, state in by_event.items():
        assert by_column[cid] == state, cid
        assert list(by_column[cid].orders.items()) == list(state.orders.items()), cid
        assert list(by_column[cid].returns.items()) == list(state.returns.items()), cid
        assert codec.encode(codec.Stored(by_column[cid])) == codec.encode(codec.Stored(state))
    assert (got.events, got.refused) == (expected.events, expected.refused)


def history(rng: random.Random, customers: int, n: int) -> list[OrderEvent]:
    """Plain customers mostly, and every kind of event that makes a customer not plain."""
    evs = []
    for i in range(n):
        cid = f"c{rng.randrange(customers)}"
        t = T0 + rng.randrange(n // 2 + 1) * 60_000_000  # equal times happen
        roll = rng.random()
        channel = rng.choice([None, "web", "app"])
        if roll < 0.05:
            evs.append(OrderEvent("snapshot", cid, t, orders=rng.randrange(5), monetary_cents=rng.randrange(10**5),
                                  first_order_us=t - 10**9, last_order_us=t, channel=channel))
        elif roll < 0.15:  # a return of an order id that may also be an order's
            evs.append(OrderEvent("return", cid, t, f"o{rng.randrange(i + 1)}", -rng.randrange(5000), channel=channel))
        elif roll < 0.2:  # the same order again, maybe disagreeing
            evs.append(OrderEvent("order", cid, t, f"o{rng.randrange(i + 1)}", rng.randrange(3), channel=channel))
        elif roll < 0.23:
            evs.append(OrderEvent("order", cid, t, "L" * rng.choice([32, 33, 100]) + str(i), 100, channel=channel))
        elif roll < 0.26:
            evs.append(OrderEvent("order", cid, t, f"o{i}", 100, categories=tuple(rng.sample("ABC", 2))))
        else:
            evs.append(OrderEvent("order", cid, t, f"o{i}", rng.randrange(90000), channel=channel))
    return evs


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), customers=st.integers(1, 30), n=st.integers(0, 300))
def test_column_fold_equals_apply(seed, customers, n):
    assert_same_fold(history(random.Random(seed), customers, n))


def test_plain_histories():
    rng = random.Random(5)
    kinds = [rng.choice(["order", "return"]) for _ in range(2000)]
    assert_same_fold([OrderEvent(k, f"c{rng.randrange(50)}", T0 + i, f"o{i}", (1 if k == "order" else -1) * rng.randrange(100))
                      for i, k in enumerate(kinds)])


def test_a_customer_over_the_fact_limit_is_refused_as_apply_refuses():
    evs = [OrderEvent("order", "big", T0 + i, f"o{i}", 1) for i in range(MAX_FACTS + 3)]
    evs += [OrderEvent("order", "at-limit", T0 + i, f"o{i}", 1) for i in range(MAX_FACTS)]
    assert_same_fold(evs)


def test_colliding_hashes_only_send_customers_to_apply(monkeypatch):
    """maybe_repeated may flag rows that do not repeat (a hash collision); the fold stays exact."""
    import numpy as np
    import pandas

    monkeypatch.setattr(pandas.util, "hash_array", lambda values, categorize=False: np.zeros(len(values), np.uint64))
    for seed in range(5):
        assert_same_fold(history(random.Random(seed), 20, 300))


def test_maybe_repeated_finds_the_repeats():
    import numpy as np

    from stream_app.worker.bootstrap import maybe_repeated

    rng = random.Random(3)
    rows = [(rng.randrange(5), rng.random() < 0.3, f"o{rng.randrange(40)}") for _ in range(500)]
    codes = np.array([c for c, _, _ in rows])
    returns = np.array([r for _, r, _ in rows])
    ids = np.array([o for _, _, o in rows], dtype=object)
    flagged = maybe_repeated(codes, returns, ids)
    assert flagged.tolist() == [rows.count(row) > 1 for row in rows]  # 500 rows: no collision of 64-bit hashes
