"""A synthetic order stream for benchmarks: realistic skew, reproducible from a seed.

Customer activity follows a Pareto law (a few customers order very often,
most once or twice, as in retail data); amounts are log-normal (median ~30);
about 3% of events are returns of part of an earlier amount. Events are in
time order over one year, keyed and shaped like the canonical events replay sends.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import orjson

from stream_app.core.timeutil import format_us, parse_rfc3339

START_US = parse_rfc3339("2024-01-01T00:00:00Z")
YEAR_US = 365 * 86_400_000_000


def generate(customers: int, events: int, seed: int = 7) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) records."""
    rng = np.random.default_rng(seed)
    weights = rng.pareto(1.3, customers) + 1.0
    who = rng.choice(customers, size=events, p=weights / weights.sum())
    # every customer appears at least once when there are enough events
    head = min(customers, events)
    who[:head] = rng.permutation(customers)[:head]
    rng.shuffle(who)
    times = np.sort(rng.integers(0, YEAR_US, size=events)) + START_US
    cents = np.maximum(1, np.round(rng.lognormal(np.log(3000), 1.0, size=events))).astype(np.int64)
    is_return = rng.random(events) < 0.03
    for i in range(events):
        cid = f"c{who[i]}"
        ret = bool(is_return[i])
        amount = -(int(cents[i]) // 3) / 100 if ret else int(cents[i]) / 100
        value = orjson.dumps({
            "type": "return" if ret else "order",
            "customer_id": cid,
            "occurred_at": format_us(int(times[i])),
            "order_id": f"{'r' if ret else 'o'}{i}",
            "amount": amount,
            "country": "XX",
        })
        yield cid.encode(), value


def generate_lines(customers: int, events: int, seed: int = 7) -> Iterator[bytes]:
    for _, value in generate(customers, events, seed):
        yield value
