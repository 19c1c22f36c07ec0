"""The profile script on the real Redis: versions never go back, sets and the rank index stay exact."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from stream_app.core.quintiles import cut_ranks
from stream_app.core.profile import ProfileWrite, WriteStatus
from stream_app.redis.boundaries import BoundaryStore
from stream_app.redis.profiles import ProfileWriter
from stream_app.worker.boundaries import Published

pytestmark = pytest.mark.integration


def w(cid: str, seq: int, bv: int, seg: str, ranks=(10, 1, 100, 100)) -> ProfileWrite:
    return ProfileWrite(cid, seq, bv, seg, ranks, ("r_score", "1"))


def test_versions_never_go_back_and_segment_sets_follow(redis_url, redis_client, redis_prefix):
    p = redis_prefix

    async def go():
        client = aioredis.Redis.from_url(redis_url)
        writer = ProfileWriter(client, p)
        first = await writer.write([w("a", 2, 1, "loyal"), w("b", 1, 0, "new")])
        again = await writer.write([w("a", 2, 1, "loyal")])  # a replay of the same state
        older = await writer.write([w("a", 1, 1, "new"), w("a", 3, 0, "new")])  # older seq, older boundaries
        newer = await writer.write([w("a", 3, 1, "at_risk", (20, 2, 150, 75))])
        await client.script_flush()  # Redis lost its scripts: reloaded and retried
        leave = await writer.write([w("b", 2, 0, "")])  # b has no order any more: leaves sets and index
        await client.aclose()
        return first, again, older, newer, leave

    first, again, older, newer, leave = asyncio.run(go())
    assert [s for s, _ in first] == [WriteStatus.WRITTEN, WriteStatus.WRITTEN]
    assert again == [(WriteStatus.SAME, 1)]
    assert [s for s, _ in older] == [WriteStatus.STALE, WriteStatus.STALE]
    assert newer == [(WriteStatus.WRITTEN, 0)] and leave == [(WriteStatus.WRITTEN, 0)]
    r = redis_client
    assert r.hget(f"{p}:customer:a", "version") == b"4" and r.hget(f"{p}:customer:a", "segment") == b"at_risk"
    assert r.smembers(f"{p}:segment:at_risk") == {b"a"}
    assert not r.exists(f"{p}:segment:loyal") and not r.exists(f"{p}:segment:new")
    assert r.zrange(f"{p}:rank:aov", 0, -1, withscores=True) == [(b"a", 75.0)]
    assert int(r.get(f"{p}:index_changes")) == 4  # one per write that moved the index: a, b added; a moved; b left


def test_cuts_from_the_rank_index_are_exact_and_ties_go_by_customer_id(redis_url, redis_client, redis_prefix):
    p = redis_prefix
    big = 2**53 - 1  # the largest integer a Redis score holds exactly
    values = {f"{i:05d}": (big - (i % 7), i % 3, -i, i // 10) for i in range(1001)}

    async def go():
        client = aioredis.Redis.from_url(redis_url)
        writer = ProfileWriter(client, p)
        await writer.write([w(cid, 1, 0, "x", v) for cid, v in values.items()])
        store = BoundaryStore(client, p)
        published, bumped = await store.compute(Published.from_bytes(None))
        again = await store.compute(published)
        await client.aclose()
        return published, bumped, again

    published, bumped, again = asyncio.run(go())
    assert bumped and published.boundaries.version == 1 and published.boundaries.customers == 1001
    for d, i in zip(("r", "f", "m", "aov"), range(4)):
        ordered = sorted((v[i], cid) for cid, v in values.items())
        assert published.boundaries.cuts[d].keys == tuple(ordered[q - 1] for q in cut_ranks(1001)), d
    assert again is not None and again[1] is False and again[0].boundaries.version == 1


def test_a_replay_under_newer_boundaries_keeps_the_profile_when_its_scoring_is_unchanged(
        redis_url, redis_client, redis_prefix):
    """Same events (seq), newer boundaries: kept when the scores and segment are those stored, so the change
    event re-published for it carries the first publication's version; rewritten when they differ."""
    p = redis_prefix

    def scored(cid, seq, bv, seg, r):
        return ProfileWrite(cid, seq, bv, seg, (10, 1, 100, 100),
                            ("r_score", r, "f_score", "1", "m_score", "2", "aov_score", "3"))

    async def go():
        client = aioredis.Redis.from_url(redis_url)
        writer = ProfileWriter(client, p)
        await writer.write([scored("a", 4, 1, "loyal", "4"), scored("b", 4, 1, "loyal", "4")])
        replay = await writer.write([scored("a", 4, 2, "loyal", "4"), scored("b", 4, 2, "loyal", "5")])
        await client.aclose()
        return replay

    assert asyncio.run(go()) == [(WriteStatus.KEPT, 1), (WriteStatus.WRITTEN, 0)]
    r = redis_client
    assert r.hmget(f"{p}:customer:a", "boundaries_version", "version") == [b"1", b"5"]
    assert r.hmget(f"{p}:customer:b", "boundaries_version", "version", "r_score") == [b"2", b"6", b"5"]


def test_a_rescore_write_leaves_the_rank_indexes_untouched(redis_url, redis_client, redis_prefix):
    """The same events (seq) rank the same: a write under newer boundaries only (a rescore's) runs no ZADD,
    which was a sixth of Redis' time per rescored customer; a write of new events still moves the index."""
    p = redis_prefix

    def zadds() -> int:
        return int(redis_client.info("commandstats").get("cmdstat_zadd", {}).get("calls", 0))

    async def write(*writes: ProfileWrite):
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await ProfileWriter(client, p).write(list(writes))
        finally:
            await client.aclose()

    asyncio.run(write(w("a", 2, 1, "loyal"), w("b", 1, 1, "new")))
    before = zadds()
    rescored = asyncio.run(write(w("a", 2, 2, "champions"), w("b", 1, 2, "at_risk")))
    assert [s for s, _ in rescored] == [WriteStatus.WRITTEN, WriteStatus.WRITTEN]
    assert zadds() == before
    assert redis_client.smembers(f"{p}:segment:champions") == {b"a"}
    assert asyncio.run(write(w("a", 3, 2, "champions", (20, 2, 150, 75)))) == [(WriteStatus.WRITTEN, 0)]
    assert zadds() == before + 4
    assert redis_client.zscore(f"{p}:rank:aov", "a") == 75.0 and redis_client.zscore(f"{p}:rank:aov", "b") == 100.0
    assert int(redis_client.get(f"{p}:index_changes")) == 3  # a and b added, a moved
