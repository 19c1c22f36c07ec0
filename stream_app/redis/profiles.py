"""Customer profiles in Redis: the contract personalization services read, written once per batch.

Per customer (key names in :mod:`stream_app.redis.keys`, contents in docs/streaming.md): the profile
hash (segment, scores, totals, ``version``, ``boundaries_version``, ``seq``, ``updated_at``, and the
``audiences`` names joined by ``;``), its membership of the segment and audience sets, kept exact as
customers move, and its entries in the rank index (one sorted set per dimension, score = the exact integer
the dimension ranks on), with ``index_changes`` incremented whenever that index changes.

Everything for one customer happens in one Lua script (``scripts/write_profiles.lua``), atomically, judged by
the rule of :func:`stream_app.core.profile.judge`: a write whose (seq,
boundaries_version) is older than the stored one is refused, so a replayed
older state never overwrites a newer one, and an equal one is a no-op (status
"same"), which makes re-running a batch after a crash harmless. One
pipeline per batch (one round trip, not one per event) of a few EVALSHA calls,
each carrying up to ``chunk`` customers as one JSON array that the script
decodes with Redis' built-in cjson: redis-py packing ~40 arguments per
customer in Python took 46 µs a customer, most of the worker's Redis time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from stream_app.core.profile import Announced, ProfileWrite, StoredProfile, WriteStatus
from stream_app.redis import keys, scripts

#: a write script's status codes: calling the enum is a lookup three times as slow, once per written customer
_STATUS = {int(s): s for s in WriteStatus}
#: rank index entries per script call of a load (two arguments each: under the 8,000 Lua's unpack takes)
INDEX_CALL = 2_000


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
        # what the scripts get besides the customers: KEYS known up front, then the heads of per-customer keys
        self._write_keys = [*keys.rank_keys(prefix), keys.index_changes_key(prefix)]
        self._pending_head = keys.pending_head(prefix)
        self._write_heads = [keys.customer_head(prefix), keys.segment_head(prefix), keys.audience_head(prefix),
                             self._pending_head]
        self._epoch_key = keys.epoch_key(prefix)
        self.chunk = chunk  # writes per script call: Redis runs one call at a time, so keep each short
        self._sha: str | None = None
        #: the ``{prefix}:epoch`` token the owner last found every partition under (worker/redis_epoch.py); a
        #: read raises RedisDataLost when Redis holds another or none. None: not checked (tools, tests)
        self.epoch: bytes | None = None

    async def _load(self) -> str:
        self._sha = await self.client.script_load(scripts.source(scripts.WRITE_PROFILES))
        return self._sha

    async def write(self, writes: list[ProfileWrite]) -> list[tuple[WriteStatus, int]]:
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

    async def load(self, writes: list[ProfileWrite]) -> int:
        """Write profiles into a deployment that holds none of them (a bootstrap), without judging them:
        one script call per ``chunk`` customers adds each set's members in one command. Redis spent about
        50 us a customer running the judging script, most of a 1M-customer load's time. The rank index is
        :meth:`load_index`'s."""
        if not writes:
            return 0
        source = scripts.source(scripts.LOAD_PROFILES)
        replies = await self._in_trips(writes, self.chunk, lambda pipe, part: pipe.eval(
            source, len(self._write_keys), *self._write_keys, *self._write_heads,
            orjson.dumps([w.row() for w in part])))
        return sum(int(r) for r in replies)

    async def load_index(self, ids: Sequence[str], columns: Sequence[np.ndarray]) -> int:
        """Add the scored customers ``ids`` of a load to the rank index, ``columns`` their rank values (one
        int64 array per dimension, in ``ids``' order); returns how many entries were added or moved.

        Each dimension is sent in the index's own (value, id) order: a member added beside the one before
        costs Redis a walk through the skiplist nodes it just visited. Added in the profiles' order, the
        four indexes took Redis 16.4 us a customer of a 1M-customer load (more than the hashes and sets),
        in this order 3.1 us (docs/streaming.md, 3 December evening)."""
        if not len(ids):
            return 0
        members = np.array(ids, dtype=object)
        # code point order: Redis ties members by their bytes, the same order for UTF-8 (and the order
        # only makes the load faster: any order leaves the same index)
        by_id = np.argsort(np.array(ids, dtype=str), kind="stable")
        source = scripts.source(scripts.LOAD_RANK_INDEX)
        moved = 0
        for key, column in zip(self._write_keys[:4], columns):
            order = by_id[np.argsort(column[by_id], kind="stable")]
            replies = await self._in_trips(order, INDEX_CALL, lambda pipe, part: pipe.eval(
                source, 2, key, self._write_keys[4],
                orjson.dumps([column[part], members[part].tolist()], option=orjson.OPT_SERIALIZE_NUMPY)))
            moved += sum(int(r) for r in replies)
        return moved

    async def announce(self, announced: list[tuple[str, Announced]]) -> None:
        """Record each customer's events before they are delivered (one round trip per batch)."""
        if not announced:
            return
        source, head = scripts.source(scripts.ANNOUNCE), keys.customer_head(self.prefix)
        await self._in_trips(announced, self.chunk, lambda pipe, part: pipe.eval(
            source, 0, head, self._pending_head, orjson.dumps(
                [[cid, str(a.seq), str(a.boundaries_version), a.body().decode()] for cid, a in part])))

    async def read(self, customer_ids: list[str]) -> list[StoredProfile | None]:
        """Each customer's stored profile and announcement in doubt, if any (one round trip per batch)."""
        epoch = self.epoch or b""
        source, head = scripts.source(scripts.READ_PROFILES), keys.customer_head(self.prefix)
        replies = await self._in_trips(customer_ids, self.chunk * 4, lambda pipe, ids: pipe.eval(
            source, 1, self._epoch_key, head, orjson.dumps(ids), epoch, self._pending_head))
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
                seq, bv, segment, r, f, m, aov, auds, pseq, pbv, body = (
                    x if x is not False else None for x in [*v, *[None] * (11 - len(v))])
                pending = Announced.from_body(int(pseq), int(pbv), body) if pseq is not None else None
                yield StoredProfile(int(seq or 0), int(bv or 0), segment or None,
                                    (r, f, m, aov) if r is not None else None,
                                    tuple(a for a in (auds or "").split(";") if a), pending)

    async def _run(self, sha: str, writes: list[ProfileWrite]) -> list[tuple[WriteStatus, int]]:
        replies = await self._in_trips(writes, self.chunk, lambda pipe, part: pipe.evalsha(
            sha, len(self._write_keys), *self._write_keys, *self._write_heads, orjson.dumps([w.row() for w in part])))
        return [(_STATUS[int(reply[j])], int(reply[j + 1])) for reply in replies for j in range(0, len(reply), 2)]

    async def _in_trips(self, items: Sequence, per_call: int, call: Callable[[Any, Any], Any]) -> list:
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

