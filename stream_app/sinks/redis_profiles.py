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
pipeline per batch (one round trip, not one per event) of a few EVALSHA calls,
each carrying up to ``chunk`` customers as one JSON array that the script
decodes with Redis' built-in cjson: redis-py packing ~40 arguments per
customer in Python took 46 µs a customer, most of the worker's Redis time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from stream_app.core.profile import ProfileWrite, StoredProfile, WriteStatus, profile_fields  # noqa: F401

STALE, SAME, WRITTEN, KEPT = WriteStatus.STALE, WriteStatus.SAME, WriteStatus.WRITTEN, WriteStatus.KEPT

WRITE_PROFILES = """
local p = ARGV[1]
local writes = cjson.decode(ARGV[2])
local out = {}
local dims = {'r', 'f', 'm', 'aov'}
for n = 1, #writes do
  local w = writes[n]  -- cid, seq, bv, version, segment, r, f, m, aov, audiences, field, value, ...
  local cid, seg, auds = w[1], w[5], w[10]
  local seq, bv = tonumber(w[2]), tonumber(w[3])
  local h = p .. ':customer:' .. cid
  local old = redis.call('HMGET', h, 'seq', 'boundaries_version', 'segment', 'audiences')
  local status, stored_bv = 1, 0
  if old[1] then
    local os, ob = tonumber(old[1]), tonumber(old[2])
    if seq < os or bv < ob then status, stored_bv = -1, ob
    elseif seq == os and bv == ob then status, stored_bv = 0, ob
    elseif seq == os then  -- the same events, newer boundaries: a replay after a crash or a takeover?
      local new = {}
      for i = 11, #w, 2 do new[w[i]] = w[i + 1] end
      local cur = redis.call('HMGET', h, 'r_score', 'f_score', 'm_score', 'aov_score')
      if old[3] == seg and old[4] == auds and cur[1] == new['r_score'] and cur[2] == new['f_score']
         and cur[3] == new['m_score'] and cur[4] == new['aov_score'] then
        status, stored_bv = 2, ob  -- the scoring Redis holds is still right: keep it, and its version
      end
    end
  end
  if status == 1 then
    local hset = {'HSET', h, 'seq', w[2], 'boundaries_version', w[3], 'version', w[4], 'segment', seg,
                  'audiences', auds}
    for i = 11, #w do hset[#hset + 1] = w[i] end
    redis.call(unpack(hset))
    if (old[4] or '') ~= auds then
      local before, after = {}, {}
      for a in string.gmatch(old[4] or '', '[^;]+') do before[a] = true end
      for a in string.gmatch(auds, '[^;]+') do after[a] = true end
      for a in pairs(before) do if not after[a] then redis.call('SREM', p .. ':audience:' .. a, cid) end end
      for a in pairs(after) do if not before[a] then redis.call('SADD', p .. ':audience:' .. a, cid) end end
    end
    local oseg = old[3]
    if oseg ~= seg then
      if oseg and oseg ~= '' then redis.call('SREM', p .. ':segment:' .. oseg, cid) end
      if seg ~= '' then redis.call('SADD', p .. ':segment:' .. seg, cid) end
    end
    local moved = 0
    for i = 1, 4 do
      local k = p .. ':rank:' .. dims[i]
      if seg == '' then
        moved = moved + redis.call('ZREM', k, cid)
      else
        moved = moved + redis.call('ZADD', k, 'CH', w[5 + i], cid)
      end
    end
    if moved > 0 then redis.call('INCR', p .. ':index_changes') end
  end
  out[#out + 1] = status
  out[#out + 1] = stored_bv
end
return out
"""


READ_PROFILES = """
local p = ARGV[1]
local ids = cjson.decode(ARGV[2])
if ARGV[3] ~= '' and redis.call('HGET', p .. ':epoch', 'token') ~= ARGV[3] then return 'lost' end
local out = {}
for i = 1, #ids do
  local v = redis.call('HMGET', p .. ':customer:' .. ids[i], 'seq', 'boundaries_version', 'segment', 'r_score',
                       'f_score', 'm_score', 'aov_score', 'audiences')
  if v[1] then out[i] = v else out[i] = 0 end
end
return cjson.encode(out)
"""


