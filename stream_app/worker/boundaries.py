"""Global quintile boundaries from the Redis rank index: exact for any number of customers.

Each worker writes its own customers' rank values into four Redis sorted sets
(``{prefix}:rank:{r|f|m|aov}``, member = customer id, score = the exact
integer value) in the same Lua script as the profile. Redis orders equal
scores by member bytes, which is exactly the (value, customer_id) ties rule of
:mod:`stream_app.core.quintiles`; so the cut key at 1-based rank ``q`` is the
element at 0-based index ``q - 1``: ``ZRANGE key q-1 q-1 WITHSCORES``, O(log N).
The "per-partition summaries" are therefore merged by Redis itself as each
partition's owner writes, and the leader reads all 16 cut keys and the
population size in one Lua call, i.e. one consistent snapshot.

Scores are doubles: exact for integers below 2**53 (epoch microseconds until
the year 2255, monetary below 90 trillion cents).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from stream_app.core.quintiles import DIMENSIONS, Cuts
from stream_app.core.scoring import Boundaries
from stream_app.sinks.redis_profiles import index_changes_key

READ_CUTS = """
local p = ARGV[1]
local n = redis.call('ZCARD', p .. ':rank:r')
local out = {redis.call('GET', p .. ':index_changes') or '0', n}
if n > 0 then
  for _, d in ipairs({'r', 'f', 'm', 'aov'}) do
    for s = 1, 4 do
      local i = math.floor(s * (n - 1) / 5)
      local kv = redis.call('ZRANGE', p .. ':rank:' .. d, i, i, 'WITHSCORES')
      out[#out + 1] = kv[1]
      out[#out + 1] = kv[2]
    end
  end
end
return out
"""

# Compare-and-set: two leaders (briefly, during a rebalance) cannot both publish a version.
STORE_BOUNDARIES = """
local cur = redis.call('GET', KEYS[1])
local v = 0
if cur then v = tonumber(cjson.decode(cur)['version']) end
if v ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""

# Versions a partition has been rescored to only grow.
MARK_RESCORED = """
local old = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > old then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""


def boundaries_key(prefix: str) -> str:
    return f"{prefix}:boundaries"


def rescored_key(prefix: str) -> str:
    return f"{prefix}:rescored"


@dataclass(frozen=True, slots=True)
class Published:
    """The content of ``{prefix}:boundaries``."""

    boundaries: Boundaries
    index_changes: int = 0
    computed_us: int = 0
    compute_ms: float = 0.0
    #: fingerprint of the audience rules this version was rescored with
    audiences_fp: str = ""

    def to_bytes(self) -> bytes:
        doc = self.boundaries.to_json()
        doc.update(index_changes=self.index_changes, computed_us=self.computed_us, compute_ms=self.compute_ms,
                   audiences_fp=self.audiences_fp)
        return orjson.dumps(doc)

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> "Published":
        if not raw:
            return cls(Boundaries())
        doc = orjson.loads(raw)
        return cls(Boundaries.from_json(doc), int(doc.get("index_changes", 0)), int(doc.get("computed_us", 0)),
                   float(doc.get("compute_ms", 0.0)), str(doc.get("audiences_fp", "")))


def cuts_from_reply(reply: list) -> tuple[int, int, dict[str, Cuts]]:
    """(index_changes, customers, cuts) from READ_CUTS' flat reply."""
    changes, n = int(reply[0]), int(reply[1])
    flat = reply[2:]
    cuts: dict[str, Cuts] = {}
    for i, d in enumerate(DIMENSIONS):
        part = flat[i * 8 : (i + 1) * 8]
        keys = tuple((int(float(part[j + 1])), _text(part[j])) for j in range(0, len(part), 2))
        cuts[d] = Cuts(keys)
    return changes, n, cuts


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


class BoundaryStore:
    """Reads, computes and publishes boundaries in Redis."""

    def __init__(self, client: aioredis.Redis, prefix: str):
        self.client = client
        self.prefix = prefix
        self._read = client.register_script(READ_CUTS)
        self._store = client.register_script(STORE_BOUNDARIES)
        self._mark = client.register_script(MARK_RESCORED)

    async def load(self) -> Published:
        return Published.from_bytes(await self.client.get(boundaries_key(self.prefix)))

    async def index_changes(self) -> int:
        return int(await self.client.get(index_changes_key(self.prefix)) or 0)

    async def compute(self, current: Published, audiences_fp: str = "") -> tuple[Published, bool] | None:
        """Read the cuts now; publish a new version if they moved or the audience rules changed
        (else record what was covered).

        Returns (published, version_bumped), or None when another leader published first.
        """
        t0 = time.perf_counter()
        changes, n, cuts = cuts_from_reply(await self._read(args=[self.prefix]))
        ms = (time.perf_counter() - t0) * 1000
        old = current.boundaries
        bumped = cuts != old.cuts or audiences_fp != current.audiences_fp
        version = old.version + 1 if bumped else old.version
        new = Published(Boundaries(cuts=cuts, customers=n, version=version), changes, int(time.time() * 1e6), ms,
                        audiences_fp)
        ok = await self._store(keys=[boundaries_key(self.prefix)], args=[old.version, new.to_bytes()])
        return (new, bumped) if ok else None

    async def mark_rescored(self, partition: int, version: int) -> None:
        await self._mark(keys=[rescored_key(self.prefix)], args=[partition, version])

    async def rescored(self) -> dict[int, int]:
        raw = await self.client.hgetall(rescored_key(self.prefix))
        return {int(k): int(v) for k, v in raw.items()}


#: how much longer than the stream's own recent pauses the index must stand still to count as its end
PAUSE_MARGIN = 1.5


def recompute_due(now: float, changes: int, covered: int, last_change_at: float, last_recompute_at: float,
                  interval: float, quiet: float, settled_at: float | None = 0.0, pause: float = 0.0) -> bool:
    """Recompute when the index moved since the last one and either the interval passed or the stream stopped.

    The stream stopped when the index stood still, while no rescore was
    running, for the quiet period and for longer than the stream's own pauses
    (``pause``: the longest stillness lately that the stream ended by going on,
    a slow batch or the gap between two). ``settled_at`` is when the leader saw
    every partition rescored to the published version, None while one is not:
    a rescore moves no rank, so the stillness it causes is its own. Counting
    either as the end of a burst made a steady stream recompute every few
    seconds, each rescore scheduling the next, instead of once per interval.
    """
    if changes == covered:
        return False
    if now - last_recompute_at >= interval:
        return True
    still = now - max(last_change_at, settled_at if settled_at is not None else now)
    return settled_at is not None and still >= max(quiet, PAUSE_MARGIN * pause)
