"""Benchmark (not a test): the worker's recompute and rescore of one partition, at a population size.

    python benchmarks/worker_rescore.py [--sizes 100000,1000000] [--seed 7] [--ordered N] [--depth N] [--chunk N] [--no-kafka] [--profile FILE]

For each size, under a private prefix on the Redis at REDIS_URL: a population of customers with real order
histories (a Pareto number of orders, about 4 a customer; log-normal amounts; times over a year; online or
offline), scored as the worker scores them (``Processor.settle``, the default segment map and audience
rules) and written with the worker's profile script. Then, as during a steady stream, 1% of the customers
(or ``--ordered`` of them) order again and are scored with the boundaries of the time; the leader
recomputes the boundaries (one Lua read of the rank index); and one worker's ``Processor`` rescores its
partition to them, once for the customers the cut move touches (the steady state) and once scanning
everyone (after an assignment), from the same state. As in the worker, the rescore's change and audience
events and its Table changelog records go to real topics of the broker at KAFKA_BOOTSTRAP, in batches,
awaited before the next chunk (``--no-kafka`` counts them instead, to show Kafka's share). It prints the
recompute time, both rescores (the movers' with the CPU Redis and the broker spent meanwhile, and how long
Redis ran the profile scripts, of which in the commands they called), reading every profile back (what a
first rescore after an assignment no longer does) and Redis memory per customer. The private keys and
topics are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis
from kafka.admin import NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import command_usec, script_split_s, servers_cpu_s, settled_used_memory  # noqa: E402  (beside this script)
from stream_app import connect  # noqa: E402
from stream_app.audiences import rules as audience_rules  # noqa: E402
from stream_app.core import stored as codec  # noqa: E402
from stream_app.core.fold import CustomerState  # noqa: E402
from stream_app.core.profile import ProfileWrite, WriteStatus  # noqa: E402
from stream_app.core.scoring import rank_values  # noqa: E402
from stream_app.core.segments import SegmentMap  # noqa: E402
from stream_app.core.stored import Stored  # noqa: E402
from stream_app.kafka.batches import PartitionBatches, send_keyed  # noqa: E402
from stream_app.redis.boundaries import BoundaryStore  # noqa: E402
from stream_app.redis.keys import any_pattern, customer_key  # noqa: E402
from stream_app.redis.movers import MoverQuery  # noqa: E402
from stream_app.redis.profiles import ProfileWriter  # noqa: E402
from stream_app.settings import Settings, load  # noqa: E402
from stream_app.worker.app import PRODUCER_LINGER  # noqa: E402
from stream_app.worker import collector, control  # noqa: E402
from stream_app.worker.boundaries import Published  # noqa: E402
from stream_app.worker.messages import Msg  # noqa: E402
from stream_app.worker.processor import Processor  # noqa: E402

START_US = 1_700_000_000_000_000
YEAR_US = 365 * 86_400_000_000
DAY_US = 86_400_000_000
#: customers built, scored and written at a time: the set-up never holds a whole population of objects
STEP = 10_000


@dataclass
class BenchTopics:
    """The private topics a run sends to, and the producer (None: events counted, not sent)."""

    producer: object | None
    changes: str
    audience: str
    changelog: str


class Sinks:
    """The worker's sinks: real Redis writes; events sent as FaustSinks sends them (or counted)."""

    def __init__(self, writer: ProfileWriter, store: BoundaryStore, query: MoverQuery, topics: BenchTopics):
        self.writer, self.store, self.query, self.topics, self.changes = writer, store, query, topics, 0

    async def movers(self, spans):
        return await self.query.members(spans)

    async def write_profiles(self, writes):
        return await self.writer.write(writes)

    async def read_profiles(self, customer_ids):
        return await self.writer.read(customer_ids)

    async def announce(self, announced):
        await self.writer.announce(announced)

    async def publish(self, changes, dead, audience=()):
        self.changes += len(changes)
        t = self.topics
        if t.producer is None:
            return
        sent = [await send_keyed(t.producer, t.changes, changes), await send_keyed(t.producer, t.audience, audience)]
        await asyncio.gather(*(b.delivered() for b in sent if b is not None))

    async def latest_boundaries(self):
        return (await self.store.load()).boundaries

    async def latest_published(self):
        return await self.store.load()

    async def mark_rescored(self, partition, version, rules_fp=""):
        pass


