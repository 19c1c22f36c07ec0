"""A batch's effects, written in the one order that makes a replay harmless.

The worker runs at-least-once (Faust's ``exactly_once`` lost events after a
kill -9; see docs/streaming.md), so any batch may be processed again from an
older state. The processor decides what a batch changes (:class:`Effects`);
the checkpoint writes it, always in this order:

0. announce each customer's events in Redis (core/profile.py's
   ``Announced``): if the worker dies before step 2, the customer's next
   decision delivers them again and decides against them;
1. send the change, audience and dead-letter events, and await their
   delivery: a profile in Redis then implies its events were delivered;
2. write the profiles to Redis (one pipeline; the Lua script refuses older
   versions, treats an equal one as done, and drops the announcements the
   writes settle);
3. write each changed customer once to the Table, and await its changelog
   records (Faust's own flush before a commit gives up after 0.1 s);
4. the batch's offsets become committable (worker/offsets.py); held
   partitions are sought back.

Steps 1 to 3 run once per flush (a control record splits a batch in two);
step 4 once per batch, after every flush of it succeeded. A crash before 2
replays the batch to the same ``seq`` and the same events (same ``version``,
dropped by subscribers as repeats); a crash after 2 finds Redis holding the
new profile, which the replay compares against, so nothing is published twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from stream_app.core import stored as codec
from stream_app.core.profile import Announced, ProfileWrite
from stream_app.core.stored import Stored
from stream_app.worker.messages import Msg

if TYPE_CHECKING:
    from stream_app.worker.faust_offsets import Admitted, FaustOffsets

Record = tuple[bytes, bytes]


class TableWrites(Protocol):
    """The Table as the checkpoint writes it (a dict in unit tests)."""

    def set(self, key: bytes, value: bytes, msg: Msg) -> None: ...
    async def drain(self) -> None: ...


class EffectSinks(Protocol):
    """Kafka and Redis as the checkpoint writes them."""

    async def announce(self, announced: list[tuple[str, Announced]]) -> None: ...
    async def publish(self, changes: list[Record], dead: list[tuple[bytes | None, bytes]],
                      audience: list[Record]) -> None: ...
    async def write_profiles(self, writes: list[ProfileWrite]) -> list[tuple[int, int]]: ...


@dataclass(slots=True)
class Effects:
    """What one flush changes: encoded events, Redis writes, and the states to store (with the record each
    takes its Table partition from)."""

    changes: list[Record] = field(default_factory=list)
    #: (customer id, its events as recorded before delivery): customers with any change or audience event
    announced: list[tuple[str, Announced]] = field(default_factory=list)
    audience: list[Record] = field(default_factory=list)
    dead: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    profiles: list[ProfileWrite] = field(default_factory=list)
    states: list[tuple[Stored, Msg]] = field(default_factory=list)


class Checkpoint:
    """Writes a batch's effects in the numbered order of the module docstring."""

    def __init__(self, table: TableWrites, sinks: EffectSinks, offsets: FaustOffsets | None = None):
        self.table = table
        self.sinks = sinks
        self.offsets = offsets  # None: nothing commits (unit tests, the benchmark)

    async def flush(self, effects: Effects) -> list[int]:
        """Steps 1 to 3; returns each profile write's status (a WriteStatus value). A server fault raises
        before step 4, so the batch is retried or replayed, never committed half written."""
        # 0. the events in doubt until step 2, where a successor finds them
        if effects.announced:
            await self.sinks.announce(effects.announced)
        # 1. events, awaited: a profile in Redis implies its events were delivered
        await self.sinks.publish(effects.changes, effects.dead, effects.audience)
        # 2. profiles to Redis, version-checked by the script
        statuses = [status for status, _ in await self.sinks.write_profiles(effects.profiles)]
        # 3. each customer once to the Table, its changelog records awaited
        for stored, msg in effects.states:
            self.table.set(stored.state.customer_id.encode(), codec.encode(stored), msg)
        await self.table.drain()
        return statuses

    async def commit(self, batch: Admitted) -> None:
        """Step 4: every flush of ``batch`` is written, so its offsets may be committed."""
        if self.offsets is not None:
            await self.offsets.after(batch)
