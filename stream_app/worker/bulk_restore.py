"""A newly assigned partition's changelog, loaded into the worker's RocksDB store in bulk before Faust's recovery.

Faust restores a Table one changelog record at a time (through its consumer thread, its changelog queue and
its recovery loop's bookkeeping per record): about 3.4k records a second on two cores, so a worker starting
on a history of 10M customers loaded by `rfm-stream bootstrap` would wait about 49 minutes for its first
event, and a partition moved to a worker without its data folder about 12. The same records read with
aiokafka's ``getmany`` (record batches decoded in C) and written in RocksDB write batches go about fifty
times as fast.

Where: Faust calls the Table's ``on_rebalance`` (the store opens the newly assigned partitions' databases)
before its recovery reads how far each database is in its changelog (the store's persisted offset). The load
runs between the two, so Faust's recovery starts where the load stopped and finds little or nothing left.

Exactness: each write batch holds a run of records in changelog order and the offset of its last record,
written atomically, so the database always equals the changelog's prefix up to the offset it records: a
state Faust's own recovery passes through too. A load stopped anywhere (the process killed, a new
rebalance, a broker error, its time budget) leaves Faust's recovery to go on from there.

Cost: the load runs inside the rebalance callback, so a rebalance the group starts meanwhile waits for it.
It stops after ``budget`` seconds, and build_app sets the group's rebalance timeout above that, so the
worker is not dropped from the group for loading.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka.structs import TopicPartition
from faust.types import TP

from stream_app import connect
from stream_app.settings import Settings
from stream_app.worker import faust_internals

log = logging.getLogger("rfm_stream.worker")

#: records a ``getmany`` returns at most, written as one batch (tens of MB of customer states)
CHUNK = 20_000
#: bytes fetched per request of the one partition being read
FETCH_BYTES = 16 * 2**20
#: seconds between two progress lines of a long load
PROGRESS_EVERY = 10.0
#: seconds without a record, short of the partition's end, before the rest is left to Faust's recovery
STALL = 30.0
#: a partition fewer records behind than this is left to Faust's recovery (its consumer is already running)
MIN_RECORDS = 20_000
#: seconds a rebalance's loads may take, together
BUDGET = 240.0


@dataclass(frozen=True)
class Loaded:
    """What one partition's load did: how many records, how long, and the offset its database now records."""

    partition: int
    records: int
    seconds: float
    offset: int | None  # the last changelog offset written with the records; None: nothing written


@dataclass
class BulkRestore:
    """Loads newly assigned partitions of a RocksDB Table from its changelog (see the module docstring)."""

    settings: Settings
    min_records: int = MIN_RECORDS
    budget: float = BUDGET

    async def on_assigned(self, table: Any, tps: Iterable[TP], generation_id: int) -> list[Loaded]:
        """Load each active changelog partition of ``tps`` that is at least ``min_records`` behind.

        Never raises: what a load could not do, Faust's recovery does after it.
        """
        store = table.data
        if not faust_internals.bulk_loadable(store):  # the memory store: nothing on disk to load ahead
            return []
        topic = table.changelog_topic.get_topic_name()
        app = table.app
        standbys = app.assignor.assigned_standbys()
        mine = sorted((tp.partition for tp in tps if tp.topic == topic and tp not in standbys))
        if not mine:
            return []
        deadline = time.monotonic() + self.budget

        def go_on() -> bool:  # a newer rebalance, the worker stopping or the budget spent: Faust goes on
            return (app.consumer_generation_id == generation_id and not app.should_stop
                    and time.monotonic() < deadline)

        consumer = connect.aiokafka_consumer(self.settings, enable_auto_commit=False, group_id=None,
                                             auto_offset_reset="earliest", max_partition_fetch_bytes=FETCH_BYTES,
                                             fetch_max_bytes=FETCH_BYTES)
        done: list[Loaded] = []
        try:
            await consumer.start()
            parts = [TopicPartition(topic, p) for p in mine]
            begins = await consumer.beginning_offsets(parts)
            ends = await consumer.end_offsets(parts)
            for part in parts:
                persisted = store.persisted_offset(TP(topic, part.partition))
                start = max(begins[part], 0 if persisted is None else persisted + 1)
                if ends[part] - start < max(self.min_records, 1) or not go_on():
                    continue
                done.append(await _load(consumer, store, part, start, ends[part], go_on))
        except Exception as exc:  # the rest is Faust's recovery's, as without this load
            log.warning("bulk restore stopped (%s: %s); Faust's recovery goes on from where it got",
                        type(exc).__name__, exc)
        finally:
            await consumer.stop()
        if done and time.monotonic() >= deadline:
            log.warning("bulk restore: its %.0f s were spent; Faust's recovery loads the rest", self.budget)
        return done


async def _load(consumer: Any, store: Any, part: TopicPartition, start: int, end: int,
                go_on: Callable[[], bool]) -> Loaded:
    """Records ``start`` .. ``end`` - 1 of ``part`` into its database, with the offset reached in each batch."""
    db = faust_internals.store_database(store, part.partition)
    log.info("bulk restore: partition %d, changelog offsets %d to %d (up to %s records)",
             part.partition, start, end - 1, f"{end - start:,}")
    consumer.assign([part])
    consumer.seek(part, start)
    t0 = last_record_at = time.monotonic()
    next_line = t0 + PROGRESS_EVERY
    records, offset = 0, None
    while go_on() and await consumer.position(part) < end:
        got = (await consumer.getmany(part, timeout_ms=1000, max_records=CHUNK)).get(part)
        now = time.monotonic()
        if not got:
            if now - last_record_at > STALL:
                log.warning("bulk restore: partition %d sent nothing for %.0f s", part.partition, STALL)
                break
            continue
        batch = faust_internals.store_write_batch(store)
        for r in got:
            if r.value is None:
                batch.delete(r.key)
            else:
                batch.put(r.key, r.value)
        offset = got[-1].offset
        batch.put(store.offset_key, str(offset).encode())  # what the store's set_persisted_offset writes
        db.write(batch)
        records += len(got)
        last_record_at = now
        if now >= next_line:
            next_line = now + PROGRESS_EVERY
            log.info("bulk restore: partition %d at offset %d of %d (%s records, %.0f a second)",
                     part.partition, offset, end - 1, f"{records:,}", records / (now - t0))
        await asyncio.sleep(0)  # the loop's other tasks (the monitor's health checks) get their turn
    took = time.monotonic() - t0
    log.info("bulk restore: partition %d loaded %s records in %.1f s (%.0f a second), to offset %s",
             part.partition, f"{records:,}", took, records / took if took else 0.0, offset)
    return Loaded(part.partition, records, took, offset)


class RestoringTable(faust.Table):
    """The customers Table: on a rebalance, its newly assigned partitions are loaded by ``bulk_restore``."""

    bulk_restore: BulkRestore | None = None

    async def on_rebalance(self, assigned: set, revoked: set, newly_assigned: set, generation_id: int = 0) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        if self.bulk_restore is not None:
            await self.bulk_restore.on_assigned(self, newly_assigned, generation_id)