class OnePartition(dict):
    """The worker's Table, one partition, in memory (values as stored.encode gives them, of their own length);
    ``set`` also keeps the changelog record that ``drain`` sends, as FaustTable does."""

    def __init__(self, topics: BenchTopics):
        super().__init__()
        self.topics = topics
        self.pending: list[tuple[bytes, bytes]] = []  # this flush's changelog records

    def get(self, key, msg=None):  # type: ignore[override]
        return dict.get(self, key)

    def set(self, key, value, msg):
        self[key] = value
        self.pending.append((key, value))

    def partition_items(self, partition):
        return self.items()

    async def drain(self):
        pending, self.pending = self.pending, []
        if self.topics.producer is None or not pending:
            return
        batches = PartitionBatches(self.topics.producer, self.topics.changelog)
        for key, value in pending:
            await batches.add(0, key, value)
        await batches.delivered()


@dataclass
class Run:
    """One rescore of the population (only the movers, or everyone) as measured."""

    seconds: float
    cpu_s: float  # this process's CPU time in it
    query_s: float  # until the candidates were known (the movers query answered, or the keys listed)
    servers_cpu_s: dict[str, float]  # CPU seconds of Redis and the broker during it, by server
    scripts_s: tuple[float, float]  # seconds Redis ran the profile scripts during it, and of them their commands
    looked_at: int
    rescored: int
    changes: int


@dataclass
class RescoreFigures:
    recompute_ms: float
    narrow_s: float  # rescore of the customers the cut move touches (the worker's steady state)
    narrow_cpu_s: float  # this process's CPU time in it: the worker's share, apart from Redis' and the broker's
    narrow_looked_at: int
    narrow_query_s: float  # of narrow_s: until the movers query of the rank index answered
    narrow_servers_cpu_s: dict[str, float]  # CPU seconds of Redis and the broker during it, by server
    narrow_scripts_s: tuple[float, float]  # seconds Redis ran the scripts during it, and of them their commands
    full_s: float  # rescore scanning every customer (after an assignment, or when the cuts cannot say)
    rescored: int
    verify_s: float  # reading every profile back from Redis (what the first rescore after an assignment avoids)
    ordered: int  # customers who ordered between the two recomputes
    redis_bytes_per_customer: float
    changes: int  # change events the narrow rescore produced


def histories(customers: int, seed: int):
    """(customer id, state) of each customer, a chunk's draws at a time: ``seq`` counts its orders."""
    rng = np.random.default_rng(seed)
    for start in range(0, customers, STEP):
        n = min(STEP, customers - start)
        counts = np.minimum(1 + rng.pareto(1.3, n).astype(np.int64), 200)
        total = int(counts.sum())
        times = START_US + rng.integers(0, YEAR_US, size=total)
        cents = np.maximum(1, np.round(rng.lognormal(np.log(3000), 1.0, size=total))).astype(np.int64)
        online = rng.random(n) < 0.5
        at = 0
        for i in range(n):
            k = int(counts[i])
            channel = "online" if online[i] else "offline"
            orders = {f"o{j}": (int(times[at + j]), int(cents[at + j]), channel) for j in range(k)}
            at += k
            cid = f"c{start + i}"
            yield cid, CustomerState(cid, orders=orders, seq=k)


async def _write_all(writer: ProfileWriter, writes: list[ProfileWrite]) -> None:
    statuses = await writer.write(writes)
    if any(s == WriteStatus.STALE for s, _ in statuses):
        raise SystemExit("the set-up's profile writes were refused as stale")


