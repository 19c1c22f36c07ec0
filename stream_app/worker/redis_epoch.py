"""Noticing that Redis lost the worker's keys (FLUSHDB, a restart without persistence), and rewriting them.

Redis holds a copy of the worker's state, not its source: every profile, segment and audience set and
rank-index entry can be rebuilt from the Faust table (the changelog-backed state), without reading Kafka
again. What must not happen after a loss is to go on writing only the customers of new events into an empty
Redis: the others would be missing for good, and quintile cuts read from a partial rank index would rescore
everyone wrongly (and publish change events saying so).

So Redis holds a marker of its own continuity, the hash ``{prefix}:epoch``: a random ``token``, created by
whoever first finds it missing, and one field per orders partition, set to the token once that partition's
customers are all in Redis. Losing the data loses the marker with it. Then:

- **the partition's owner** (:class:`RedisEpoch`, before each batch, so in order with the partition's events)
  finds its field missing, rewrites every customer of the partition from the table exactly as it was last
  written (same scores, segment, ``seq`` and ``boundaries_version``, so the same ``version``; no change event,
  since nothing changed for subscribers), and sets the field only if the token is still the one it started
  under (a second loss during the rewrite makes it start again);
- **the leader** (:class:`LeaderWatch`, on each tick) puts back the boundaries record from memory when Redis
  holds an older version or none (versions must never go back: the Lua guard would refuse every later
  write, and workers ignore older versions), sends a control to every partition (waking idle owners, and
  rebuilding ``{prefix}:rescored``), and holds recomputes until every partition is marked again, so no cut is
  read from a partial rank index.

A profile Redis holds that is newer than the table's state (a batch written just before its table write)
is kept: the rewrite carries the table's ``seq``, and the profile script refuses an older one.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from stream_app.core import stored as codec
from stream_app.core.profile import ProfileWrite, profile_fields
from stream_app.core.stored import Stored
from stream_app.redis import scripts
from stream_app.redis.keys import boundaries_key, epoch_key
from stream_app.redis.profiles import ProfileWriter
from stream_app.worker.boundaries import Published

if TYPE_CHECKING:  # the leader imports this module
    from stream_app.worker.leader import Leader
    from stream_app.worker.ports import StateTable

log = logging.getLogger("rfm_stream.worker")

TOKEN = "token"

def restored_write(stored: Stored, updated_us: int) -> ProfileWrite | None:
    """A customer's profile exactly as the worker last wrote it, from its table value; None if never scored.

    A customer whose every order was returned keeps no profile after a rewrite (before it, a hash with an
    empty segment): the table does not tell it apart from one that was never scored, and neither is in a
    set or the rank index.
    """
    if stored.scores is None or stored.segment is None or stored.ranks is None:
        return None
    totals = stored.state.totals()
    return ProfileWrite(stored.state.customer_id, stored.state.seq, stored.boundaries_version, stored.segment,
                        tuple(stored.ranks),  # type: ignore[arg-type]
                        profile_fields(stored.scores, totals, stored.ranks, updated_us), tuple(stored.audiences))


class RedisEpoch:
    """A worker's side: before each batch, rewrite the owned partitions Redis lost (see the module's doc)."""

    def __init__(self, client: aioredis.Redis, prefix: str, table: "StateTable", writer: ProfileWriter,
                 now_us: Callable[[], int] = lambda: int(time.time() * 1_000_000), chunk: int = 10_000):
        self.client = client
        self.key = epoch_key(prefix)
        self.table = table
        self.writer = writer
        self.now_us = now_us
        self.chunk = chunk  # customers per write call: bounds the memory of rewriting a large partition
        self._mark = client.register_script(scripts.source(scripts.MARK_EPOCH))
        self.rewritten = 0  # profiles rewritten since start (the worker's log)

    async def ensure(self, partitions: Iterable[int]) -> None:
        """Rewrite every partition of ``partitions`` whose marker is missing; one HMGET when none is."""
        owned = sorted(partitions)
        if not owned:
            self.writer.epoch = None  # no profile of ours to read
            return
        while True:
            token, *fields = await self.client.hmget(self.key, [TOKEN, *map(str, owned)])
            if token is None:
                await self.client.hsetnx(self.key, TOKEN, uuid.uuid4().hex)
                continue
            lost = [p for p, v in zip(owned, fields) if v != token]
            if not lost or await self._rewrite(lost, token):
                # the batch's profile reads check this token in the same script (RedisDataLost when it changed)
                self.writer.epoch = token
                return

    async def _rewrite(self, partitions: list[int], token: bytes) -> bool:
        """Rewrite and mark each partition; False when Redis lost its data again meanwhile (start over)."""
        t_all, total = time.perf_counter(), 0
        for p in partitions:
            t0 = time.perf_counter()
            n = 0
            writes: list[ProfileWrite] = []
            for key, raw in self.table.partition_items(p):
                w = restored_write(codec.decode(key.decode(), raw), self.now_us())
                if w is not None:
                    writes.append(w)
                if len(writes) >= self.chunk:
                    n += await self._write(writes)
                    writes = []
            n += await self._write(writes)
            if not await self._mark(keys=[self.key], args=[token, str(p)]):
                log.warning("Redis lost its data again while partition %d was rewritten: starting over", p)
                return False
            self.rewritten += n
            total += n
            if n:
                log.warning("partition %d: %d profiles rewritten to Redis in %.1fs", p, n, time.perf_counter() - t0)
        if total:
            log.warning("Redis lost the profiles of partitions %s (flushed, or restarted without its data): %d "
                        "rewritten from the worker's state in %.1fs", partitions, total, time.perf_counter() - t_all)
        else:  # a new deployment, or partitions without customers yet
            log.info("partitions %s marked in Redis (no profile to rewrite)", partitions)
        return True

    async def _write(self, writes: list[ProfileWrite]) -> int:
        await self.writer.write(writes)
        return len(writes)


class LeaderWatch:
    """The leader's side: keep the boundaries version from going back, and hold recomputes until every
    partition is rewritten (see the module's doc)."""

    def __init__(self, leader: "Leader"):
        self.leader = leader
        self.client: aioredis.Redis = leader.store.client
        self.prefix: str = leader.store.prefix
        self.newest: Published | None = None  # the newest record this leader published or loaded
        self._restore = self.client.register_script(scripts.source(scripts.RESTORE_BOUNDARIES))
        self.holding = False
        self.woken_at = time.monotonic()  # the first wake-up waits: owners mark their partitions on any batch
        self.wake_every = 10.0

    async def hold(self) -> bool:
        """True while the leader must not recompute: some partition's profiles are not back in Redis yet."""
        leader = self.leader
        cur = leader.published
        if cur is not None and (self.newest is None or cur.boundaries.version >= self.newest.boundaries.version):
            self.newest = cur
        newest = self.newest
        if newest is None or newest.boundaries.version == 0:
            return False  # nothing published yet: nothing to lose
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(epoch_key(self.prefix))
        pipe.get(boundaries_key(self.prefix))
        epoch, raw = await pipe.execute()
        if Published.from_bytes(raw).boundaries.version < newest.boundaries.version:
            # index_changes 0: the restored record covers none of the rebuilt index, so a recompute follows
            restored = dataclasses.replace(newest, index_changes=0)
            if await self._restore(keys=[boundaries_key(self.prefix)],
                                   args=[newest.boundaries.version, restored.to_bytes()]):
                log.warning("Redis lost the boundaries record: v%d restored; controls to every partition",
                            newest.boundaries.version)
                leader.published = self.newest = restored
                leader.sent_at.clear()
                await leader.send_controls(range(leader.partitions))
                self.woken_at = time.monotonic()
        token = epoch.get(TOKEN.encode())
        missing = [p for p in range(leader.partitions) if token is None or epoch.get(str(p).encode()) != token]
        if missing and not self.holding:
            log.warning("recomputes held until Redis holds every partition again (missing %s)", missing)
        if missing and time.monotonic() - self.woken_at >= self.wake_every:
            # an owner rewrites its partitions before its next batch: make sure there is one, even when idle
            self.woken_at = time.monotonic()
            await leader.send_controls(missing)
        elif not missing and self.holding:
            log.warning("every partition is back in Redis: recomputes resume")
        self.holding = bool(missing)
        return self.holding
