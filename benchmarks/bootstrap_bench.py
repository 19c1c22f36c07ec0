"""Benchmark of `rfm-stream bootstrap` on the real stack (not a test): events/s and peak memory.

    python benchmarks/bootstrap_bench.py [--events 1000000] [--customers 100000] [--seed 7] [--shard-customers N]

Writes `rfm-stream generate`'s synthetic stream (Pareto frequency, log-normal amounts) to a temporary
events file, bootstraps it into a fresh deployment (its own app id, topics and Redis prefix on the stack
at KAFKA_BOOTSTRAP / REDIS_URL) as its own process, prints the command's stage lines, the events/s over
the whole command (reading the file included) and the process's peak memory, then deletes the deployment.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import run_measured  # noqa: E402  (beside this script)
from stream_app.settings import load  # noqa: E402
from stream_app.tools.synthetic import generate_lines  # noqa: E402


@dataclass
class BootstrapRun:
    events: int
    customers: int
    seconds: float  # the whole command, start-up and reading the file included
    peak_mb: float  # the bootstrap process's own peak resident memory
    output: str  # its stage lines

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def report(self) -> str:
        return (f"bootstrap: {self.events:,} events of {self.customers:,} customers in {self.seconds:.1f}s, "
                f"{self.rate:,.0f} events/s (whole process, start-up included), peak memory {self.peak_mb:,.0f} MB")


def bootstrap_run(events: int, customers: int, seed: int, shard_customers: int | None = None) -> BootstrapRun:
    """Generate a synthetic history, bootstrap it into a fresh deployment, delete the deployment after.
    The peak memory is the bootstrap process's own, not that of a worker stream_bench.py ran before it.
    ``shard_customers``: the command's ``--shard-customers`` (None: its default)."""
    run = uuid.uuid4().hex[:10]
    env = dict(os.environ, RFM_APP_ID=f"bench-bootstrap-{run}", RFM_ORDERS_TOPIC=f"bench-bootstrap-{run}-orders",
               RFM_CHANGES_TOPIC=f"bench-bootstrap-{run}-changes", RFM_DEAD_LETTER_TOPIC=f"bench-bootstrap-{run}-dead",
               RFM_AUDIENCE_TOPIC=f"bench-bootstrap-{run}-audience", RFM_REDIS_PREFIX=f"bench-bootstrap-{run}",
               PYTHONPATH=str(ROOT))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path, log = Path(tmp) / "events.jsonl", Path(tmp) / "bootstrap.log"
            t0 = time.perf_counter()
            with open(path, "wb") as fh:
                for line in generate_lines(customers, events, seed):
                    fh.write(line + b"\n")
            print(f"generated {events:,} events of {customers:,} customers "
                  f"({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f}s", flush=True)
            with open(log, "wb") as out:
                shards = ["--shard-customers", str(shard_customers)] if shard_customers else []
                seconds, peak_mb, code = run_measured([sys.executable, "-m", "stream_app.cli", "bootstrap", str(path),
                                                       "--format", "events", *shards], env=env, stdout=out)
            output = log.read_text().strip()
        if code != 0:
            raise SystemExit(f"{output}\nbootstrap exited {code}")
        return BootstrapRun(events, customers, seconds, peak_mb, output)
    finally:
        _delete(env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--shard-customers", type=int, default=None,
                    help="the most customers whose states the load holds at once (default: the command's)")
    args = ap.parse_args()
    run = bootstrap_run(args.events, args.customers, args.seed, args.shard_customers)
    print(run.output)
    print(run.report())


def _delete(env: dict[str, str]) -> None:
    """Remove the benchmark's deployment: its Redis keys and its topics."""
    import redis
    from kafka import KafkaAdminClient

    s = load()
    client = redis.Redis.from_url(s.redis_url)
    keys = list(client.scan_iter(match=env["RFM_REDIS_PREFIX"] + ":*", count=10_000))
    for i in range(0, len(keys), 10_000):
        client.unlink(*keys[i : i + 10_000])  # freed by Redis in the background
    client.close()
    admin = KafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    ours = [t for t in admin.list_topics() if t.startswith(env["RFM_APP_ID"])]
    if ours:
        admin.delete_topics(ours)
    admin.close()


if __name__ == "__main__":
    main()