async def populate(customers: int, seed: int, table: OnePartition, writer: ProfileWriter, store: BoundaryStore,
                   proc: Processor, rules_fp: str) -> tuple[Published, float]:
    """Every customer scored with the boundaries of the whole population, as the worker leaves them; returns
    those boundaries and the leader's recompute time."""
    # the rank index first, so the leader can cut the boundaries the customers are then scored with
    for_index: list[ProfileWrite] = []
    for cid, state in histories(customers, seed):
        table[cid.encode()] = codec.encode(Stored(state))
        ranks = rank_values(state.totals())
        for_index.append(ProfileWrite(cid, 0, 0, "unscored", ranks, ()))
        if len(for_index) == STEP:
            await _write_all(writer, for_index)
            for_index = []
            _progress("built", len(table), customers)
    await _write_all(writer, for_index)
    t0 = time.perf_counter()
    first, _ = await store.compute(Published.from_bytes(None), rules_fp)
    recompute_ms = (time.perf_counter() - t0) * 1000
    proc.offer(first.boundaries)
    await _settle(proc, table, writer, list(table))
    return first, recompute_ms


async def _settle(proc: Processor, table: OnePartition, writer: ProfileWriter, keys: list[bytes]) -> None:
    for start in range(0, len(keys), STEP):
        writes = []
        for key in keys[start : start + STEP]:
            st = codec.decode(key.decode(), table[key])
            w = proc.settle(st)
            table[key] = codec.encode(st)
            if w is not None:
                writes.append(w)
        await _write_all(writer, writes)
        _progress("scored", start + STEP, len(keys))


def _progress(what: str, done: int, total: int) -> None:
    if total >= 1_000_000 and done % 1_000_000 == 0:
        print(f"  {what} {done:,} of {total:,} customers", file=sys.stderr, flush=True)


async def order_again(ordered: int, seed: int, table: OnePartition, proc: Processor, writer: ProfileWriter) -> None:
    """``ordered`` customers order again (:func:`new_orders`), scored with the processor's boundaries as
    their batch would be."""
    await _settle(proc, table, writer, new_orders(ordered, seed, table))


def new_orders(ordered: int, seed: int, table: dict[bytes, bytes]) -> list[bytes]:
    """``ordered`` customers of ``table`` order again, a day after their last order, as much as their first;
    their keys (their states are not scored yet)."""
    rng = np.random.default_rng(seed + 1)
    keys = list(table)
    picked = [keys[i] for i in rng.choice(len(keys), size=min(ordered, len(keys)), replace=False)]
    for key in picked:
        st = codec.decode(key.decode(), table[key])
        state = st.state
        last = max(t for t, _, _ in state.orders.values())
        _, cents, channel = state.orders["o0"]
        state.orders[f"o{len(state.orders)}"] = (last + DAY_US, cents, channel)
        state.seq += 1
        table[key] = codec.encode(st)
    return picked


