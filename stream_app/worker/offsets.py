"""The worker's own account of which offsets of each partition it has processed, and so may commit.

Why the worker keeps it instead of trusting Faust's: around a rebalance,
faust-streaming 0.15.3 can hand the agent a partition's events out of order
(a records batch fetched before the seek to the committed offset is still
iterated after it, so the agent sees offset 1141 before 1018). Faust then
counts the offsets it "skipped" as processed (its gap list), drops the
re-fetched ones as already read, and acks events of a stale generation that
no agent saw. Measured with two workers and one killed mid-replay: events
lost for good (their offsets committed unseen), or a commit that crawled one
offset per second (its gap list and acks overlapped), so `sync` never
returned. The processor's replay check (a customer's last applied offset)
also needs a partition's events in order.

So the agent asks this guard about every event and processes only what it
admits; the commit of the orders topic is the guard's ``done`` offset, not
Faust's acks. Per owned partition the guard knows ``expected``, the next
offset to process (the group's committed offset when the partition is
assigned):

- ``offset < expected``: a replay, admitted (the state makes it harmless);
- ``offset == expected``: admitted, ``expected`` moves on;
- ``offset > expected``: held, not processed; the agent seeks the partition
  back to ``expected``.

``done`` moves to ``expected`` once the batch's effects are all written; the
commit stays at a pinned offset while the rescore its control record began
runs in slices between batches.
A hole that is really in the log (a transactional producer's commit markers
take offsets) shows the same first offset after every seek back; after
``accept_after`` holds in a row at that same offset the guard skips the hole.

Pure logic, no Faust: worker/app.py does the seeks and the commit hook.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    PROCESS = "process"  # the partition's next offset (or the first after an accepted hole)
    REPLAY = "replay"  # before ``expected``: processed already, here or by the previous owner
    HOLD = "hold"  # offsets before it are missing: do not process it, seek back


@dataclass
class Lane:
    """One owned partition."""

    expected: int  # the next offset to process
    done: int  # every offset before it is processed and written: the offset to commit
    holding: bool = False  # held an event, and ``expected`` has not arrived since
    seen_since_seek: bool = False
    first_held: int | None = None  # the first offset held after the latest seek back
    same_first: int = 0  # holds in a row whose first offset was ``first_held``
    last_seen: float = 0.0  # when an event of this partition last arrived
    sought_at: float = 0.0
    pinned: int | None = None  # the commit stays at or before it (a rescore in progress since that offset)


class OffsetGuard:
    """Per partition, what has been processed; see the module docstring."""

    def __init__(self, accept_after: int = 3):
        self.accept_after = accept_after
        self.generation: int | None = None
        self.lanes: dict[int, Lane] = {}
        self.holds = 0
        self.holes_accepted = 0

    def new_generation(self, generation: int) -> bool:
        """True when a rebalance happened: every partition starts again from the group's committed offset."""
        if generation == self.generation:
            return False
        self.generation = generation
        self.lanes = {}
        return True

    def assign(self, partition: int, committed: int, now: float = 0.0) -> None:
        self.lanes[partition] = Lane(expected=committed, done=committed, last_seen=now)

    def admit(self, partition: int, offset: int, now: float = 0.0) -> Verdict:
        lane = self.lanes[partition]
        lane.last_seen = now
        first_since_seek, lane.seen_since_seek = not lane.seen_since_seek, True
        if offset < lane.expected:
            return Verdict.REPLAY
        if offset == lane.expected:
            self._advance(lane, offset)
            return Verdict.PROCESS
        if first_since_seek:
            lane.same_first = lane.same_first + 1 if offset == lane.first_held else 1
            lane.first_held = offset
            if lane.same_first >= self.accept_after:  # the log itself has no records before it
                self.holes_accepted += 1
                self._advance(lane, offset)
                return Verdict.PROCESS
        if not lane.holding:
            self.holds += 1
        lane.holding = True
        return Verdict.HOLD

    def seek_back(self, partition: int, now: float) -> int:
        """The adapter is about to seek the partition: the offset to seek to."""
        lane = self.lanes[partition]
        lane.seen_since_seek, lane.sought_at = False, now
        return lane.expected

    def completed(self, partitions: dict[int, int]) -> None:
        """A batch's effects are written: ``partitions`` maps each to ``expected`` as it was after admitting it."""
        for partition, upto in partitions.items():
            lane = self.lanes.get(partition)
            if lane is not None and upto > lane.done:
                lane.done = upto

    def commit_offset(self, partition: int) -> int | None:
        lane = self.lanes.get(partition)
        if lane is None:
            return None
        return lane.done if lane.pinned is None else min(lane.done, lane.pinned)

    def pin(self, partition: int, offset: int | None) -> None:
        """Keep the partition's commit at or before ``offset`` (a control record whose rescore is not done,
        so a restart reads it again); None releases it. A rebalance releases every pin with its lane."""
        lane = self.lanes.get(partition)
        if lane is not None:
            lane.pinned = offset if offset is None or lane.pinned is None else min(lane.pinned, offset)

    def stalled(self, lagging: set[int], now: float, idle: float) -> list[int]:
        """Partitions to seek back now: a held one whose seek brought nothing within ``idle`` seconds,
        or one with events left to read (``lagging``) that delivered nothing for ``idle`` seconds
        (Faust drops a re-fetched event it believes already read: nothing else would wake it)."""
        return [p for p, lane in self.lanes.items()
                if now - max(lane.last_seen, lane.sought_at) >= idle and (lane.holding or p in lagging)]

    @staticmethod
    def _advance(lane: Lane, offset: int) -> None:
        lane.expected = offset + 1
        lane.holding = False
        lane.first_held = None
        lane.same_first = 0
