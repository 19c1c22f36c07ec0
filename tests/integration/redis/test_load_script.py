"""A bootstrap's bulk load leaves Redis exactly as the worker's judging script leaves a fresh deployment.

The same profiles (several segments, audiences none to several, a customer no longer scored, more
customers than one script call takes, ties of rank values) are written under two prefixes of the real
Redis: one through ``ProfileWriter.write`` (write_profiles.lua, the worker's path), one through
``ProfileWriter.load`` and ``load_index`` (load_profiles.lua, load_rank_index.lua). Every key and value
must be the same but for the prefix, so the scripts cannot drift apart on the profile contract; the one
exception is how far ``index_changes`` counted, whose contract is only that it moves with the index.
"""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest
import redis.asyncio as aioredis

from stream_app.core.profile import ProfileWrite, WriteStatus
from stream_app.redis.profiles import ProfileWriter

pytestmark = pytest.mark.integration

SEGMENTS = ["champions", "loyal_customers", "at_risk", "hibernating", "new_customers"]
AUDIENCES = ["big_spenders", "lapsed", "online_only", "winback"]


def _writes(n: int, seed: int = 3) -> list[ProfileWrite]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cid = f"c{i:05d}"
        if i % 97 == 0:  # scored once, then every order returned: no segment, no rank
            out.append(ProfileWrite(cid, seq=3, boundaries_version=1, segment="", ranks=(0, 0, 0, 0),
                                    fields=("updated_at", "2026-12-02T07:00:00Z")))
            continue
        ranks = (1_700_000_000_000_000 + rng.randrange(10**12), rng.randrange(1, 40), rng.randrange(100, 10**7),
                 rng.choice([500, 1_000, rng.randrange(100, 10**6)]))
        audiences = tuple(sorted(rng.sample(AUDIENCES, rng.randrange(0, 4))))
        out.append(ProfileWrite(cid, seq=rng.randrange(1, 50), boundaries_version=1, segment=rng.choice(SEGMENTS),
                                ranks=ranks, audiences=audiences,
                                fields=("r_score", str(rng.randrange(1, 6)), "f_score", "2", "m_score", "3",
                                        "aov_score", "4", "monetary", f"{ranks[2] / 100:.2f}",
                                        "updated_at", "2026-12-02T07:00:00Z")))
    return out


def _index_entries(writes: list[ProfileWrite]) -> tuple[list[str], list[np.ndarray]]:
    """What a bootstrap's ``Ranked`` holds of these customers: the scored ones and their rank values."""
    scored = [w for w in writes if w.segment]
    return [w.customer_id for w in scored], [np.array([w.ranks[i] for w in scored], np.int64) for i in range(4)]


async def _load(writer: ProfileWriter, writes: list[ProfileWrite]) -> int:
    """A bootstrap's writes of these profiles: the rank index first, then the hashes and sets."""
    await writer.load_index(*_index_entries(writes))
    return await writer.load(writes)


async def _dump(client: aioredis.Redis, prefix: str) -> dict[bytes, object]:
    """Every key under ``prefix`` (named without it) and its value, whatever its type."""
    out: dict[bytes, object] = {}
    async for key in client.scan_iter(match=prefix + "*", count=1000):
        kind = await client.type(key)
        name = key[len(prefix):]
        if kind == b"hash":
            out[name] = await client.hgetall(key)
        elif kind == b"set":
            out[name] = await client.smembers(key)
        elif kind == b"zset":
            out[name] = await client.zrange(key, 0, -1, withscores=True)
        else:
            out[name] = await client.get(key)
    return out


def test_load_leaves_what_the_judging_script_leaves(redis_url, redis_prefix):
    writes = _writes(1_300)

    async def go():
        client = aioredis.Redis.from_url(redis_url)
        try:
            judged, loaded = ProfileWriter(client, redis_prefix + "w"), ProfileWriter(client, redis_prefix + "l")
            statuses = await judged.write(writes)
            assert {s for s, _ in statuses} == {WriteStatus.WRITTEN}
            assert await _load(loaded, writes) == len(writes)
            return await _dump(client, redis_prefix + "w"), await _dump(client, redis_prefix + "l")
        finally:
            await client.aclose()

    by_script, by_load = asyncio.run(go())
    assert len(by_script) > len(writes)  # the hashes, and the segment, audience and rank keys
    assert len(by_script[b":rank:f"]) == len(_index_entries(writes)[0])
    counted = [int(by.pop(b":index_changes")) for by in (by_script, by_load)]
    assert all(n > 0 for n in counted)
    assert by_load == by_script


def test_loading_the_same_profiles_again_changes_nothing(redis_url, redis_prefix):
    """A bootstrap killed midway loads again: the second load of a batch leaves what the first left."""
    writes = _writes(600, seed=5)

    async def go():
        client = aioredis.Redis.from_url(redis_url)
        try:
            writer = ProfileWriter(client, redis_prefix)
            await _load(writer, writes)
            once = await _dump(client, redis_prefix)
            await _load(writer, writes)
            twice = await _dump(client, redis_prefix)
            return once, twice
        finally:
            await client.aclose()

    once, twice = asyncio.run(go())
    assert any(k.endswith(b"index_changes") for k in once)
    assert twice == once  # the index did not move, so not even its change counter did