class RedisDataLost(RedisConnectionError):
    """Redis no longer holds what the worker wrote (flushed, or restarted without its data).

    A kind of lost connection on purpose: the worker retries the batch as it would after one, and the retry
    first rewrites the lost partitions (worker/redis_epoch.py), so no decision is taken against an empty Redis.
    """


class ProfileWriter:
    """Batches profile writes: one pipeline of EVALSHA calls, each with a JSON array of customers."""

    def __init__(self, client: aioredis.Redis, prefix: str, chunk: int = 500):
        self.client = client
        self.prefix = prefix
        self.chunk = chunk  # writes per script call: Redis runs one call at a time, so keep each short
        self._sha: str | None = None
        #: the ``{prefix}:epoch`` token the owner last found every partition under (worker/redis_epoch.py); a
        #: read raises RedisDataLost when Redis holds another or none. None: not checked (tools, tests)
        self.epoch: bytes | None = None

    async def _load(self) -> str:
        self._sha = await self.client.script_load(WRITE_PROFILES)
        return self._sha

    async def write(self, writes: list[ProfileWrite]) -> list[tuple[int, int]]:
        """Apply every write (one round trip per batch); returns each one's (status, stored boundaries version).

        status is STALE (refused: Redis holds a newer seq or boundaries version), SAME, WRITTEN or KEPT.
        """
        if not writes:
            return []
        sha = self._sha or await self._load()
        try:
            return await self._run(sha, writes)
        except NoScriptError:  # Redis restarted or flushed its script cache: every write is idempotent
            return await self._run(await self._load(), writes)

    async def read(self, customer_ids: list[str]) -> list[StoredProfile | None]:
        """Each customer's stored profile (one round trip per batch)."""
        epoch = self.epoch or b""
        replies = await self._in_trips(customer_ids, self.chunk * 4, lambda pipe, ids: pipe.eval(
            READ_PROFILES, 0, self.prefix, orjson.dumps(ids), epoch))
        if any(r == b"lost" for r in replies):
            # checked in the same script as the read: the decisions taken on it are never against a lost Redis
            raise RedisDataLost("Redis lost the profiles since they were last checked")
        return list(self._parse(replies))

    @staticmethod
    def _parse(replies: list[bytes]) -> Iterator[StoredProfile | None]:
        for reply in replies:
            for v in orjson.loads(reply):
                if not v:
                    yield None
                    continue
                seq, bv, segment, r, f, m, aov, auds = (x if x is not False else None for x in v)
                yield StoredProfile(int(seq), int(bv or 0), segment or None, (r, f, m, aov) if r is not None else None,
                                    tuple(a for a in (auds or "").split(";") if a))

    async def _run(self, sha: str, writes: list[ProfileWrite]) -> list[tuple[int, int]]:
        replies = await self._in_trips(writes, self.chunk, lambda pipe, part: pipe.evalsha(
            sha, 0, self.prefix, orjson.dumps([w.row() for w in part])))
        return [(int(reply[j]), int(reply[j + 1])) for reply in replies for j in range(0, len(reply), 2)]

    async def _in_trips(self, items: list, per_call: int, call: Callable[[Any, list], Any]) -> list:
        """The replies of one script call per ``per_call`` items, pipelined ``chunk * 40`` items per round
        trip: a batch is one trip, a rescore of a whole partition a few (one pipeline of a million customers
        timed out writing the socket)."""
        replies: list = []
        for start in range(0, len(items), self.chunk * 40):
            part = items[start : start + self.chunk * 40]
            pipe = self.client.pipeline(transaction=False)
            for i in range(0, len(part), per_call):
                call(pipe, part[i : i + per_call])
            replies.extend(await pipe.execute())
        return replies


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
