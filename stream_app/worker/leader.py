"""The leader's side of the boundary exchange: decide when to recompute, publish, and fan out controls.

Runs in a ``@app.timer(on_leader=True)``, so one worker of the group does it;
a timer cannot write Tables, which is why it only writes Redis and sends one
control message per orders partition (see :mod:`stream_app.worker.control`).
If a leader dies between publishing a version and sending its controls, the
next leader sees partitions whose ``{prefix}:rescored`` lags and resends them
once (a rescore repeated at the same version changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

import faust

from stream_app.settings import Settings
from stream_app.worker import control
from stream_app.redis.boundaries import BoundaryStore
from stream_app.worker.boundaries import Published, recompute_due
from stream_app.worker.redis_epoch import LeaderWatch

log = logging.getLogger("rfm_stream.worker")



class Leader:
    def __init__(self, app: faust.App, settings: Settings, store: BoundaryStore, partitions: int,
                 quiet_period: float = 1.0, rules_fp: str = ""):
        self.app = app
        self.rules_fp = rules_fp
        self.settings = settings
        self.store = store
        self.partitions = partitions
        self.quiet_period = quiet_period
        self.published: Published | None = None
        self.last_changes = -1
        self.last_change_at = 0.0
        self.last_recompute_at = 0.0
        self.settled_at: float | None = None  # when every partition was seen rescored; None: not yet
        self.pauses: deque[tuple[float, float]] = deque()  # (when it ended, how long): the last two intervals'
        self.sent_at: dict[int, float] = {}
        self.last_resend_check = 0.0
        self.redis_loss = LeaderWatch(self)

    async def tick(self) -> None:
        now = time.monotonic()
        changes = await self.store.index_changes()
        if changes != self.last_changes:
            if self.settled_at is not None and self.last_changes >= 0:  # a pause the stream ended by going on
                self.pauses.append((now, now - max(self.last_change_at, self.settled_at)))
            self.last_changes, self.last_change_at = changes, now
        while self.pauses and now - self.pauses[0][0] > 2 * self.settings.recompute_interval:
            self.pauses.popleft()
        if self.published is None:
            self.published = await self.store.load()
        if await self.redis_loss.hold():  # Redis lost its keys: no cut until every partition is back
            return
        cur = self.published
        if self.settled_at is None and changes != cur.index_changes:
            done = await self.store.rescored()
            if all(done.get(p, 0) >= cur.boundaries.version for p in range(self.partitions)):
                self.settled_at = now
        rules_changed = cur.boundaries.version > 0 and cur.audiences_fp != self.rules_fp
        if rules_changed or recompute_due(now, changes, cur.index_changes, self.last_change_at,
                                          self.last_recompute_at, self.settings.recompute_interval,
                                          self.quiet_period, self.settled_at,
                                          max((p for _, p in self.pauses if p < self.settings.recompute_interval),
                                              default=0.0)):
            self.last_recompute_at = now
            result = await self.store.compute(cur, self.rules_fp)
            if result is None:  # another leader published first
                self.published, self.settled_at = await self.store.load(), None
                return
            self.published, bumped = result
            b = self.published.boundaries
            log.info("boundaries v%d over %d customers (index changes %d, read in %.1f ms)%s", b.version,
                        b.customers, self.published.index_changes, self.published.compute_ms,
                        "" if bumped else ", cuts unchanged")
            if bumped:
                self.settled_at = None
                await self.send_controls(range(self.partitions))
                return
        if now - self.last_resend_check >= 5.0:
            self.last_resend_check = now
            await self.resend_lagging()

    async def send_controls(self, partitions) -> None:
        pub = self.published
        assert pub is not None
        payload = control.encode_rescore(pub.boundaries.version)
        producer = self.app.producer
        futs = [await producer.send(self.settings.orders_topic, control.CONTROL_KEY, payload, p, None, None)
                for p in partitions]
        await asyncio.gather(*futs)
        self.sent_at[pub.boundaries.version] = time.monotonic()

    async def resend_lagging(self) -> None:
        """A new leader re-sends the controls of the published version to partitions not rescored to it."""
        pub = self.published
        if pub is None or pub.boundaries.version == 0:
            return
        version = pub.boundaries.version
        if version in self.sent_at:  # sent by this leader: queued behind a backlog, not lost
            return
        done = await self.store.rescored()
        lagging = [p for p in range(self.partitions) if done.get(p, 0) < version]
        if lagging:
            log.warning("partitions %s not rescored to boundaries v%d: sending controls again", lagging, version)
            await self.send_controls(lagging)
