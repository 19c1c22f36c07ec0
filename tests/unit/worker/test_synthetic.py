"""The synthetic stream the benchmarks replay: skewed, but inside the per-customer limit, and reproducible."""

from __future__ import annotations

from collections import Counter
from itertools import islice

import numpy as np
import orjson
import pytest

from stream_app.core.fold import MAX_FACTS
from stream_app.core.timeutil import parse_rfc3339
from stream_app.errors import RfmError
from stream_app.tools.synthetic import START_US, TAIL_CAP, YEAR_US, capped_shares, generate


def test_no_customer_passes_the_limit_of_orders_and_returns():
    """200,000 events of 2,000 customers: the uncut Pareto tail of this seed gives one customer about 8,300."""
    counts = Counter(key for key, _ in generate(2_000, 200_000, seed=11))
    assert len(counts) == 2_000
    busiest = max(counts.values())
    assert TAIL_CAP * MAX_FACTS * 0.9 < busiest <= MAX_FACTS  # the tail is cut, not flattened


def test_the_same_seed_gives_the_same_stream():
    first = list(islice(generate(500, 5_000, seed=3), 200))
    assert first == list(islice(generate(500, 5_000, seed=3), 200))
    assert first != list(islice(generate(500, 5_000, seed=4), 200))


@pytest.mark.parametrize("start_us", [START_US, START_US + 3 * YEAR_US])
def test_the_events_span_the_year_from_their_start(start_us):
    """The latency benchmark dates a history over the year before its run, so the live probes continue it."""
    times = [parse_rfc3339(orjson.loads(value)["occurred_at"]) for _, value in generate(300, 3_000, 5, start_us)]
    assert times == sorted(times)
    assert start_us <= times[0] and times[-1] < start_us + YEAR_US
    assert times[-1] - times[0] > YEAR_US * 0.9


def test_capped_shares_spread_the_excess_and_keep_the_order():
    shares = capped_shares(np.array([100.0, 50.0, 1.0, 1.0, 2.0]), most=0.3)
    assert shares.sum() == pytest.approx(1.0)
    assert shares.max() <= 0.3 + 1e-12
    assert shares[4] > shares[2] == shares[3]
    assert capped_shares(np.array([5.0, 1.0]), most=0.5) == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError, match="cannot share"):
        capped_shares(np.ones(3), most=0.3)


def test_more_events_than_the_customers_may_hold_is_a_clear_error():
    with pytest.raises(RfmError, match="100,000 events are too many for 10 customers"):
        next(generate(10, 100_000))
    assert sum(1 for _ in generate(10, 40_000)) == 40_000  # 4,000 each: the most the cut allows