async def recompute_and_rescore(redis_url: str, customers: int, seed: int, ordered: int | None = None,
                                settings: Settings | None = None, depth: int | None = None,
                                profile: str | None = None, chunk: int | None = None) -> RescoreFigures:
    """Recompute time and one worker's rescore of ``customers`` customers, both only the movers and scanning
    everyone, from the same state, after ``ordered`` customers (default 1%) ordered again; with ``settings``,
    the rescore's events and changelog go to private topics of its Kafka. ``depth``: rescore chunks written
    at once (default: the worker's). ``profile``: a file for pyinstrument's text profile of the movers' rescore."""
    ordered = customers // 100 if ordered is None else ordered
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(redis_url)
    writer, store = ProfileWriter(client, prefix), BoundaryStore(client, prefix)
    topics = await bench_topics(settings, prefix) if settings is not None else BenchTopics(None, "", "", "")
    sinks = Sinks(writer, store, MoverQuery(client, prefix), topics)
    table = OnePartition(topics)
    segments = SegmentMap.load()
    rules = audience_rules.load(None, segments.names)

    def processor(partitions: int | None = None) -> Processor:
        proc = Processor(table, sinks, segments, "bench", rules=rules, rules_fp=rules.fingerprint,
                         partitions=partitions)
        proc.rescore_depth = depth or proc.rescore_depth
        proc.rescore_chunk = chunk or proc.rescore_chunk
        return proc

    used_before = settled_used_memory(redis_url)
    try:
        proc = processor()
        first, recompute_ms = await populate(customers, seed, table, writer, store, proc, rules.fingerprint)
        await order_again(ordered, seed, table, proc, writer)
        per_customer = (int((await client.info("memory"))["used_memory"]) - used_before) / customers
        second, _ = await store.compute(first, rules.fingerprint)
        del proc
        collector.tune()  # as the worker runs; the set-up's garbage is not the rescore's
        states = dict(table)
        runs: dict[str, Run] = {}
        for name, partitions in (("narrow", 1), ("full", None)):
            table.clear()
            table.update(states)  # the same state for both
            table.pending = []
            proc = processor(partitions)
            proc.offer(first.boundaries)
            # steady state: this worker has owned the partition since its last rescore, scored with `first`
            proc.ledger.starting(0, first.boundaries)
            proc.ledger.rescored(0, first.boundaries.version)
            sinks.changes = 0
            servers0, commands0 = servers_cpu_s(), command_usec(await client.info("commandstats"))
            t0, cpu0 = time.perf_counter(), time.process_time()
            proc.offer(second.boundaries)
            looked: list[int] = []
            answered: list[float] = []
            candidates = proc._rescore_candidates

            async def counted(m, bounds, candidates=candidates, proc=proc):
                keys, spans = await candidates(m, bounds)  # a scan's keys, or the spans of a movers query
                found = len(keys) if spans is None else len((await proc._movers_task(bounds, spans)).get(0, []))
                looked.append(found)
                answered.append(time.perf_counter())
                return keys, spans

            proc._rescore_candidates = counted  # type: ignore[method-assign]
            profiler = _profiler() if profile and name == "narrow" else None
            await proc._rescore(Msg(0, 0, control.CONTROL_KEY, None), second.computed_us)
            if profiler is not None:
                profiler.stop()
                Path(profile).write_text(profiler.output_text(show_all=False))
            runs[name] = Run(time.perf_counter() - t0, time.process_time() - cpu0, answered[0] - t0,
                             {k: v - servers0.get(k, 0.0) for k, v in servers_cpu_s().items()},
                             script_split_s(commands0, command_usec(await client.info("commandstats"))),
                             sum(looked), proc.counters.rescored, sinks.changes)
            if name == "narrow":
                await check_profiles(client, prefix, proc, table, customers)
        narrow, full = runs["narrow"], runs["full"]
        if narrow.rescored != full.rescored:
            raise SystemExit(f"the movers rescored {narrow.rescored} customers, everyone {full.rescored}")
        t0 = time.perf_counter()
        await writer.read([f"c{i}" for i in range(customers)])
        verify_s = time.perf_counter() - t0
        return RescoreFigures(recompute_ms, narrow.seconds, narrow.cpu_s, narrow.looked_at, narrow.query_s,
                              narrow.servers_cpu_s, narrow.scripts_s, full.seconds, full.rescored, verify_s,
                              ordered, per_customer, narrow.changes)
    finally:
        gc.unfreeze()
        if topics.producer is not None:
            await topics.producer.stop()
            drop_topics(settings, topics)
        keys = [k async for k in client.scan_iter(match=any_pattern(prefix), count=10_000)]
        for i in range(0, len(keys), 10_000):
            await client.unlink(*keys[i : i + 10_000])  # DEL of a 10M-member rank index outlasts the read timeout
        await client.aclose()


