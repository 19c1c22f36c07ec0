"""Soak benchmark (not a test): the worker under a steady stream for a long time, memory sampled each minute.

    python benchmarks/soak.py [--minutes 30] [--rate 500] [--customers 10000] [--interval 30] [--warmup 5] [--heap]

On a private Kafka + Redis (free ports, a temporary run folder; the stack at KAFKA_BOOTSTRAP / REDIS_URL is
not touched), one `rfm-stream worker` with RFM_RECOMPUTE_INTERVAL=--interval (a boundary recompute, and so a
rescore of every partition, every 30 s by default) receives `rfm-stream generate`'s synthetic stream at
--rate events/s for --minutes. Each minute it prints the resident memory (RSS) of the worker, the part of it
RocksDB holds (memtables, block cache, table readers: bounded per partition, kafka/topics.py; from the
worker's own minute line), the Kafka broker and Redis, Redis' own used_memory, the customers in the rank index, the boundaries version and the
worker's CPU share, with the broker's resident memory split into anonymous (heap, buffers) and
file-backed (memory-mapped log indexes) parts. At the end: `rfm-stream sync`, then every customer's Redis profile against
`rfm-stream batch` over the same file, and whether memory stayed flat after the warm-up: each process' growth
from the end of the warm-up to the end, in MB and per cent. The warm-up lasts --warmup minutes and at least
until the rank index holds 98% of the customers it holds at the end (WARM_SHARE): until then, memory grows
with the customers, and RocksDB's memtables and block cache fill up to their bound.

--customers is kept small enough that nearly every customer has ordered before the warm-up ends, so a
growth after it is the process' own, not more customers' profiles.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stream_app import connect  # noqa: E402
from stream_app import batch  # noqa: E402
from stream_app.adapters import registry  # noqa: E402
from stream_app.stack.private import private_stack  # noqa: E402
from stream_app.settings import Settings  # noqa: E402
from stream_app.stack.process import rss_mb  # noqa: E402
from stream_app.redis.keys import boundaries_key, rescored_key  # noqa: E402
from stream_app.tools.compare import redis_differences  # noqa: E402
from stream_app.tools.sync import end_offsets  # noqa: E402

#: growth after the warm-up that still counts as flat: the larger of these two
FLAT_MB = 25.0
FLAT_SHARE = 0.10
#: the warm-up lasts until the rank index holds this share of the customers it holds at the end
WARM_SHARE = 0.98


def rss_parts_mb(pid: int) -> tuple[float, float]:
    """(anonymous, file-backed and shared) resident memory of a process in MB, from /proc: a broker's
    memory-mapped log indexes are file-backed pages the kernel can drop; its heap and buffers are anonymous."""
    parts = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("RssAnon", "RssFile", "RssShmem"):
                parts[name] = int(rest.split()[0]) / 1024
    except OSError:
        pass
    return parts.get("RssAnon", 0.0), parts.get("RssFile", 0.0) + parts.get("RssShmem", 0.0)


def rocksdb_mb(log: Path) -> float:
    """RocksDB's memtables, block cache and table readers in the worker's latest minute line (0: none yet)."""
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if "] memory: RocksDB " in ln]
    if not lines:
        return 0.0
    sizes = re.findall(r"([0-9.]+) MiB", lines[-1])
    return sum(float(x) for x in sizes)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cli(env: dict, *args: str, timeout: float = 3600) -> str:
    proc = subprocess.run([sys.executable, "-m", "stream_app.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"rfm-stream {' '.join(args)} exited {proc.returncode}: {proc.stdout}{proc.stderr}")
    return proc.stdout + proc.stderr


def progress(env: dict) -> tuple[int, int, int]:
    """(events committed by the worker group, events on the orders topic, its partitions)."""
    from kafka import KafkaAdminClient

    s = Settings(kafka_bootstrap=env["KAFKA_BOOTSTRAP"], orders_topic=env["RFM_ORDERS_TOPIC"], app_id=env["RFM_APP_ID"])
    admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    try:
        committed = connect.committed_offsets(admin, s.app_id) or {}
    finally:
        admin.close()
    ends = end_offsets(s)
    done = sum(min(end, committed[tp].offset if tp in committed else 0) for tp, end in ends.items())
    return done, sum(ends.values()), len(ends)


class RescoreWatch:
    """Each boundaries version the leader publishes, and how long until every partition was rescored to it.

    Read from Redis every half second: the version in ``{prefix}:boundaries``
    and the per-partition versions in ``{prefix}:rescored``, so the times are
    from publication to the last partition's rescore, to within a second.
    """

    def __init__(self, client: redis.Redis, prefix: str):
        self.client, self.prefix = client, prefix
        self.published: dict[int, float] = {}  # version -> when first seen
        self.took: dict[int, tuple[float, float]] = {}  # version -> (when seen done, seconds it took)

    def poll(self, partitions: int) -> None:
        raw = self.client.get(boundaries_key(self.prefix))
        now = time.monotonic()
        version = orjson.loads(raw)["version"] if raw else 0
        if version and version not in self.published:
            self.published[version] = now
        pending = [v for v in self.published if v not in self.took]
        if pending and partitions:
            done = {int(k): int(v) for k, v in self.client.hgetall(rescored_key(self.prefix)).items()}
            low = min(done.get(p, 0) for p in range(partitions))
            for v in pending:
                if low >= v:
                    self.took[v] = (now, now - self.published[v])

    def between(self, start: float, end: float) -> tuple[int, list[float]]:
        """How many versions were published in [start, end), and the rescore times of those finished in it."""
        published = sum(1 for at in self.published.values() if start <= at < end)
        return published, [took for at, took in self.took.values() if start <= at < end]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="how long the stream runs")
    ap.add_argument("--rate", type=int, default=500, help="events per second")
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--interval", type=int, default=30, help="RFM_RECOMPUTE_INTERVAL, seconds")
    ap.add_argument("--warmup", type=float, default=5.0, help="minutes before memory must stay flat")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (events file, logs, data)")
    ap.add_argument("--sample", type=float, default=60.0, help="seconds between samples")
    ap.add_argument("--sync-timeout", type=float, default=3600.0,
                    help="seconds the worker may take to catch up after the last event is sent")
    ap.add_argument("--heap", action="store_true",
                    help="trace the worker's Python allocations (PYTHONTRACEMALLOC=1, slower) and print, at the "
                         "end, the lines whose memory grew most since its first minute")
    args = ap.parse_args()

    events = int(args.minutes * 60 * args.rate)
    tmp = Path(tempfile.mkdtemp(prefix="rfm-soak-"))
    print(f"soak: {args.minutes:g} min at {args.rate} events/s = {events:,} events of {args.customers:,} customers, "
          f"recompute every {args.interval} s; work folder {tmp}", flush=True)
    try:
        return soak(args, events, tmp)
    finally:
        if not args.keep:  # the events file, the broker's log and the tables: about 0.5 GB per 1M events
            shutil.rmtree(tmp / "run", ignore_errors=True)
            shutil.rmtree(tmp / "worker", ignore_errors=True)
            (tmp / "events.jsonl").unlink(missing_ok=True)
            print(f"work folder {tmp} emptied but for the worker's log (--keep keeps it all)", flush=True)


def soak(args: argparse.Namespace, events: int, tmp: Path) -> int:
    """Everything between starting the private stack and stopping it; returns the exit status."""
    with private_stack(tmp / "run", echo=lambda line: print(line, flush=True)) as st:
        tag = uuid.uuid4().hex[:8]
        env = dict(os.environ, **st.env, RFM_APP_ID=f"soak-{tag}", RFM_ORDERS_TOPIC=f"soak-orders-{tag}",
                   RFM_CHANGES_TOPIC=f"soak-changes-{tag}", RFM_DEAD_LETTER_TOPIC=f"soak-dead-{tag}",
                   RFM_AUDIENCE_TOPIC=f"soak-audience-{tag}", RFM_REDIS_PREFIX=f"soak-{tag}",
                   RFM_RECOMPUTE_INTERVAL=str(args.interval), RFM_DATA_DIR=str(tmp / "worker"),
                   PYTHONUNBUFFERED="1", **({"PYTHONTRACEMALLOC": "1"} if args.heap else {}))
        stream = tmp / "events.jsonl"
        cli(env, "generate", "--customers", str(args.customers), "--events", str(events), "--seed", str(args.seed),
            "--out", str(stream))
        log = tmp / "worker.log"
        worker = subprocess.Popen([sys.executable, "-m", "stream_app.cli", "worker"], env=env,
                                  stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        replay = None
        try:
            client = redis.Redis.from_url(st.settings.redis_url)
            prefix = env["RFM_REDIS_PREFIX"]
            replay = subprocess.Popen([sys.executable, "-m", "stream_app.cli", "replay", str(stream), "--format",
                                       "events", "--rate", str(args.rate), "--quiet"], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            t0 = time.monotonic()
            pids = {"worker": worker.pid, "kafka": st.kafka_pid(), "redis": st.redis_pid()}
            samples: list[dict] = []
            cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
            watch = RescoreWatch(client, prefix)
            partitions = 0
            done0 = 0
            print(f"{'min':>5} {'worker MB':>9} {'RocksDB':>7} {'kafka MB':>8} {'anon':>5} {'file':>5} {'redis MB':>8} {'used_memory':>11} "
                  f"{'customers':>9} {'version':>7} {'recomputes':>10} {'rescore s':>9} {'ev/s':>5} {'behind':>8} "
                  f"{'worker CPU':>10} {'kafka CPU':>9} {'load':>4}", flush=True)
            last = t0
            while True:
                while time.monotonic() < last + args.sample:
                    time.sleep(0.5)
                    watch.poll(partitions)
                done_events, sent, partitions = progress(env)
                lag = sent - done_events
                done = replay.poll() is not None and lag == 0  # sampled until the worker has caught up
                now = time.monotonic()
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited with status {worker.returncode}; log: {log}")
                cpu = {k: cpu_seconds(p) for k, p in pids.items()}
                info = client.info("memory")
                recomputes, took = watch.between(last, now)
                sample: dict = {
                    "minute": (now - t0) / 60,
                    **{f"{k}_mb": rss_mb(p) for k, p in pids.items()},
                    "rocksdb_mb": rocksdb_mb(log),
                    "used_memory_mb": info["used_memory"] / 2**20,
                    "customers": client.zcard(f"{prefix}:rank:r"),
                    "version": max(watch.published, default=0),
                    "recomputes": recomputes,
                    "rescore_max": max(took, default=0.0),
                    "rate": (done_events - done0) / max(1e-9, now - last),
                    "worker_cpu": (cpu["worker"] - cpu0["worker"]) / max(1e-9, now - last),
                    "kafka_cpu": (cpu["kafka"] - cpu0["kafka"]) / max(1e-9, now - last),
                    "behind": lag,
                    "load": os.getloadavg()[0],
                }
                sample["worker_less_rocksdb_mb"] = sample["worker_mb"] - sample["rocksdb_mb"]
                sample["kafka_anon_mb"], sample["kafka_file_mb"] = rss_parts_mb(pids["kafka"])
                cpu0, last, done0 = cpu, now, done_events
                samples.append(sample)
                print(f"{sample['minute']:5.1f} {sample['worker_mb']:9.0f} {sample['rocksdb_mb']:7.0f} {sample['kafka_mb']:8.0f} "
                      f"{sample['kafka_anon_mb']:5.0f} {sample['kafka_file_mb']:5.0f} "
                      f"{sample['redis_mb']:8.0f} {sample['used_memory_mb']:9.1f}MB {sample['customers']:9,} "
                      f"{sample['version']:7} {recomputes:10} {sample['rescore_max']:9.1f} {sample['rate']:5.0f} "
                      f"{lag:8,} {sample['worker_cpu']:9.0%} {sample['kafka_cpu']:9.0%} {sample['load']:4.1f}",
                      flush=True)
                if done or time.monotonic() - t0 > args.minutes * 60 + args.sync_timeout:
                    break
            out, _ = replay.communicate()
            if replay.returncode != 0:
                raise SystemExit(f"replay exited {replay.returncode}: {out}")
            print(out.strip(), flush=True)
            t_sync = time.monotonic()
            print(cli(env, "sync", "--timeout", str(args.sync_timeout)).strip(), f"(sync took {time.monotonic() - t_sync:.0f}s)",
                  flush=True)
            expected = batch.score(registry.read(str(stream), "events")).set_index("customer_id")
            wrong = redis_differences(client, prefix, expected)
            print(f"Redis against batch over the same {events:,} events: {len(expected):,} customers, "
                  f"{len(wrong)} differences{': ' + '; '.join(wrong[:5]) if wrong else ''}", flush=True)
            flat = report_flat(samples, args.warmup)
            report_rescores(watch, args.interval)
            counters = [ln for ln in log.read_text(errors="replace").splitlines() if "] events " in ln]
            if counters:
                print("worker's last counters:", counters[-1].split("] ", 1)[-1], flush=True)
            heap = [ln.split("] ", 1)[-1] for ln in log.read_text(errors="replace").splitlines() if "] heap: " in ln]
            if heap:
                last = max(i for i, ln in enumerate(heap) if "traced" in ln)
                print("worker's last heap report:", *heap[last:], sep="\n  ", flush=True)
            return 0 if not wrong and flat else 1
        finally:
            for proc in (replay, worker):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(10)


def report_rescores(watch: RescoreWatch, interval: float) -> None:
    """How often the boundaries were recomputed, and how long the rescores took."""
    times = sorted(watch.published.values())
    gaps = [b - a for a, b in zip(times, times[1:])]
    took = sorted(t for _, t in watch.took.values())
    if not gaps or not took:
        print("too few boundary versions to tell the recompute rhythm")
        return
    print(f"boundaries: {len(times)} versions, one every {sum(gaps) / len(gaps):.1f} s on average "
          f"(shortest gap {min(gaps):.1f} s; RFM_RECOMPUTE_INTERVAL {interval:g} s); rescore of every partition "
          f"took median {took[len(took) // 2]:.1f} s, 95th percentile {took[int(0.95 * (len(took) - 1))]:.1f} s, "
          f"longest {took[-1]:.1f} s ({len(took)} of {len(times)} versions seen finished)")


def report_flat(samples: list[dict], warmup: float) -> bool:
    """Growth of each process from the first sample after the warm-up to the last; True when all are flat."""
    final = samples[-1]["customers"] if samples else 0
    after = [s for s in samples if s["minute"] >= warmup]
    after = after[next((i for i, s in enumerate(after) if s["customers"] >= WARM_SHARE * final), len(after)):]
    if len(after) < 2:
        print(f"too short to judge flatness: fewer than two samples after the {warmup:g}-minute warm-up")
        return True
    ok = True
    for k in ("worker_mb", "worker_less_rocksdb_mb", "kafka_mb", "kafka_anon_mb", "kafka_file_mb", "redis_mb",
              "used_memory_mb"):
        first, end = after[0][k], after[-1][k]
        peak = max(s[k] for s in after)
        growth = end - first
        flat = growth <= max(FLAT_MB, FLAT_SHARE * first)
        if k not in ("kafka_anon_mb", "kafka_file_mb"):  # the broker's two parts are shown, its total judged
            ok &= flat
        print(f"{k[:-3]:>22}: {first:7.1f} MB at minute {after[0]['minute']:.0f}, {end:7.1f} MB at the end "
              f"(peak {peak:.1f}), growth {growth:+.1f} MB ({growth / max(first, 1e-9):+.1%}): "
              f"{'flat' if flat else 'GROWING'}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
