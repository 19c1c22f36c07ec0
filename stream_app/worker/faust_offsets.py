"""The OffsetGuard wired into Faust: which events the agent processes, seeks back, and the orders commit.

See worker/offsets.py for why. The consumer internals it needs (the committed
offset at assignment, the offset a commit proposes) are reached through
worker/faust_internals.py, which checks at start-up that they exist.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import faust
from aiokafka.errors import KafkaError
from faust.types import TP

from stream_app.worker import faust_internals
from stream_app.worker.messages import Msg
from stream_app.worker.offsets import OffsetGuard, Verdict

log = logging.getLogger("rfm_stream.worker")


@dataclass
class Admitted:
    """A batch after the guard: what to process, what to seek back, and what to mark done after."""

    msgs: list[Msg] = field(default_factory=list)
    seek: set[TP] = field(default_factory=set)
    upto: dict[int, int] = field(default_factory=dict)
    generation: int = 0
    reassigned: bool = False  # the first batch of a new consumer generation (a rebalance happened)


class FaustOffsets:
    def __init__(self, app: faust.App, topic: str, guard: OffsetGuard | None = None, idle: float = 5.0):
        self.app = app
        self.topic = topic
        self.guard = guard or OffsetGuard()
        self.idle = idle
        self.busy = False
        self.stale = 0
        self._installed = False

    def install(self) -> None:
        """From now on a commit of the orders topic proposes the guard's ``done`` offset, nothing else."""
        if self._installed:
            return
        # A Faust release that moved these internals: refuse to run rather than commit unprocessed offsets.
        faust_internals.check(self.app)

        def commit_offset(tp: TP) -> int | None:
            if self.guard.generation != self.app.consumer_generation_id:
                return None  # a rebalance: nothing is committed until the new generation's first batch
            return self.guard.commit_offset(tp.partition)

        faust_internals.replace_commit_offset(self.app.consumer, self.topic, commit_offset)
        self._installed = True

    async def admit(self, events: Sequence[faust.EventT]) -> Admitted:
        consumer = self.app.consumer
        generation = self.app.consumer_generation_id
        out = Admitted(generation=generation, reassigned=self.guard.new_generation(generation))
        owned = consumer.assignment()
        now = time.monotonic()
        for e in events:
            m = e.message
            if m.tp not in owned or m.generation_id != generation:
                # Fetched before a rebalance: the partition's owner now reads it again from the committed offset.
                self.stale += 1
                continue
            if m.partition not in self.guard.lanes:
                await self._assign(m.tp, now)
            verdict = self.guard.admit(m.partition, m.offset, now)
            if verdict is Verdict.HOLD:
                out.seek.add(m.tp)
                continue
            out.msgs.append(Msg(m.partition, m.offset, m.key, m.value, e))
        out.upto = {p: lane.expected for p, lane in self.guard.lanes.items()}
        return out

    def lag(self) -> int:
        """Records on the broker past the next offset to process, summed over the owned orders partitions, as of
        the consumer's last fetch (a partition moving in a rebalance counts nothing)."""
        consumer = self.app.consumer
        total = 0
        for partition, lane in list(self.guard.lanes.items()):
            try:
                highwater = consumer.highwater(TP(self.topic, partition))
            except Exception:  # aiokafka asserts the partition is still assigned
                continue
            if highwater is not None:
                total += max(0, highwater - lane.expected)
        return total

    async def after(self, batch: Admitted) -> None:
        """The batch's effects are written: its offsets may be committed; held partitions are sought back."""
        if batch.generation == self.guard.generation:
            self.guard.completed(batch.upto)
        for tp in batch.seek:
            if tp.partition in self.guard.lanes:
                await self._seek_back(tp)

    async def watchdog(self) -> None:
        """Seek back a partition that holds or lags and has delivered nothing for ``idle`` seconds."""
        if self.busy or self.app.rebalancing or self.guard.generation != self.app.consumer_generation_id:
            return
        consumer = self.app.consumer
        lagging = set()
        for p, lane in self.guard.lanes.items():
            end = consumer.highwater(TP(self.topic, p))
            if end is not None and end > lane.expected:
                lagging.add(p)
        for p in self.guard.stalled(lagging, time.monotonic(), self.idle):
            await self._seek_back(TP(self.topic, p))

    async def _assign(self, tp: TP, now: float) -> None:
        consumer = self.app.consumer
        committed = faust_internals.committed_offset(consumer, tp)
        if committed is None:  # no commit yet (Faust also reads a committed 0 as None): the log's start
            committed = (await consumer.earliest_offsets(tp)).get(tp) or 0
        self.guard.assign(tp.partition, committed, now)

    async def _seek_back(self, tp: TP) -> None:
        offset = self.guard.seek_back(tp.partition, time.monotonic())
        log.warning("partition %d: events out of order or missing; reading again from offset %d", tp.partition, offset)
        # seek_wait, not seek: Faust's seek changes aiokafka's fetcher from this thread while the consumer's
        # own thread iterates it, and the fetcher crashed with KeyError (the worker stopped consuming);
        # seek_wait runs the seek in the consumer's thread
        try:
            await self.app.consumer.seek_wait({tp: offset})
        except (asyncio.TimeoutError, KafkaError) as exc:  # the watchdog seeks the still-held partition again
            log.warning("partition %d: seek to %d did not complete: %r", tp.partition, offset, exc)
