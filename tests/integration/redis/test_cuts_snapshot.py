"""The cut keys are read from one state of the rank index: the ranks Python computed for a population size
are only read if no write moved the index since that size was read."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from stream_app.core.profile import ProfileWrite
from stream_app.core.quintiles import DIMENSIONS, Cuts, cut_ranks
from stream_app.redis import keys
from stream_app.redis.boundaries import BoundaryStore
from stream_app.redis.profiles import ProfileWriter

pytestmark = pytest.mark.integration


def w(cid: str, value: int) -> ProfileWrite:
    return ProfileWrite(cid, 1, 0, "x", (value, value, value, value), ("r_score", "1"))


def test_cuts_are_read_only_from_the_index_the_ranks_were_computed_for(redis_url, redis_prefix):
    p = redis_prefix

    async def go():
        client = aioredis.Redis.from_url(redis_url)
        try:
            writer, store = ProfileWriter(client, p), BoundaryStore(client, p)
            empty = await store.read_cuts()
            await writer.write([w(f"c{i}", i) for i in range(11)])
            n = await client.zcard(keys.rank_key(p, "r"))
            changes = await store.index_changes()
            at = [r - 1 for r in cut_ranks(n)]
            index = [*keys.rank_keys(p), keys.index_changes_key(p)]
            before = await store._read(keys=index, args=[changes, n, *at])
            await writer.write([w("c99", 99)])  # the index moves between the size and the cut keys
            after = await store._read(keys=index, args=[changes, n, *at])
            return empty, n, before, after, await store.read_cuts()
        finally:
            await client.aclose()

    empty, n, before, after, (changes, now_n, cuts) = asyncio.run(go())
    assert empty == (0, 0, {d: Cuts(()) for d in DIMENSIONS})
    assert n == 11 and len(before) == 2 * 4 * 4 and after is None
    assert (changes, now_n) == (12, 12)
    ids = sorted([f"c{i}" for i in range(11)] + ["c99"], key=lambda c: int(c[1:]))
    assert cuts["r"].keys == tuple((int(ids[q - 1][1:]), ids[q - 1]) for q in cut_ranks(12))
