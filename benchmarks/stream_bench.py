"""Benchmark of the streaming worker on the real stack (not a test): throughput, latency, recompute, profile.

    python benchmarks/stream_bench.py [--customers 50000] [--events 200000] [--seed 7] [--profile]

In one run, on one synthetic topic (rfm-stream generate's stream: Pareto frequency, log-normal amounts):
1. a decode-only Faust agent (no state, no sinks): the ceiling of a Faust worker here;
2. our worker (`rfm-stream worker`, one process): end-to-end events/s and its ratio to (1);
3. latency produce -> Redis at a steady 1,000 events/s of existing customers (p50/p99), on the warm worker,
   with the boundaries recomputed every 30 s meanwhile;
4. `rfm-stream bootstrap` of --bootstrap-events synthetic events (10M of 1M customers) into an empty
   deployment, its events/s and peak memory against (2), the worker's replay of the same kind of stream
   (bootstrap_bench.py; --bootstrap-events 0 leaves it out);
5. the boundary recompute and a partition rescore at 100k and 1M customers (worker_rescore.py; 10M with
   --recompute-sizes 100000,1000000,10000000, which needs about 11 GB for Redis and as much for the
   benchmark's in-memory Table), and Redis bytes per customer;
6. with --profile, our worker again under pyinstrument, and where its time goes.
Rates count from the first committed offset to the last, so process start-up is excluded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis
from kafka import KafkaAdminClient, KafkaProducer

ROOT = Path(__file__).resolve().parent.parent
#: seconds between two reads of the probes' profiles: the latency figures' resolution
POLL = 0.05
sys.path.insert(0, str(ROOT))

from stream_app import connect  # noqa: E402
from stream_app.core.timeutil import format_us, parse_rfc3339  # noqa: E402
from stream_app.redis.keys import any_pattern, boundaries_key, customer_key  # noqa: E402
from stream_app.settings import load  # noqa: E402
from stream_app.worker.boundaries import Published  # noqa: E402
from stream_app.tools.synthetic import generate  # noqa: E402
from stream_app.kafka.topics import ensure_topics  # noqa: E402

import bootstrap_bench  # noqa: E402  (beside this script)
import worker_rescore  # noqa: E402


def decode_agent_main() -> None:
    """The decode-only Faust agent, run as its own process (argv: decode-agent)."""
    import faust

    s = load()
    s.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only the last folder of its datadir
    app = faust.App(s.app_id, broker=f"kafka://{s.kafka_bootstrap}", web_enabled=False,
                    broker_commit_interval=1.0, topic_partitions=s.partitions,
                    datadir=str(s.data_dir / "decode-agent"))  # the run's temporary folder, not the working directory
    topic = app.topic(s.orders_topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(topic)
    async def decode(stream):
        async for value in stream:
            orjson.loads(value)

    @app.task
    async def quiet():
        import logging
        for name in ("", "faust", "aiokafka", "mode"):
            logging.getLogger(name).setLevel(logging.WARNING)

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def committed_total(admin: KafkaAdminClient, group: str) -> int:
    offsets = connect.committed_offsets(admin, group) or {}  # None right after the broker starts
    return sum(o.offset for o in offsets.values() if o.offset >= 0)


def measure(env: dict, argv: list[str], group: str, total: int, log: Path, timeout: float = 900) -> tuple[float, subprocess.Popen]:
    """Start a consumer process; events/s from its first committed offset to the last."""
    admin = KafkaAdminClient(bootstrap_servers=env["KAFKA_BOOTSTRAP"])
    proc = subprocess.Popen(argv, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        t_first = c_first = None
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{argv} exited {proc.returncode}; see {log}")
            c = committed_total(admin, group)
            now = time.monotonic()
            if t_first is None and c > 0:
                t_first, c_first = now, c
            if c >= total:
                break
            if now > deadline:
                raise SystemExit(f"timeout: {c}/{total} consumed; see {log}")
            time.sleep(0.2)
    except BaseException:
        stop(proc)  # a failed measure leaves no consumer running
        raise
    finally:
        admin.close()
    return (c - c_first) / max(1e-9, now - t_first), proc


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def latency(env: dict, seconds: float, rate: float, customers: int, seed: int) -> Latency:
    """Produce -> Redis latency of a steady stream of orders of the existing customers, recomputes included.

    Each probe is a new order, dated now, of a customer the backlog created (a different one each time, in a
    random order), so every probe changes its customer's recency, and the leader recomputes the boundaries
    every RFM_RECOMPUTE_INTERVAL seconds as in production. A probe's latency runs from its send to the
    ``updated_at`` the worker wrote with its profile.
    """
    producer = KafkaProducer(bootstrap_servers=env["KAFKA_BOOTSTRAP"], linger_ms=0, acks=1)
    r = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)
    prefix = env["RFM_REDIS_PREFIX"]
    raw = redis.Redis.from_url(env["REDIS_URL"])
    version0 = _version(raw, prefix)
    run = uuid.uuid4().hex[:6]
    order = random.Random(seed).sample(range(customers), customers)
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    pending: dict[str, float] = {}  # sent, not yet seen: only these are read back
    n = min(int(seconds * rate), customers)
    start = time.perf_counter()
    t_wall0 = time.time() - start
    next_poll = start
    for i in range(n):
        ahead = start + i / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
        cid = f"c{order[i]}"
        now = time.perf_counter() + t_wall0
        value = orjson.dumps({"type": "order", "customer_id": cid, "occurred_at": format_us(int((now - 1) * 1e6)),
                              "order_id": f"probe-{run}-{i}", "amount": 10.0 + i % 90})
        sent[cid] = pending[cid] = now
        producer.send(env["RFM_ORDERS_TOPIC"], key=cid.encode(), value=value)
        # Redis read back every POLL seconds, not every few probes: with latencies of seconds the probes
        # in flight are thousands, and reading them all that often took CPU from the worker measured
        if time.perf_counter() >= next_poll:
            _collect(r, prefix, pending, got)
            next_poll = time.perf_counter() + POLL
    producer.flush()
    sending = time.perf_counter() - start
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        _collect(r, prefix, pending, got)
        time.sleep(POLL)
    lat = sorted((got[c] - sent[c]) * 1000 for c in got)
    timeline = sorted((sent[c] - t_wall0 - start, (got[c] - sent[c]) * 1000) for c in got)
    return Latency(p50=statistics.median(lat), p99=lat[int(0.99 * (len(lat) - 1))], worst=lat[-1], probes=len(lat),
                   sent=n, seconds=sending, recomputes=_version(raw, prefix) - version0, timeline=timeline)


@dataclass
class Latency:
    p50: float
    p99: float
    worst: float
    probes: int  # seen in Redis
    sent: int
    seconds: float  # how long sending them took: longer than sent / rate when the sender fell behind
    recomputes: int  # boundary versions published while the probes ran
    #: (seconds since the first probe, latency ms) of every probe seen, by send time
    timeline: list[tuple[float, float]] = field(default_factory=list)

    def sending(self) -> str:
        """How fast the probes went out: under the asked rate when the sender itself fell behind."""
        return f"{self.sent:,} probes sent in {self.seconds:.0f}s, {self.sent / self.seconds:,.0f} a second"

    def by_interval(self, seconds: float = 5.0) -> str:
        """The median and worst latency of the probes sent in each interval: when the slow ones were sent."""
        groups: dict[int, list[float]] = {}
        for at, ms in self.timeline:
            groups.setdefault(int(at // seconds), []).append(ms)
        return "  ".join(f"{int(k * seconds)}s {statistics.median(v):.0f}/{max(v):.0f}" for k, v in sorted(groups.items()))


def _version(r: redis.Redis, prefix: str) -> int:
    return Published.from_bytes(r.get(boundaries_key(prefix))).boundaries.version


def _collect(r, prefix: str, pending: dict, got: dict) -> None:
    """Moves to ``got`` the pending probes whose customer's profile was written after the probe was sent."""
    todo = list(pending)
    pipe = r.pipeline(transaction=False)
    for c in todo:
        pipe.hget(customer_key(prefix, c), "updated_at")
    for c, v in zip(todo, pipe.execute()):
        if v:
            at = parse_rfc3339(v) / 1e6
            if at >= pending[c] - 1e-3:
                got[c] = at
                del pending[c]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rate", type=float, default=1000.0, help="steady rate of the latency run")
    ap.add_argument("--latency-seconds", type=float, default=90.0,
                    help="how long the latency probes run (at most one probe per customer)")
    ap.add_argument("--recompute-interval", type=float, default=30.0, help="the worker's RFM_RECOMPUTE_INTERVAL")
    ap.add_argument("--recompute-sizes", default="100000,1000000")
    ap.add_argument("--bootstrap-events", type=int, default=10_000_000, help="0: no bootstrap run")
    ap.add_argument("--bootstrap-customers", type=int, default=1_000_000)
    ap.add_argument("--profile", action="store_true", help="also run the worker under pyinstrument")
    ap.add_argument("--store", default="rocksdb://")
    ap.add_argument("--worker-args", default="", help="extra options of rfm-stream worker, e.g. '--batch-size 20000'")
    args = ap.parse_args()

    base = load()
    tag = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="rfm-bench-"))
    env = dict(os.environ, KAFKA_BOOTSTRAP=base.kafka_bootstrap, REDIS_URL=base.redis_url,
               RFM_ORDERS_TOPIC=f"bench.orders.{tag}", RFM_CHANGES_TOPIC=f"bench.changes.{tag}",
               RFM_DEAD_LETTER_TOPIC=f"bench.dead.{tag}", RFM_REDIS_PREFIX=f"bench-{tag}", RFM_STORE=args.store,
               RFM_DATA_DIR=str(tmp / "data"), RFM_PARTITIONS=str(base.partitions), PYTHONUNBUFFERED="1")
    os.environ.update(env)
    s = load()
    ensure_topics(s)
    t0 = time.perf_counter()
    producer = KafkaProducer(bootstrap_servers=s.kafka_bootstrap, linger_ms=50, batch_size=1 << 20, acks=1)
    for key, value in generate(args.customers, args.events, args.seed):
        producer.send(s.orders_topic, key=key, value=value)
    producer.flush()
    print(f"produced {args.events:,} events of {args.customers:,} customers to {s.orders_topic} "
          f"in {time.perf_counter() - t0:.1f}s; {os.cpu_count()} cores, broker and Redis on the same machine")

    dec_env = dict(env, RFM_APP_ID=f"bench-decode-{tag}")
    dec_rate, dec = measure(dec_env, [sys.executable, __file__, "decode-agent"], dec_env["RFM_APP_ID"], args.events,
                            tmp / "decode.log")
    stop(dec)
    print(f"decode-only Faust agent: {dec_rate:,.0f} events/s")

    w_env = dict(env, RFM_APP_ID=f"bench-worker-{tag}", RFM_RECOMPUTE_INTERVAL=str(args.recompute_interval))
    worker_argv = [sys.executable, "-m", "stream_app.cli", "worker", *args.worker_args.split()]
    rate, worker = measure(w_env, worker_argv, w_env["RFM_APP_ID"],
                           args.events, tmp / "worker.log")
    print(f"rfm-stream worker ({args.store}): {rate:,.0f} events/s = {rate / dec_rate:.0%} of decode-only")
    from stream_app.settings import Settings
    from stream_app.tools.sync import sync

    t0 = time.perf_counter()
    sync(Settings(kafka_bootstrap=s.kafka_bootstrap, redis_url=s.redis_url, app_id=w_env["RFM_APP_ID"],
                  orders_topic=s.orders_topic, redis_prefix=s.redis_prefix), timeout=600)
    print(f"sync after the backlog (recompute + rescore of every partition): {time.perf_counter() - t0:.1f}s")
    lat = latency(w_env, args.latency_seconds, args.rate, args.customers, args.seed)
    print(f"latency produce -> Redis at {args.rate:,.0f} events/s of existing customers ({lat.sending()}), "
          f"recompute every {w_env['RFM_RECOMPUTE_INTERVAL']}s ({lat.recomputes} boundary versions published "
          f"meanwhile): p50 {lat.p50:.0f} ms, p99 {lat.p99:.0f} ms, worst {lat.worst:.0f} ms "
          f"({lat.probes:,} of {lat.sent:,} probes seen in Redis)")
    stop(worker)
    t0 = time.perf_counter()
    restart = subprocess.Popen(worker_argv, env=w_env,
                               stdout=open(tmp / "restart.log", "wb"), stderr=subprocess.STDOUT)
    while b"Worker]: Ready" not in (tmp / "restart.log").read_bytes():
        time.sleep(0.1)
    print(f"restart with the RocksDB folder kept: ready in {time.perf_counter() - t0:.1f}s")
    stop(restart)

    if args.bootstrap_events:
        boot = bootstrap_bench.bootstrap_run(args.bootstrap_events, args.bootstrap_customers, args.seed)
        print(boot.output)
        print(f"{boot.report()}; {boot.rate / rate:.1f}x the worker's replay rate above")

    for size in (int(x) for x in args.recompute_sizes.split(",") if x):
        figures = asyncio.run(worker_rescore.recompute_and_rescore(s.redis_url, size, args.seed, settings=s))
        print(worker_rescore.report(size, figures))  # its events and changelog sent to Kafka, as the worker

    if args.profile:
        p_env = dict(env, RFM_APP_ID=f"bench-profile-{tag}", RFM_DATA_DIR=str(tmp / "pdata"))
        out = tmp / "profile.txt"
        argv = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(out), "-m", "stream_app.cli", "worker"]
        prate, prof = measure(p_env, argv, p_env["RFM_APP_ID"], args.events, tmp / "profile.log")
        stop(prof, signal.SIGINT)
        print(f"profiled worker: {prate:,.0f} events/s; profile in {out}")
    print(f"logs in {tmp}")
    admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    admin.delete_topics([t for t in admin.list_topics() if tag in t])
    admin.close()
    r = redis.Redis.from_url(s.redis_url)  # the workers' profiles: 50k customers a run were left behind
    keys = list(r.scan_iter(match=any_pattern(s.redis_prefix), count=10_000))
    for i in range(0, len(keys), 10_000):
        r.unlink(*keys[i : i + 10_000])  # freed by Redis in the background
    r.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["decode-agent"]:
        sys.argv = sys.argv[:1]
        decode_agent_main()
    else:
        main()
