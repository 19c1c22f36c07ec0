"""The write rule in Lua, case by case from the table Python's ``judge`` is also tested with.

Each case runs under its own prefix on the real Redis: ``case.before`` (if any) is written first through
the same ProfileWriter the worker uses, then ``case.write``, whose status must be the table's.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from stream_app.core.profile import WriteStatus
from stream_app.redis.profiles import ProfileWriter
from tests.cases.write_rule import ANNOUNCE_CASES, CASES, announced

pytestmark = pytest.mark.integration


def with_writer(redis_url: str, prefix: str, steps):
    """Run ``steps(writer)`` with a ProfileWriter on the real Redis, and return what it returns."""
    async def go():
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await steps(ProfileWriter(client, prefix))
        finally:
            await client.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_the_script_follows_the_rule_table(case, redis_url, redis_prefix):
    async def steps(writer):
        if case.before is not None:
            assert await writer.write([case.before]) == [(WriteStatus.WRITTEN, 0)]
        if case.pending is not None:
            await writer.announce([(case.write.customer_id, announced(*case.pending))])
            [before] = await writer.read([case.write.customer_id])
            assert before.pending == announced(*case.pending)  # read back as announced
        [(status, stored_bv)] = await writer.write([case.write])
        read = await writer.read([case.write.customer_id])
        return status, stored_bv, read[0]

    status, stored_bv, stored = with_writer(redis_url, redis_prefix, steps)
    assert status is case.status
    if case.pending is not None:
        assert (stored.pending is None) is case.settled
        if case.before is None and status is WriteStatus.STALE:
            return  # nothing but the announcement is stored
    written = case.write if status is WriteStatus.WRITTEN else case.before
    # what Redis holds afterwards: the write if it was applied, else what was there (its version kept)
    assert (stored.seq, stored.boundaries_version, stored.segment) == (
        written.seq, written.boundaries_version, written.segment or None)
    assert stored_bv == (0 if status is WriteStatus.WRITTEN else case.before.boundaries_version)


@pytest.mark.parametrize("case", ANNOUNCE_CASES, ids=[c.name for c in ANNOUNCE_CASES])
def test_the_announce_script_follows_the_rule_table(case, redis_url, redis_prefix):
    async def steps(writer):
        if case.before is not None:
            await writer.write([case.before])
        if case.pending is not None:
            await writer.announce([("c1", announced(*case.pending))])
        await writer.announce([("c1", announced(*case.announced))])
        return (await writer.read(["c1"]))[0]

    stored = with_writer(redis_url, redis_prefix, steps)
    assert (stored.pending == announced(*case.announced)) is case.kept
