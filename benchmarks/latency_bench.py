"""Latency benchmark on a large population (not a test): produce -> Redis p50/p99 with recomputes.

    python benchmarks/latency_bench.py [--population 1000000] [--history 2000000] [--rate 1000] [--seconds 90]

`stream_bench.py` measures latency on its own 50k-customer backlog, where 1,000 orders/s reach every customer
within a minute: a stress case, not a steady stream. Here the population is loaded first, as a retailer
would load it (`rfm-stream bootstrap` of `rfm-stream generate`'s synthetic history, --history events of
--population customers, all dated in 2024, or with --history-ends-now over the year before the run), into a
fresh deployment on the stack at KAFKA_BOOTSTRAP / REDIS_URL. One `rfm-stream worker`
(RFM_RECOMPUTE_INTERVAL=--interval) restores it from the changelog; then
--rate orders a second, each of a different customer drawn at random and dated now, run for --seconds.

Printed: bootstrap and restore times, p50/p99/worst of produce -> the profile's `updated_at` in Redis, the
boundary versions published meanwhile, and from the worker's log how many customers the rescores of those
versions rescored (the movers), so a reader sees what the recomputes cost. The deployment is deleted after.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bootstrap_bench import _delete  # noqa: E402
from stream_bench import latency, stop  # noqa: E402

from stream_app.settings import load  # noqa: E402
from stream_app.tools.synthetic import START_US, YEAR_US, generate_lines  # noqa: E402


def wait_ready(log: Path, timeout: float = 900) -> None:
    """Until the worker has restored its Table and its agent runs (Faust logs 'Ready' after recovery)."""
    deadline = time.monotonic() + timeout
    while b"Worker]: Ready" not in log.read_bytes():
        if time.monotonic() > deadline:
            sys.exit(f"the worker was not ready after {timeout:.0f}s; see {log}")
        time.sleep(0.2)


def rescored_total(log: Path) -> int:
    """The worker's last logged count of customers rescored (its counters line, every 10 s)."""
    found = re.findall(rb" rescored (\d+) ", log.read_bytes())
    return int(found[-1]) if found else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--population", type=int, default=1_000_000, help="customers loaded before the probes")
    ap.add_argument("--history", type=int, default=2_000_000, help="events of the loaded history")
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--interval", type=float, default=30.0, help="the worker's RFM_RECOMPUTE_INTERVAL")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--history-ends-now", action="store_true",
                    help="date the history over the year before the run, not 2024: the probes, dated now, then "
                         "continue it, as a live stream continues a loaded history; with the 2024 history each of "
                         "the first recomputes moves the recency cuts across the gap to now")
    ap.add_argument("--worker-args", default="", help="extra options of rfm-stream worker")
    args = ap.parse_args()

    base = load()
    run = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="rfm-latency-"))
    env = dict(os.environ, KAFKA_BOOTSTRAP=base.kafka_bootstrap, REDIS_URL=base.redis_url,
               RFM_APP_ID=f"bench-latency-{run}", RFM_ORDERS_TOPIC=f"bench-latency-{run}-orders",
               RFM_CHANGES_TOPIC=f"bench-latency-{run}-changes", RFM_DEAD_LETTER_TOPIC=f"bench-latency-{run}-dead",
               RFM_AUDIENCE_TOPIC=f"bench-latency-{run}-audience", RFM_REDIS_PREFIX=f"bench-latency-{run}",
               RFM_DATA_DIR=str(tmp / "data"), RFM_RECOMPUTE_INTERVAL=str(args.interval), PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    worker = None
    try:
        path = tmp / "history.jsonl"
        with open(path, "wb") as fh:
            start_us = int(time.time() * 1e6) - YEAR_US if args.history_ends_now else START_US
            for line in generate_lines(args.population, args.history, args.seed, start_us):
                fh.write(line + b"\n")
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "stream_app.cli", "bootstrap", str(path), "--format", "events",
                        "--quiet"], env=env, check=True)
        print(f"bootstrap of {args.history:,} events of {args.population:,} customers: "
              f"{time.perf_counter() - t0:.1f}s", flush=True)
        path.unlink()

        log = tmp / "worker.log"
        t0 = time.perf_counter()
        worker = subprocess.Popen([sys.executable, "-m", "stream_app.cli", "worker", *args.worker_args.split()],
                                  env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        wait_ready(log)
        print(f"worker restored the Table and is ready: {time.perf_counter() - t0:.1f}s", flush=True)
        rescored0 = rescored_total(log)

        lat = latency(env, args.seconds, args.rate, args.population, args.seed)
        time.sleep(11)  # the worker logs its counters every 10 s
        print(f"latency produce -> Redis at {args.rate:,.0f} orders/s of customers drawn from {args.population:,}, "
              f"dated now ({lat.sending()}), recompute every {args.interval:.0f}s: p50 {lat.p50:.0f} ms, "
              f"p99 {lat.p99:.0f} ms, worst {lat.worst:.0f} ms ({lat.probes:,} of {lat.sent:,} probes seen); "
              f"{lat.recomputes} boundary versions published meanwhile, "
              f"{rescored_total(log) - rescored0:,} customers rescored by their rescores", flush=True)
        print(f"median/worst ms of the probes sent in each 5 s: {lat.by_interval()}", flush=True)
    finally:
        if worker is not None:
            stop(worker)
        _delete(env)
        print(f"worker log in {tmp}")


if __name__ == "__main__":
    main()
