"""build_app(settings): the Faust app of the streaming worker, and how it is run.

No module-level app (faust's examples share one, which does work at import
time): the CLI, the benchmark and the tests each build their own from
Settings, so several independent deployments can run on one stack.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import faust
import redis.asyncio as aioredis
from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, ProducerClosed
from faust.exceptions import ProducerSendError
from faust.types import TP
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from stream_app import connect
from stream_app.audiences import rules as audience_rules
from stream_app.core.scoring import Boundaries
from stream_app.core.segments import SegmentMap
from stream_app.errors import BadEvent
from stream_app.kafka.batches import PartitionBatches, send_keyed
from stream_app.monitor import logs
from stream_app.monitor.metrics import PublishCounting, WorkerMetrics
from stream_app.settings import Settings
from stream_app.core.profile import Announced, ProfileWrite, StoredProfile
from stream_app.redis.boundaries import BoundaryStore
from stream_app.redis.keys import boundaries_key
from stream_app.core.movers import Interval
from stream_app.redis.movers import MoverQuery
from stream_app.redis.profiles import ProfileWriter
from stream_app.worker.boundaries import Published
from stream_app.worker.leader import Leader
from stream_app.worker.checkpoint import Checkpoint
from stream_app.worker.faust_offsets import FaustOffsets
from stream_app.worker.heap import HeapGrowth
from stream_app.worker import outage
from stream_app.worker.quiet_monitor import QuietMonitor
from stream_app.worker.rescore import BEHIND_RECORDS
from stream_app.worker.redis_epoch import RedisEpoch
from stream_app.worker import bulk_restore, collector, faust_internals, malloc
from stream_app.worker.messages import Msg
from stream_app.worker.ports import iter_partition
from stream_app.worker.processor import Processor
from stream_app.kafka.topics import CUSTOMERS_TABLE, customers_table_options

log = logging.getLogger("rfm_stream.worker")
RETRYABLE = (RedisConnectionError, RedisTimeoutError, KafkaError, ProducerSendError, ConnectionError)


#: how long the broker may hold a fetch with no new records (faust_internals.consumer_fetch_wait)
FETCH_WAIT_MS = 100
#: seconds the producer gathers a flush's records into one request (Faust's ``producer_linger``; see build_app)
PRODUCER_LINGER = 0.005
#: seconds between two rescore slices of an idle stream (a fifth of a 0.05 s slice)
IDLE_PAUSE = 0.01


@dataclass(frozen=True)
class WorkerOptions:
    """Tuning knobs of one worker process (the CLI's options)."""

    batch_size: int = 5000
    #: Faust's take_events waits this long after every batch, even with events buffered: it bounds how
    #: fast a batch follows the last one, so it is most of the latency of a light stream (a backlog fills
    #: ``batch_size`` first and never waits)
    batch_wait: float = 0.02
    web_port: int | None = None  # metrics, health and dashboard; None: off
    web_host: str = "127.0.0.1"
    quiet_period: float = 1.0
    #: seconds of rescoring after each batch (and each tick the stream is idle): a recompute's rescore runs in
    #: slices, so the events behind its control record wait for a slice, not for the whole rescore
    rescore_slice: float = 0.05
    #: seconds with no batch after which the stream counts as idle and rescore slices run on their own
    idle_after: float = 0.25
    loglevel: str = "info"
    #: a newly assigned partition at least this many changelog records behind is loaded in bulk before
    #: Faust's recovery (worker/bulk_restore.py); None: Faust's recovery alone
    bulk_restore_min: int | None = bulk_restore.MIN_RECORDS


class FaustTable:
    """The processor's view of a Faust Table with raw bytes keys and values.

    A write goes to the Table's local store at once and to its changelog at the flush's end (``drain``),
    in one aiokafka batch per partition: Faust's per-record changelog path (a FutureMessage, its producer
    buffer, a delivery callback and a RocksDB offset record per record) took as much of a live worker's CPU
    per changed customer as deciding it. The store's persisted offset, which tells a restart where its
    local copy ends, is written once per partition and flush.

    With ``take_events`` the stream's current event is the batch's last one, but the RocksDB store takes a
    write's partition from the current event: so each read and write first makes the customer's own event
    current, and its changelog record goes to that event's partition. Without this, customers of other
    partitions would be restored on the wrong worker after a rebalance.
    """

    def __init__(self, table: faust.Table, partitions: int):
        self.table = table
        self.partitions = partitions
        self.changelog = table.changelog_topic.get_topic_name()
        self._pending: dict[int, list[tuple[bytes, bytes]]] = {}  # this flush's records, by partition
        self._owned: set | None = None  # the consumer's assignment, read at the flush's first write
        self._persisted: dict[int, int] = {}  # the last changelog offset recorded in the store, by partition

    async def drain(self) -> None:
        """Write this flush's changelog records and wait until they are on the broker.

        A batch's offsets become committable only after this (Faust's own flush before a commit gave up
        after 0.1 s with records still buffered: offsets were then committed for events whose changelog
        record was never written, and a worker restoring from the changelog lost them).
        """
        pending, self._pending = self._pending, {}
        self._owned = None
        if not pending:
            return
        batches = PartitionBatches(faust_internals.aiokafka_producer(self.table.app), self.changelog)
        for partition, records in pending.items():
            for key, value in records:
                await batches.add(partition, key, value)
        for partition, offset in (await batches.delivered()).items():
            # rescore chunks are written two at a time: an older flush may be delivered after a newer one
            if offset > self._persisted.get(partition, -1):
                self._persisted[partition] = offset
                self.table.data.set_persisted_offset(TP(self.changelog, partition), offset)

    def get(self, key: bytes, msg: Msg) -> bytes | None:
        """The stored value, read from the store as ``set`` writes it. ``Table.get`` asked the store whether
        it holds the key before reading it (two RocksDB reads and two key encodings for one value) and ran
        Faust's sensors: 8% of a live worker's CPU while it replays a backlog."""
        faust_internals.make_current(msg.handle)
        try:
            return self.table.data[key]
        except KeyError:
            return None

    def set(self, key: bytes, value: bytes, msg: Msg) -> None:
        if self._owned is None:  # once per flush: its writes run back to back, with no await between them
            self._owned = self.table.app.consumer.assignment()
        if msg.handle.message.tp not in self._owned:
            # The partition moved to another worker while this batch was in flight (a rebalance during
            # the Redis or Kafka awaits). Its new owner writes this customer; a late write here would put
            # an older state after the owner's newer one in the changelog, and a later restore would
            # lose the owner's events. The Redis write before it was version-checked, so it is harmless.
            return
        faust_internals.make_current(msg.handle)
        self.table.data[key] = value  # what Faust's Table.__setitem__ stores, without its changelog record
        self._pending.setdefault(msg.partition, []).append((key, value))

    def partition_items(self, partition: int) -> Iterable[tuple[bytes, bytes]]:
        store = self.table.data
        items = faust_internals.store_partition_items(store, partition)
        if items is not None:  # RocksDB: one database per partition
            return items
        return iter_partition(faust_internals.memory_items(store), partition, self.partitions)


class FaustSinks:
    """Redis and the Faust producer, as the processor's sinks."""

    def __init__(self, app: faust.App, settings: Settings, client: aioredis.Redis):
        self.app = app
        self.settings = settings
        self.client = client
        self.profiles = ProfileWriter(client, settings.redis_prefix)
        self.store = BoundaryStore(client, settings.redis_prefix)
        self.mover_query = MoverQuery(client, settings.redis_prefix)
        self._raw: bytes | None = None
        self._published = Published(Boundaries())

    async def movers(self, spans: dict[str, list[Interval]]) -> set[str]:
        return await self.mover_query.members(spans)

    async def write_profiles(self, writes: list[ProfileWrite]) -> list[tuple[int, int]]:
        return await self.profiles.write(writes)

    async def read_profiles(self, customer_ids: list[str]) -> list[StoredProfile | None]:
        return await self.profiles.read(customer_ids)

    async def announce(self, announced: list[tuple[str, Announced]]) -> None:
        await self.profiles.announce(announced)

    async def publish(self, changes: list[tuple[bytes, bytes]], dead: list[tuple[bytes | None, bytes]],
                      audience: list[tuple[bytes, bytes]]) -> None:
        """Send a flush's events and wait for their delivery. Change and audience events go in batches, to
        the partition the producer's partitioner would pick for their key (the customer id), so each
        customer's events stay in order in one partition; dead letters (rare, maybe keyless) one by one."""
        futs = [await self.app.producer.send(self.settings.dead_letter_topic, k, v, None, None, None)
                for k, v in dead]
        producer = faust_internals.aiokafka_producer(self.app)
        batches = [await send_keyed(producer, self.settings.changes_topic, changes),
                   await send_keyed(producer, self.settings.audience_topic, audience)]
        await asyncio.gather(*futs, *(b.delivered() for b in batches if b is not None))

    async def latest_boundaries(self) -> Boundaries:
        try:
            return (await self.latest_published()).boundaries
        except BadEvent:  # not the leader's writing: keep scoring against the last good record
            return self._published.boundaries

    async def latest_published(self) -> Published:
        """The leader's boundaries record; BadEvent when it is malformed."""
        raw = await self.client.get(boundaries_key(self.settings.redis_prefix))
        if raw != self._raw:
            try:
                published = Published.from_bytes(raw)
            except Exception as exc:
                raise BadEvent(f"the boundaries record in Redis is malformed: {type(exc).__name__}: {exc}") from None
            self._raw, self._published = raw, published
        return self._published

    async def mark_rescored(self, partition: int, version: int, rules_fp: str) -> None:
        await self.store.mark_rescored(partition, version, rules_fp)

    async def last_rescore(self, partition: int) -> tuple[int, str] | None:
        return await self.store.last_rescore(partition)

    async def published_between(self, lo: int, hi: int) -> list[Published] | None:
        return await self.store.published_between(lo, hi)


async def process_or_exit(processor: Processor, msgs: list[Msg], metrics: WorkerMetrics | None = None,
                          before: Callable[[], Awaitable[None]] | None = None,
                          settings: Settings | None = None) -> None:
    """Process a batch; never let an exception reach Faust.

    ``take_events`` acks its batch even when the agent raises, which would
    silently drop events. So a lost connection to Redis or Kafka is retried
    (re-running a batch is a replay, which the processor makes harmless), and
    anything else ends the process without acking: a restart replays it. A Kafka error that is not a
    server fault (a record the broker refuses, say) is not retried: retrying could never succeed.
    ``before`` runs first on every attempt (the check that Redis still holds the owned partitions).
    """
    for attempt in itertools.count():
        counted = copy.deepcopy(processor.counters)  # a failed attempt's counts are dropped: its retry counts again
        try:
            if before is not None:
                await before()
            await processor.process(msgs)
            if attempt and metrics is not None:
                metrics.set_retrying(None)
            return
        except RETRYABLE as exc:
            if not server_fault(exc):
                log.exception("batch failed on an error retrying cannot fix; exiting without acking it")
                logging.shutdown()
                os._exit(70)
            processor.counters = counted
            if metrics is not None:
                metrics.set_retrying(exc)
            delay = min(30.0, 0.5 * 2**attempt)
            log.warning("batch of %d events waits: %s; retry %d in %.1fs", len(msgs),
                        outage.describe(exc, settings) if settings else repr(exc), attempt + 1, delay)
            await asyncio.sleep(delay)
        except Exception:  # a bug: do not ack what was not processed
            log.exception("batch failed; exiting without acking it (a restart replays it)")
            logging.shutdown()
            os._exit(70)


def server_fault(exc: BaseException) -> bool:
    """Whether an error of RETRYABLE's kinds is a server's (unreachable, timed out, leader moving), so
    retrying the batch can succeed; not e.g. MessageSizeTooLargeError, which would fail forever."""
    if isinstance(exc, ProducerSendError):  # Faust wraps the client's error
        return exc.__cause__ is None or server_fault(exc.__cause__)
    if isinstance(exc, KafkaError):
        return bool(exc.retriable) or isinstance(exc, (KafkaTimeoutError, KafkaConnectionError, ProducerClosed))
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, ConnectionError))


