"""A synthetic order stream for benchmarks: realistic skew, reproducible from a seed.

Customer activity follows a Pareto law (a few customers order very often,
most once or twice, as in retail data), with its tail cut so that no customer
is expected to get more than ``TAIL_CAP`` of the per-customer limit of orders
and returns (``MAX_FACTS``): an uncut tail gave one customer of 10,000 about
29,000 of 900,000 events, a customer the worker and the batch job both refuse
past the limit, so the stream could no longer be compared with the batch.
Amounts are log-normal (median ~30);
about 3% of events are returns of part of an earlier amount. Events are in
time order over one year, keyed and shaped like the canonical events replay sends.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import orjson

from stream_app.core.fold import MAX_FACTS
from stream_app.core.timeutil import format_us, parse_rfc3339
from stream_app.errors import RfmError

START_US = parse_rfc3339("2024-01-01T00:00:00Z")
YEAR_US = 365 * 86_400_000_000
#: the largest expected share of MAX_FACTS one customer gets; the margin covers the draw's noise
#: (at 4,000 expected events the standard deviation is about 63, so 5,000 is 15 of them away)
TAIL_CAP = 0.8


def capped_shares(weights: np.ndarray, most: float) -> np.ndarray:
    """Probabilities proportional to ``weights``, none above ``most``: the excess is spread over the others.

    Cutting the largest shares to ``most`` and rescaling the rest can lift
    others past it, so this repeats until none is; each pass caps at least one
    more customer, so it ends.
    """
    p = weights / weights.sum()
    if most * len(p) < 1.0:
        raise ValueError(f"{len(p)} customers cannot share all events with none above {most:.3g}")
    capped = np.zeros(len(p), dtype=bool)
    while True:
        over = ~capped & (p > most)
        if not over.any():
            return p
        capped |= over
        if capped.all():  # most * customers is exactly 1
            return np.full(len(p), 1.0 / len(p))
        free = 1.0 - most * capped.sum()
        p = np.where(capped, most, p / p[~capped].sum() * free)


def generate(customers: int, events: int, seed: int = 7, start_us: int = START_US) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) records over the year from ``start_us``."""
    most = int(TAIL_CAP * MAX_FACTS) * customers
    if events > most:
        raise RfmError(f"{events:,} events are too many for {customers:,} customers: a customer may hold "
                       f"{MAX_FACTS:,} orders and returns, and the synthetic stream keeps each under "
                       f"{int(TAIL_CAP * MAX_FACTS):,}, so at most {most:,} events")
    rng = np.random.default_rng(seed)
    weights = rng.pareto(1.3, customers) + 1.0
    shares = capped_shares(weights, TAIL_CAP * MAX_FACTS / max(events, 1))
    who = rng.choice(customers, size=events, p=shares)
    # every customer appears at least once when there are enough events
    head = min(customers, events)
    who[:head] = rng.permutation(customers)[:head]
    rng.shuffle(who)
    times = np.sort(rng.integers(0, YEAR_US, size=events)) + start_us
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


def generate_lines(customers: int, events: int, seed: int = 7, start_us: int = START_US) -> Iterator[bytes]:
    for _, value in generate(customers, events, seed, start_us):
        yield value
