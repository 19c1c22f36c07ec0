"""The leader's publication keeps the last BOUNDARY_HISTORY versions readable by number, written in the same
compare-and-set as the latest record, so a new owner can compare every version since a partition's last
rescore (docs/decisions/rescore-movers.md)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from stream_app.core.profile import ProfileWrite
from stream_app.redis import keys
from stream_app.redis.boundaries import BOUNDARY_HISTORY, BoundaryStore
from stream_app.redis.profiles import ProfileWriter
from stream_app.worker.boundaries import Published

pytestmark = pytest.mark.integration


def w(cid: str, value: int) -> ProfileWrite:
    return ProfileWrite(cid, 1, 0, "x", (value, value, value, value), ("r_score", "1"))


def test_the_last_versions_stay_readable_and_older_ones_are_deleted(redis_url, redis_prefix):
    p = redis_prefix
    versions = BOUNDARY_HISTORY + 4

    async def go():
        client = aioredis.Redis.from_url(redis_url)
        try:
            writer, store = ProfileWriter(client, p), BoundaryStore(client, p)
            cur = await store.load()
            published = {}
            for i in range(versions):
                await writer.write([w(f"c{i}-{j}", 1000 * i + j) for j in range(7)])  # the cuts move every time
                cur, bumped = await store.compute(cur)
                assert bumped
                published[cur.boundaries.version] = cur
            stale = await store.compute(published[3])  # a leader that missed the later versions publishes nothing
            kept = await store.published_between(versions - BOUNDARY_HISTORY + 1, versions)
            too_old = await store.published_between(versions - BOUNDARY_HISTORY, versions)
            raw_old = await client.get(keys.boundaries_version_key(p, versions - BOUNDARY_HISTORY))
            unchanged, bumped = await store.compute(cur)  # cuts unchanged: same version, record refreshed
            again = await store.published_between(versions, versions)
            await client.set(keys.boundaries_version_key(p, versions), b"{not json")
            malformed = await store.published_between(versions, versions)
            return published, stale, kept, too_old, raw_old, unchanged, bumped, again, malformed
        finally:
            await client.aclose()

    published, stale, kept, too_old, raw_old, unchanged, bumped, again, malformed = asyncio.run(go())
    assert stale is None
    assert kept == [published[v] for v in range(versions - BOUNDARY_HISTORY + 1, versions + 1)]
    assert too_old is None and raw_old is None
    assert not bumped and again == [unchanged] and unchanged.boundaries == published[versions].boundaries
    assert malformed is None


def test_the_rescored_version_of_a_partition(redis_url, redis_prefix):
    async def go():
        client = aioredis.Redis.from_url(redis_url)
        try:
            store = BoundaryStore(client, redis_prefix)
            before = await store.last_rescore(2)
            await store.mark_rescored(2, 5, "a")
            await store.mark_rescored(2, 4, "b")  # versions recorded only grow, and the rules with them
            older = await store.last_rescore(2)
            await store.mark_rescored(2, 5, "c")  # the same version marked again: the last marker's rules
            return before, older, await store.last_rescore(2), await store.last_rescore(1)
        finally:
            await client.aclose()

    assert asyncio.run(go()) == (None, (5, "a"), (5, "c"), None)


def test_no_history_before_the_first_version(redis_url, redis_prefix):
    async def go():
        client = aioredis.Redis.from_url(redis_url)
        try:
            store = BoundaryStore(client, redis_prefix)
            return await store.published_between(0, 0), await store.published_between(1, 1)
        finally:
            await client.aclose()

    assert asyncio.run(go()) == (None, None)
    assert Published.from_bytes(None).boundaries.version == 0
