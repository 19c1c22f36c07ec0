"""The movers read from the real Redis rank index equal the customers whose scores differ when all are rescored."""

import asyncio
import random

import pytest
import redis.asyncio as aioredis

from stream_app.core.movers import Interval
from stream_app.core.quintiles import DIMENSIONS, Cuts, cuts_from_sorted
from stream_app.core.scoring import Boundaries
from stream_app.redis.movers import MoverQuery
from stream_app.redis.keys import rank_key

pytestmark = pytest.mark.integration

# multi-byte ids too: Redis orders members by UTF-8 bytes, Python by code points, and the two orders agree
ALPHABET = "abcAZ09éz€"


def boundaries(population: dict[str, tuple[int, ...]], version: int) -> Boundaries:
    cuts = {d: cuts_from_sorted(sorted((v[i], cid) for cid, v in population.items())) for i, d in enumerate(DIMENSIONS)}
    return Boundaries(cuts=cuts, customers=len(population), version=version)


def changed(old: Boundaries, new: Boundaries, population: dict[str, tuple[int, ...]]) -> set[str]:
    return {cid for cid, v in population.items() if old.score_values(cid, v) != new.score_values(cid, v)}


def write_index(client, prefix: str, population: dict[str, tuple[int, ...]]) -> None:
    """The rank index as the profile writes leave it: four sorted sets holding the same customers."""
    pipe = client.pipeline(transaction=False)
    for i, d in enumerate(DIMENSIONS):
        pipe.delete(rank_key(prefix, d))
        if population:
            pipe.zadd(rank_key(prefix, d), {cid: v[i] for cid, v in population.items()})
    pipe.execute()


def movers(redis_url: str, prefix: str, old: Boundaries, new: Boundaries, page: int) -> set[str]:
    async def go() -> set[str]:
        client = aioredis.from_url(redis_url)
        try:
            return await MoverQuery(client, prefix, page).movers(old, new)
        finally:
            await client.aclose()

    return asyncio.run(go())


def random_population(rng: random.Random, n: int, spread: int, base: int) -> dict[str, tuple[int, ...]]:
    ids = {"".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 4))) for _ in range(n)}
    return {cid: tuple(base + rng.randint(-spread, spread) for _ in DIMENSIONS) for cid in ids}


def test_movers_of_random_recomputes_equal_the_customers_whose_scores_differ(redis_client, redis_url, redis_prefix):
    rng = random.Random(20261130)
    for trial in range(120):
        # values around epoch microseconds (R) or below zero (M after returns), few of them: many ties
        base = rng.choice((0, -50, 1_764_547_200_000_000))
        before = random_population(rng, rng.randint(1, 60), rng.choice((1, 3, 20)), base)
        after = dict(before)
        for cid in rng.sample(sorted(before), rng.randint(0, len(before))):
            after[cid] = tuple(v + rng.randint(-3, 3) for v in after[cid])
        after.update(random_population(rng, rng.randint(0, 5), 3, base))
        for cid in rng.sample(sorted(after), rng.randint(0, min(3, len(after) - 1))):
            del after[cid]
        old, new = boundaries(before, 1 + trial % 2), boundaries(after, 3)
        prefix = f"{redis_prefix}{trial}"
        write_index(redis_client, prefix, after)
        page = rng.choice((1, 2, 7, 5000))
        assert movers(redis_url, prefix, old, new, page) == changed(old, new, after), (trial, page)


def test_cut_keys_inside_a_large_tie_group_and_customers_on_them(redis_client, redis_url, redis_prefix):
    # 3000 customers with a frequency of 1 (the usual case): the cut keys fall inside the tie group
    population = {f"c{i:05d}": (i, 1 if i < 3000 else 2 + i % 7, i % 13, -(i % 5)) for i in range(4000)}
    write_index(redis_client, redis_prefix, population)
    keys = sorted((v[1], c) for c, v in population.items())
    old = Boundaries({d: Cuts(tuple(keys[i] for i in (400, 1100, 2000, 3500))) for d in DIMENSIONS}, 4000, 5)
    new = Boundaries({d: Cuts(tuple(keys[i] for i in (410, 1090, 2000, 3600))) for d in DIMENSIONS}, 4000, 6)
    expected = changed(old, new, population)
    # (400, 410] and (1090, 1100] of the tie group and (3500, 3600] above it, on every dimension's own values
    assert {keys[i][1] for i in [*range(401, 411), *range(1091, 1101), *range(3501, 3601)]} <= expected
    for page in (1, 9, 5000):
        assert movers(redis_url, redis_prefix, old, new, page) == expected


def test_everyone_is_read_when_there_are_no_old_cuts(redis_client, redis_url, redis_prefix):
    population = {f"{i}": (i, i % 3, i % 11, i % 4) for i in range(1234)}
    write_index(redis_client, redis_prefix, population)
    assert movers(redis_url, redis_prefix, Boundaries(), boundaries(population, 1), 100) == set(population)


def test_an_interval_with_open_and_closed_ends_reads_exactly_its_keys(redis_client, redis_url, redis_prefix):
    # one customer per key, so the ids found name the keys found
    population = {f"{v}{c}": (v, 0, 0, 0) for v in (4, 5, 6) for c in "abcde"}
    write_index(redis_client, redis_prefix, population)

    async def go(span: Interval) -> set[str]:
        client = aioredis.from_url(redis_url)
        try:
            return await MoverQuery(client, redis_prefix, 2).members({"r": [span]})
        finally:
            await client.aclose()

    for lo in ((5, "5c"), (5, "5cc"), (4, "")):
        for lo_in in (False, True):
            for hi_in in (False, True):
                span = Interval(lo, (6, "6b"), lo_in, hi_in)
                expected = {c for c, v in population.items() if (v[0], c) in span}
                assert asyncio.run(go(span)) == expected, span
    assert asyncio.run(go(Interval((5, "5c"), (6, "6b"), False, True))) == {"5d", "5e", "6a", "6b"}
