"""Customer profiles in Redis: the contract personalization services read, written once per batch.

Keys (prefix ``rfm`` by default, RFM_REDIS_PREFIX):

- ``{prefix}:customer:{id}`` hash: segment, scores, totals, ``version``,
  ``boundaries_version``, ``seq``, ``updated_at``;
- ``{prefix}:segment:{name}`` set of customer ids, kept exact as customers move;
- ``{prefix}:rank:{r|f|m|aov}`` sorted sets, member = customer id, score = the
  exact integer the dimension ranks on: the global rank index the boundaries
  are cut from (see docs/streaming.md);
- ``{prefix}:index_changes`` counter, incremented whenever the rank index changes;
- ``{prefix}:audience:{name}`` set of the customer ids in each audience, kept
  exact the same way as the segment sets (the hash's ``audiences`` field holds
  the names, joined by ``;``).

Everything for one customer happens in one Lua script, atomically: a write
whose (seq, boundaries_version) is older than the stored one is refused, so a
replayed older state never overwrites a newer one, and an equal one is a no-op
(status "same"), which makes re-running a batch after a crash harmless. One
pipeline of EVALSHA per batch: one round trip, not one per event.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

#: write statuses the script returns
STALE, SAME, WRITTEN = -1, 0, 1

WRITE_PROFILE = """
local p, cid, seg = ARGV[1], ARGV[2], ARGV[6]
local seq, bv = tonumber(ARGV[3]), tonumber(ARGV[4])
local h = p .. ':customer:' .. cid
local old = redis.call('HMGET', h, 'seq', 'boundaries_version', 'segment', 'audiences')
local oseg = old[3]
if old[1] then
  local os, ob = tonumber(old[1]), tonumber(old[2])
  if seq < os or bv < ob then return {-1, ob} end
  if seq == os and bv == ob then return {0, ob} end
end
local hset = {'HSET', h, 'seq', ARGV[3], 'boundaries_version', ARGV[4], 'version', ARGV[5], 'segment', seg,
              'audiences', ARGV[11]}
for i = 12, #ARGV do hset[#hset + 1] = ARGV[i] end
redis.call(unpack(hset))
if (old[4] or '') ~= ARGV[11] then
  local before, after = {}, {}
  for a in string.gmatch(old[4] or '', '[^;]+') do before[a] = true end
  for a in string.gmatch(ARGV[11], '[^;]+') do after[a] = true end
  for a in pairs(before) do if not after[a] then redis.call('SREM', p .. ':audience:' .. a, cid) end end
  for a in pairs(after) do if not before[a] then redis.call('SADD', p .. ':audience:' .. a, cid) end end
end
if oseg ~= seg then
  if oseg and oseg ~= '' then redis.call('SREM', p .. ':segment:' .. oseg, cid) end
  if seg ~= '' then redis.call('SADD', p .. ':segment:' .. seg, cid) end
end
local dims = {'r', 'f', 'm', 'aov'}
local moved = 0
for i = 1, 4 do
  local k = p .. ':rank:' .. dims[i]
  if seg == '' then
    moved = moved + redis.call('ZREM', k, cid)
  else
    moved = moved + redis.call('ZADD', k, 'CH', ARGV[6 + i], cid)
  end
end
if moved > 0 then redis.call('INCR', p .. ':index_changes') end
return {1, 0}
"""


@dataclass(frozen=True, slots=True)
class ProfileWrite:
    """One customer's new profile; ``segment`` '' means "no longer scored" (leaves the index)."""

    customer_id: str
    seq: int
    boundaries_version: int
    segment: str
    #: (last_order_us, frequency, monetary_cents, aov_cents)
    ranks: tuple[int, int, int, int]
    #: the remaining hash fields, flattened name, value, ...
    fields: tuple[str, ...]
    #: sorted audience names ('' segment: none)
    audiences: tuple[str, ...] = ()

    def args(self, prefix: str) -> list:
        return [
            prefix,
            self.customer_id,
            self.seq,
            self.boundaries_version,
            self.seq + self.boundaries_version,
            self.segment,
            *self.ranks,
            ";".join(self.audiences),
            *self.fields,
        ]


class ProfileWriter:
    """Batches profile writes into one pipeline of EVALSHA calls."""

    def __init__(self, client: aioredis.Redis, prefix: str):
        self.client = client
        self.prefix = prefix
        self._sha: str | None = None

    async def _load(self) -> str:
        self._sha = await self.client.script_load(WRITE_PROFILE)
        return self._sha

    async def write(self, writes: list[ProfileWrite]) -> list[tuple[int, int]]:
        """Apply every write in one round trip; returns each one's (status, stored boundaries version).

        status is STALE (refused: Redis holds a newer seq or boundaries version), SAME or WRITTEN.
        """
        if not writes:
            return []
        sha = self._sha or await self._load()
        try:
            return await self._run(sha, writes)
        except NoScriptError:  # Redis restarted or flushed its script cache: every write is idempotent
            return await self._run(await self._load(), writes)

    async def _run(self, sha: str, writes: list[ProfileWrite]) -> list[tuple[int, int]]:
        pipe = self.client.pipeline(transaction=False)
        for w in writes:
            pipe.evalsha(sha, 0, *w.args(self.prefix))
        replies = await pipe.execute()
        return [(int(r[0]), int(r[1])) for r in replies]


def customer_key(prefix: str, customer_id: str) -> str:
    return f"{prefix}:customer:{customer_id}"


def segment_key(prefix: str, segment: str) -> str:
    return f"{prefix}:segment:{segment}"


def audience_key(prefix: str, audience: str) -> str:
    return f"{prefix}:audience:{audience}"


def rank_key(prefix: str, dimension: str) -> str:
    return f"{prefix}:rank:{dimension}"


def index_changes_key(prefix: str) -> str:
    return f"{prefix}:index_changes"