async def check_profiles(client: aioredis.Redis, prefix: str, proc: Processor, table: OnePartition, customers: int,
                         sample: int = 20_000) -> None:
    """Redis holds, for a sample of customers, the segment and scores of the new boundaries: the rescore of
    the movers missed nobody there."""
    ids = [f"c{i}" for i in range(0, customers, max(1, customers // sample))]
    pipe = client.pipeline(transaction=False)
    for cid in ids:
        pipe.hmget(customer_key(prefix, cid), "segment", "r_score", "f_score", "m_score", "aov_score")
    for cid, held in zip(ids, await pipe.execute()):
        st = codec.decode(cid, table[cid.encode()])
        sc = proc.bounds.score(cid, st.state.totals())
        want = [proc.segments.segment(sc.r, sc.f), sc.r, sc.f, sc.m, sc.aov]
        if [held[0].decode(), *map(int, held[1:])] != want:
            raise SystemExit(f"customer {cid}: Redis holds {held}, the boundaries v{proc.bounds.version} say {want}")


async def bench_topics(settings: Settings, prefix: str) -> BenchTopics:
    """Private topics for the events and the changelog, and a producer configured as the worker's Faust
    producer (acks from every replica, the worker's linger, 1 MB batches)."""
    topics = BenchTopics(None, f"{prefix}-changes", f"{prefix}-audience", f"{prefix}-changelog")
    admin = connect.kafka_admin(settings, client_id="rfm-bench")
    try:
        admin.create_topics([NewTopic(t, num_partitions=settings.partitions, replication_factor=1)
                             for t in (topics.changes, topics.audience, topics.changelog)])
    finally:
        admin.close()
    producer = connect.aiokafka_producer(settings, acks="all", linger_ms=int(PRODUCER_LINGER * 1000),
                                         max_batch_size=1 << 20)
    await producer.start()
    topics.producer = producer
    return topics


def drop_topics(settings: Settings, topics: BenchTopics) -> None:
    admin = connect.kafka_admin(settings, client_id="rfm-bench")
    try:
        admin.delete_topics([topics.changes, topics.audience, topics.changelog])
    finally:
        admin.close()


def report(size: int, f: RescoreFigures) -> str:
    return (f"{size:,} customers: boundary recompute {f.recompute_ms:.1f} ms; rescore after {f.ordered:,} ordered again: "
            f"only the movers {f.narrow_s:.2f}s (found in {f.narrow_query_s:.2f}s; worker CPU {f.narrow_cpu_s:.2f}s"
            f"{''.join(f', {k} {v:.2f}s' for k, v in sorted(f.narrow_servers_cpu_s.items()))}; "
            f"Redis ran the scripts {f.narrow_scripts_s[0]:.2f}s, {f.narrow_scripts_s[1]:.2f}s of it in their commands; "
            f"{f.narrow_looked_at:,} looked at, {f.rescored:,} rescored, "
            f"{f.changes:,} change events), everyone {f.full_s:.1f}s; reading every profile back from Redis "
            f"{f.verify_s:.1f}s; Redis {f.redis_bytes_per_customer:,.0f} bytes a customer")


def _profiler():
    from pyinstrument import Profiler  # a benchmark's optional dependency, as in stream_bench.py --profile

    profiler = Profiler(interval=0.0005, async_mode="enabled")
    profiler.start()
    return profiler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--ordered", type=int, default=None,
                    help="customers who order between the two recomputes (default: 1%% of each size); a steady "
                         "1,000 orders/s with a recompute every 30 s is up to 30,000")
    ap.add_argument("--no-kafka", action="store_true",
                    help="count the rescore's events and changelog records instead of sending them")
    ap.add_argument("--depth", type=int, default=None,
                    help="rescore chunks written at once while the next is scored (default: the worker's)")
    ap.add_argument("--chunk", type=int, default=None,
                    help="customers a rescore chunk looks at, at most (default: the worker's)")
    ap.add_argument("--profile", default=None, metavar="FILE",
                    help="write pyinstrument's profile of the (last size's) movers' rescore to FILE")
    args = ap.parse_args()
    settings = load()
    kafka = None if args.no_kafka else settings
    print(f"events and changelog: {'counted, not sent' if args.no_kafka else 'sent to Kafka'}", flush=True)
    for size in (int(x) for x in args.sizes.split(",") if x):
        figures = asyncio.run(recompute_and_rescore(settings.redis_url, size, args.seed, args.ordered, kafka,
                                                    args.depth, args.profile, args.chunk))
        print(report(size, figures), flush=True)


if __name__ == "__main__":
    main()
