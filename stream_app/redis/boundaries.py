"""Global quintile boundaries from the Redis rank index: exact for any number of customers.

Each worker writes its own customers' rank values into four Redis sorted sets
(one per dimension, member = customer id, score = the exact integer value) in
the same Lua script as the profile. Redis orders equal scores by member bytes,
which is exactly the (value, customer_id) ties rule of
:mod:`stream_app.core.quintiles`; so the cut key at 1-based rank ``q`` is the
element at 0-based index ``q - 1``: ``ZRANGE key q-1 q-1 WITHSCORES``, O(log N).
The "per-partition summaries" are therefore merged by Redis itself as each
partition's owner writes, and the leader reads all 16 cut keys of one
consistent snapshot: the population size and ``index_changes`` first, then
(``scripts/read_cuts.lua``) the keys at the ranks :func:`~stream_app.core.quintiles.cut_ranks`
gives for that size, only if ``index_changes`` has not moved meanwhile (else
it reads again). So the cut rank formula lives in Python only.

Scores are doubles: exact for integers below 2**53 (epoch microseconds until
the year 2255, monetary below 90 trillion cents).
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from stream_app.core.quintiles import DIMENSIONS, Cuts, cut_ranks
from stream_app.core.scoring import Boundaries
from stream_app.redis import keys, scripts
from stream_app.worker.boundaries import Published

#: how many published versions stay readable by number (``{prefix}:boundaries:{version}``): a partition whose
#: last rescore is older than that is rescored in full by its next owner
BOUNDARY_HISTORY = 16


def cuts_from_reply(reply: list) -> tuple[int, int, dict[str, Cuts]]:
    """(index_changes, customers, cuts) from a flat reply: index_changes, customers, then member, score
    per cut key, four per dimension in DIMENSIONS order (none for an empty index)."""
    changes, n = int(reply[0]), int(reply[1])
    flat = reply[2:]
    cuts: dict[str, Cuts] = {}
    for i, d in enumerate(DIMENSIONS):
        part = flat[i * 8 : (i + 1) * 8]
        cut_keys = tuple((int(float(part[j + 1])), _text(part[j])) for j in range(0, len(part), 2))
        cuts[d] = Cuts(cut_keys)
    return changes, n, cuts


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


class BoundaryStore:
    """Reads, computes and publishes boundaries in Redis."""

    def __init__(self, client: aioredis.Redis, prefix: str):
        self.client = client
        self.prefix = prefix
        self._ranks = keys.rank_keys(prefix)
        self._changes = keys.index_changes_key(prefix)
        self._read = client.register_script(scripts.source(scripts.READ_CUTS))
        self._store = client.register_script(scripts.source(scripts.STORE_BOUNDARIES))
        self._mark = client.register_script(scripts.source(scripts.MARK_RESCORED))

    async def load(self) -> Published:
        return Published.from_bytes(await self.client.get(keys.boundaries_key(self.prefix)))

    async def index_changes(self) -> int:
        return int(await self.client.get(self._changes) or 0)

    async def read_cuts(self) -> tuple[int, int, dict[str, Cuts]]:
        """(index_changes, customers, cuts) of one snapshot of the rank index."""
        while True:
            pipe = self.client.pipeline(transaction=True)  # MULTI/EXEC: the count and size of one moment
            pipe.get(self._changes)
            pipe.zcard(self._ranks[0])
            raw_changes, n = await pipe.execute()
            changes = int(raw_changes or 0)
            at = [r - 1 for r in cut_ranks(n)] if n else []
            flat = await self._read(keys=[*self._ranks, self._changes], args=[changes, n, *at])
            if flat is not None:  # None: a write moved the index in between; read the new one
                return cuts_from_reply([changes, n, *flat])

    async def compute(self, current: Published, audiences_fp: str = "") -> tuple[Published, bool] | None:
        """Read the cuts now; publish a new version if they moved or the audience rules changed
        (else record what was covered).

        Returns (published, version_bumped), or None when another leader published first.
        """
        t0 = time.perf_counter()
        changes, n, cuts = await self.read_cuts()
        ms = (time.perf_counter() - t0) * 1000
        old = current.boundaries
        bumped = cuts != old.cuts or audiences_fp != current.audiences_fp
        version = old.version + 1 if bumped else old.version
        new = Published(Boundaries(cuts=cuts, customers=n, version=version), changes, int(time.time() * 1e6), ms,
                        audiences_fp)
        history = [keys.boundaries_version_key(self.prefix, v) for v in (version, version - BOUNDARY_HISTORY)]
        ok = await self._store(keys=[keys.boundaries_key(self.prefix), *history], args=[old.version, new.to_bytes()])
        return (new, bumped) if ok else None

    async def published_between(self, lo: int, hi: int) -> list[Published] | None:
        """The published records of versions ``lo`` to ``hi``, in order; None when one of them is no longer
        (or was never) kept, or does not read as that version."""
        if not 0 < lo <= hi or hi - lo >= BOUNDARY_HISTORY:
            return None
        raws = await self.client.mget([keys.boundaries_version_key(self.prefix, v) for v in range(lo, hi + 1)])
        out = []
        for version, raw in zip(range(lo, hi + 1), raws):
            try:
                published = Published.from_bytes(raw) if raw else None
            except Exception:  # not the leader's writing: the caller falls back to looking at everyone
                return None
            if published is None or published.boundaries.version != version:
                return None
            out.append(published)
        return out

    async def last_rescore(self, partition: int) -> tuple[int, str] | None:
        """The last version the partition's rescore was flushed and drained to, and the audience rules
        fingerprint of the worker that did it; None when none is recorded."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(keys.rescored_key(self.prefix), str(partition))
        pipe.hget(keys.rescored_rules_key(self.prefix), str(partition))
        raw, rules_fp = await pipe.execute()
        try:
            return (int(raw), _text(rules_fp)) if raw is not None and rules_fp is not None else None
        except ValueError:  # not mark_rescored's writing: as if unknown
            return None

    async def mark_rescored(self, partition: int, version: int, rules_fp: str = "") -> None:
        await self._mark(keys=[keys.rescored_key(self.prefix), keys.rescored_rules_key(self.prefix)],
                         args=[partition, version, rules_fp])

    async def rescored(self) -> dict[int, int]:
        raw = await self.client.hgetall(keys.rescored_key(self.prefix))
        return {int(k): int(v) for k, v in raw.items()}