def dump_tasks() -> None:
    """kill -USR1 <worker>: every asyncio task's await chain to the log (where is a stuck worker waiting?)."""
    for task in asyncio.all_tasks():
        chain, coro = [], task.get_coro()
        while coro is not None and len(chain) < 40:
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None) or getattr(coro, "gi_frame", None)
            if frame is None:
                chain.append(type(coro).__name__)
                break
            chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
            coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None) or getattr(coro, "gi_yieldfrom", None)
        log.warning("task %s: %s", task.get_name(), " -> ".join(chain))
    import gc
    import inspect

    for obj in gc.get_objects():
        if inspect.iscoroutine(obj) and obj.cr_frame is not None and obj.cr_code.co_filename.startswith(
                os.path.dirname(os.path.dirname(__file__))):
            log.warning("coroutine %s at line %d awaiting %r", obj.cr_code.co_name, obj.cr_frame.f_lineno, obj.cr_await)


def build_app(settings: Settings, partitions: int, options: WorkerOptions = WorkerOptions()) -> faust.App:
    """The worker's Faust app: at-least-once, batched agent, leader timer; see docs/streaming.md."""
    app = faust.App(
        settings.app_id,
        broker=connect.faust_broker(settings),
        broker_credentials=connect.faust_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir / settings.app_id),
        processing_guarantee="at_least_once",
        topic_partitions=partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=0,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_commit_interval=1.0,
        # a rebalance's bulk restore runs inside the rebalance callback: the group waits that long for us
        broker_rebalance_timeout=bulk_restore.BUDGET + 60.0,
        Table=bulk_restore.RestoringTable,
        # A short linger: with none, a flush's records left in a produce request each as soon as the one
        # before it was answered, 200-400 requests a second at 1,000 orders/s, each send a socket write
        # that gave the GIL up to Faust's consumer thread; 5 ms gathers a flush in a few requests and
        # delays each of its two deliveries by at most that (50 ms had cost every flush 0.1 s)
        producer_linger=PRODUCER_LINGER,
        producer_max_batch_size=1_048_576,
        web_enabled=False,  # stream_app.monitor serves /metrics, the health checks and the dashboard
        monitor=QuietMonitor(),  # Faust's figures per event feed only the web views turned off above
    )
    # raw serializers: a value Faust cannot decode would stop its stream; the processor dead-letters it instead
    orders = app.topic(settings.orders_topic, key_type=bytes, value_type=bytes, key_serializer="raw",
                       value_serializer="raw", partitions=partitions)
    table = app.Table(CUSTOMERS_TABLE, key_type=bytes, value_type=bytes, partitions=partitions, default=None,
                      options=customers_table_options())
    if options.bulk_restore_min is not None:
        table.bulk_restore = bulk_restore.BulkRestore(settings, options.bulk_restore_min)
    segments = SegmentMap.load(settings.segments_file)
    rules = audience_rules.load(settings.audiences_file, segments.names)
    state: dict = {}
    metrics = WorkerMetrics()

    def runtime() -> tuple[Processor, Leader]:
        """Redis clients must be made on the worker's event loop, so on first use."""
        if not state:
            client = connect.async_redis_client(settings)
            sinks = FaustSinks(app, settings, client)
            faust_table = FaustTable(table, partitions)
            counted = PublishCounting(sinks, metrics)
            state["checkpoint"] = Checkpoint(faust_table, counted, offsets)
            state["processor"] = Processor(faust_table, counted, segments, settings.orders_topic, rules=rules,
                                           rules_fp=rules.fingerprint, checkpoint=state["checkpoint"],
                                           partitions=partitions)
            state["processor"].rescore_slice = options.rescore_slice
            state["processor"].full_batch = options.batch_size
            state["processor"].on_pin = offsets.guard.pin
            state["processor"].behind = lambda: offsets.lag() >= BEHIND_RECORDS
            metrics.attach(state["processor"])
            state["epoch"] = RedisEpoch(client, settings.redis_prefix, faust_table, sinks.profiles)
            state["leader"] = Leader(app, settings, sinks.store, partitions, options.quiet_period,
                                     rules_fp=rules.fingerprint)
        return state["processor"], state["leader"]

    offsets = FaustOffsets(app, settings.orders_topic)

    def owned() -> set[int]:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == settings.orders_topic}

    leader_outage = outage.Throttled("boundary recompute")

    @app.agent(orders, name="rfm-orders")
    async def process_orders(stream: faust.StreamT) -> None:
        try:
            faust_internals.check(app, table)
            faust_internals.consumer_fetch_wait(app, FETCH_WAIT_MS)
        except faust_internals.FaustInternalsMissing as exc:  # refuse to run rather than commit unprocessed offsets
            log.error("%s", exc)
            logging.shutdown()
            os._exit(78)
        processor, _ = runtime()
        offsets.install()
        async for events in stream.take_events(options.batch_size, within=options.batch_wait):
            async with turn:
                offsets.busy = True
                try:
                    batch = await offsets.admit(events)  # in offset order, nothing skipped; see worker/offsets.py
                    if batch.reassigned:
                        processor.reassigned()
                    t0 = time.perf_counter()
                    await run_batch(processor, batch.msgs)
                    if batch.msgs:
                        metrics.batch_done(batch.msgs, time.perf_counter() - t0)
                    await state["checkpoint"].commit(batch)  # its last step: the batch's offsets become committable
                finally:
                    offsets.busy = False

    #: the agent's batches and the idle rescore slices take turns: one processor, one checkpoint at a time
    turn = asyncio.Lock()

    async def run_batch(processor: Processor, msgs: list[Msg]) -> None:
        """A batch (or, empty, a rescore slice) after checking Redis still holds the owned partitions."""
        await process_or_exit(processor, msgs, metrics, lambda: state["epoch"].ensure(owned()), settings)

    @app.task
    async def rescore_while_idle() -> None:
        """Rescore slices while no batch arrives (an idle stream would otherwise leave a rescore unfinished).

        Only once the stream has been quiet for ``idle_after``: while events flow, each batch runs one slice
        after itself. Slices run back to back between batches had starved the consumer: each hop of a record
        from the fetcher to the agent waited behind a slice, and events waited 0.5-0.9 s for their batch.
        A task, not a timer: a rescore can take longer than any tick, which a timer would log as drift.
        """
        while True:
            await asyncio.sleep(0.1)
            processor = state.get("processor")
            # after a rebalance the agent's next batch drops the jobs; each partition's owner replays its control
            while (processor is not None and processor.jobs and not app.rebalancing
                   and offsets.guard.generation == app.consumer_generation_id
                   and time.perf_counter() - processor.last_batch_at >= options.idle_after):
                async with turn:  # a batch waiting for its turn gets it after this slice (asyncio.Lock is fair)
                    if processor.jobs:
                        await run_batch(processor, [])  # rescore slices only
                # a pause, not sleep(0): a record on its way to the agent needs several turns of the loop
                await asyncio.sleep(IDLE_PAUSE)

    @app.timer(1.0)
    async def offsets_watchdog() -> None:
        await offsets.watchdog()

    @app.timer(1.0, on_leader=True)
    async def recompute_boundaries() -> None:
        _, leader = runtime()
        try:
            await leader.tick()
            leader_outage.succeeded()
        except RETRYABLE as exc:  # a server outage: say so once in a while, not a traceback a second
            leader_outage.failed(exc, settings)
        except Exception:  # a failed tick is retried on the next one; it must not stop the worker
            log.exception("boundary recompute failed")

    @app.task
    async def quiet_logging() -> None:
        """Faust's worker leaves the root logger at DEBUG, and building debug records costs throughput."""
        logs.apply(options.loglevel, settings.log_format)
        for handler in logging.getLogger().handlers:  # a broker outage: not a line per connection attempt
            handler.addFilter(outage.RepeatFilter())
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)
        log.info("rfm-stream worker %s: topic %s (%d partitions), store %s, batch %d/%.2fs",
                    settings.app_id, settings.orders_topic, partitions, settings.store, options.batch_size,
                    options.batch_wait)

    @app.timer(10.0)
    async def report() -> None:
        if state:
            c = state["processor"].counters
            fields = {k: v for k, v in dataclasses.asdict(c).items() if isinstance(v, int)}
            fields.update(boundaries_version=state["processor"].bounds.version, held=offsets.guard.holds,
                          holes=offsets.guard.holes_accepted, stale_generation=offsets.stale)
            log.info("events %d applied %d duplicates %d replayed %d dead %d changes %d stale %d rescored %d "
                        "repaired %d controls %d batches %d boundaries v%d; held %d holes %d stale-generation %d",
                        c.events, c.applied, c.duplicates, c.replayed, c.dead, c.changes, c.stale, c.rescored,
                        c.repaired,
                        c.controls, c.batches, state["processor"].bounds.version, offsets.guard.holds,
                        offsets.guard.holes_accepted, offsets.stale, extra={"fields": fields})

    heap = HeapGrowth()

    @app.timer(60.0)
    async def memory_upkeep() -> None:
        """Freed memory back to the system (worker/malloc.py); with PYTHONTRACEMALLOC=1, where the heap grew."""
        took = malloc.trim()
        rocks = faust_internals.rocksdb_memory(table.data)
        if rocks:  # the bounded part of the worker's memory (kafka/topics.py), apart from what it holds itself
            log.info("memory: RocksDB memtables %.1f MiB, block cache %.1f MiB, table readers %.1f MiB; "
                     "malloc_trim %.3f s", rocks["rocksdb.cur-size-all-mem-tables"] / 2**20,
                     rocks["rocksdb.block-cache-usage"] / 2**20, rocks["rocksdb.estimate-table-readers-mem"] / 2**20,
                     took)
        heap.report()

    app.rfm_metrics = metrics  # type: ignore[attr-defined]
    app.rfm_monitor = None  # type: ignore[attr-defined]
    if options.web_port:
        from stream_app.monitor.web import WorkerMonitor

        app.rfm_monitor = WorkerMonitor(app, settings, metrics, offsets, segments, rules.names,  # type: ignore[attr-defined]
                                        options.web_host, options.web_port)
    return app


def run_worker(settings: Settings, options: WorkerOptions = WorkerOptions()) -> None:
    """Create the topics, build the app and run a Faust worker in this process until stopped."""
    from stream_app.kafka.topics import ensure_topics

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    malloc.fix_thresholds()
    partitions = ensure_topics(settings)
    app = build_app(settings, partitions, options)
    collector.tune()
    services = [app.rfm_monitor] if app.rfm_monitor is not None else []  # type: ignore[attr-defined]
    worker = faust.Worker(app, *services, loglevel=options.loglevel, quiet=True,
                          logging_config=logs.worker_logging_config(options.loglevel, settings.log_format))
    worker.execute_from_commandline()


__all__ = ["build_app", "run_worker", "WorkerOptions", "FaustTable", "FaustSinks"]
