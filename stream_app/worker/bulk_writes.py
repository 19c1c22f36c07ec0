"""Writing a loaded history (`rfm-stream bootstrap`): each shard's profiles to Redis from a thread while the
next chunk is scored, then its Table records to the changelog, and finally the boundaries and the epoch.

A hidden ``--stop-after N`` ends the process as abruptly as kill -9 after N writes (:class:`Budget`), which is
how the tests interrupt a load at a known point and check that running it again finishes it.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sys
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from stream_app import connect
from stream_app.core import stored as codec
from stream_app.core.fold import CustomerState
from stream_app.core.model import Totals
from stream_app.core.scoring import Boundaries
from stream_app.core.stored import Stored
from stream_app.errors import RfmError
from stream_app.kafka.batches import PartitionBatches, RecordTooLarge
from stream_app.kafka.partitioner import partitions_of
from stream_app.kafka.topics import changelog_topic
from stream_app.redis.boundaries import BoundaryStore
from stream_app.redis.keys import epoch_key
from stream_app.redis.profiles import ProfileWriter
from stream_app.settings import Settings

if TYPE_CHECKING:
    from stream_app.worker.bootstrap import BootstrapResult, Progress, Settler

#: customers per Redis write call and per progress step
CHUNK = 5_000
#: (partition, key, value) of a customer's Table record in the changelog
ChangelogRecord = tuple[int, bytes, bytes]


@dataclass
class IndexEntries:
    """A shard's scored customers and their rank values (one int64 column per dimension, in ``ids``' order):
    its entries of the rank index, known before the shard is scored (``population.Ranked``)."""

    ids: list[str]
    columns: list[np.ndarray]


@dataclass
class Budget:
    """How many writes a test lets the load make before it ends abruptly (None: all): profiles, then the
    changelog records of each shard in turn. The writer thread and the main thread take turns with it."""

    most: int | None = None
    done: int = 0

    def left(self) -> int | None:
        return None if self.most is None else self.most - self.done


class Loader:
    """Scores each shard a chunk at a time while a thread writes the previous chunks to Redis, then writes
    the shard's changelog records once Redis has all its profiles.

    Redis runs the writes in its own process: at 1M customers that was most of the 30 s the writes took,
    and the scoring (37 s) left that core idle. With the two overlapped the writes cost little more than
    the thread's few microseconds a customer of packing and waiting. Redis is now the slower of the two,
    so the changelog's values are encoded here while it works (about 7 s at 1M customers, which the
    changelog stage spent before).
    """

    def __init__(self, settings: Settings, settler: Settler, result: BootstrapResult, progress: Progress,
                 budget: Budget, partitions: int):
        self.settings, self.settler, self.result, self.progress = settings, settler, result, progress
        self.budget, self.partitions = budget, partitions

    def load(self, batches: Iterable[tuple[dict[str, CustomerState], dict[str, Totals] | None]],
             index: list[IndexEntries | None]) -> None:
        """Every shard's customers (its states, and their totals when already taken) to Redis and the changelog;
        ``index``: each shard's entries of the rank index, written first while the shard is scored."""
        count = len(index)
        chunks: queue.Queue = queue.Queue(maxsize=4)
        failed: list[BaseException] = []
        writer = threading.Thread(target=_write_profiles, args=(self.settings, chunks, failed, self.budget),
                                  name="bootstrap-profiles", daemon=True)
        writer.start()
        try:
            for i, (states, totals) in enumerate(batches, 1):
                entries, index[i - 1] = index[i - 1], None  # the writer holds them until written
                if not _hand_over(chunks, entries, writer):
                    break
                del entries
                stored, records = self._score(states, totals, chunks, writer)
                del states, totals
                if not self._drained(chunks, writer):
                    break
                where = f" (shard {i} of {count})" if count > 1 else ""
                self.progress.stage(f"scored and wrote {self.result.scored:,} profiles and the rank index to Redis{where}")
                asyncio.run(_write_changelog(self.settings, records, self.progress, self.budget))
                self.progress.stage(f"wrote {len(records):,} customer states to {changelog_topic(self.settings)}"
                                    f" ({self.partitions} partitions){where}")
                # the last shard's objects are the process's to free at its end (cli/bootstrap.py)
                self.result.loaded = stored
                del stored, records
        finally:
            _hand_over(chunks, None, writer)
            writer.join()
        if failed:
            raise failed[0]

    def _score(self, states: dict[str, CustomerState], totals: dict[str, Totals] | None, chunks: queue.Queue,
               writer: threading.Thread) -> tuple[list[Stored], list[ChangelogRecord]]:
        """One shard scored and handed to the writer a chunk at a time; its stored values and changelog records."""
        stored: list[Stored] = []
        records: list[ChangelogRecord] = []
        order = sorted(states)  # sorted ids: the same order on a second run
        left = self.budget.left()
        step = min(CHUNK, left) if left else CHUNK
        for start in self.progress.bar(range(0, len(order), step), (len(order) + step - 1) // step, "chunk"):
            part_, writes = self.settler.settle((states[cid] for cid in order[start : start + step]), totals)
            stored.extend(part_)
            self.result.scored += len(writes)
            if not _hand_over(chunks, writes, writer):
                break
            records.extend(_changelog_records(part_, self.partitions))
        return stored, records

    @staticmethod
    def _drained(chunks: queue.Queue, writer: threading.Thread) -> bool:
        """Wait until the writer has written every chunk handed to it; False when it stopped first."""
        done = threading.Event()
        if not _hand_over(chunks, done, writer):
            return False
        while not done.wait(0.5):
            if not writer.is_alive():
                return False
        return True


def _changelog_records(stored: list[Stored], partitions: int) -> list[ChangelogRecord]:
    """Each customer's Table record: the key bytes and raw value the Table writes, in the changelog partition
    Kafka's partitioner gives the key on the orders topic (where the worker's Table writes and restores it)."""
    keys = [st.state.customer_id.encode() for st in stored]
    return [(p, key, codec.encode(st)) for st, key, p in zip(stored, keys, partitions_of(keys, partitions))]


def _hand_over(chunks: queue.Queue, item, writer: threading.Thread) -> bool:
    """Queue ``item`` for the writer thread; False when it has stopped (its failure is raised after)."""
    while writer.is_alive():
        try:
            chunks.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False


def _write_profiles(settings: Settings, chunks: queue.Queue, failed: list[BaseException], budget: Budget) -> None:
    """The writer thread: each queued chunk of profiles through the bulk-load script, and each shard's
    :class:`IndexEntries` into the rank index, until None; an Event queued is set once every item before it
    is written.

    The deployment held nothing when the load began (``check_empty``), and a load run again after a kill
    writes the same profiles, so nothing is there to judge a write against (``ProfileWriter.load``)."""
    async def run() -> None:
        client = connect.async_redis_client(settings)
        try:
            writer = ProfileWriter(client, settings.redis_prefix)
            while (writes := chunks.get()) is not None:
                if isinstance(writes, threading.Event):
                    writes.set()
                    continue
                if isinstance(writes, IndexEntries):
                    await writer.load_index(writes.ids, writes.columns)
                    continue
                left = budget.left()
                if left is not None and len(writes) >= left:
                    if left > 0:
                        await writer.load(writes[:left])
                    _stop(f"{budget.most:,} writes (profiles)")
                await writer.load(writes)
                budget.done += len(writes)
        finally:
            await client.aclose()

    try:
        asyncio.run(run())
    except BaseException as exc:  # raised again by the main thread, inside its Redis error translation
        failed.append(exc)


async def publish_boundaries(settings: Settings, bounds: Boundaries, rules_fp: str, partitions: int) -> None:
    """The leader's publication of the boundaries from the rank index just written, checked equal to those the
    profiles were scored with (under the rules of ``rules_fp``); every partition marked rescored to them, and
    Redis' epoch set."""
    version = bounds.version
    if not version:  # nobody scored: no boundaries, as a worker that saw no order would leave it
        return
    client = connect.async_redis_client(settings)
    try:
        store = BoundaryStore(client, settings.redis_prefix)
        current = await store.load()
        published = await store.compute(current, rules_fp)
        if published is None or published[0].boundaries != bounds:
            # the scores written were cut from the population in memory: Redis' rank index must give the same
            raise RfmError("the boundaries read back from the rank index in Redis differ from those the profiles "
                           "were scored with: was a worker started during the bootstrap?")
        for part in range(partitions):
            await store.mark_rescored(part, version, rules_fp)
        await _mark_epoch(client, settings.redis_prefix, partitions)
    finally:
        await client.aclose()


async def _mark_epoch(client, prefix: str, partitions: int) -> None:
    """Every partition's customers are in Redis: say so in ``{prefix}:epoch`` as a worker's rewrite would
    (worker/redis_epoch.py). Without it the first worker takes the loaded Redis for a lost one and rewrites
    every profile before its first batch (26 s at 500k customers)."""
    from stream_app.worker.redis_epoch import TOKEN

    key = epoch_key(prefix)
    await client.hsetnx(key, TOKEN, uuid.uuid4().hex)
    token = await client.hget(key, TOKEN)
    await client.hset(key, mapping={str(p): token for p in range(partitions)})


def _stop(what: str) -> None:
    """The test hook's end: as abrupt as kill -9 (no cleanup, no marker update)."""
    print(f"bootstrap: stopping abruptly after {what}, as asked", file=sys.stderr, flush=True)
    os._exit(137)


async def _write_changelog(settings: Settings, records: list[ChangelogRecord], progress: Progress,
                           budget: Budget) -> None:
    """Customers' Table records, in batches per partition."""
    topic = changelog_topic(settings)
    producer = connect.aiokafka_producer(settings, acks="all", linger_ms=20, max_batch_size=1 << 20,
                                         max_request_size=2 << 20)
    left = budget.left()
    if left is not None and left <= 0:
        _stop(f"{budget.most:,} writes")
    try:
        await producer.start()  # the cluster answered probe_kafka at the start
        batches = PartitionBatches(producer, topic)
        for n, (partition, key, value) in enumerate(progress.bar(records, len(records), "customer"), 1):
            try:
                await batches.add(partition, key, value)
            except RecordTooLarge:
                raise RfmError(f"customer {key.decode()}: its state ({len(value):,} bytes) does not fit in a "
                               "changelog record") from None
            if left is not None and n >= left:
                break
        await batches.delivered()
        if left is not None and len(records) >= left:
            _stop(f"{budget.most:,} writes (part of the changelog)")
        budget.done += len(records)
    finally:
        await producer.stop()
