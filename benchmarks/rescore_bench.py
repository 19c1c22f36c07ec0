"""Benchmark (not a test): recompute + find the movers in the Redis rank index, against a full rescan.

    python benchmarks/rescore_bench.py [--sizes 100000,1000000,10000000] [--changed 300] [--seed 15]

For each population size, writes a synthetic rank index (R on epoch microseconds over two years, a
Pareto-like order count with large tie groups, log-normal cents, AOV from both) under a private prefix on
the Redis at REDIS_URL, then, as during a steady stream: computes the boundaries (the leader's Lua read of
the cut keys), changes ``--changed`` customers as new orders would (the latest time, one more order, more
money), computes the boundaries again, and times finding the customers whose scores moved with the movers
query, against a full rescan (``Boundaries.score_values`` over every customer). It checks the two agree,
times the everyone case (no old cuts: every customer read from the index), and prints the index's Redis
memory per customer. The private keys are deleted at the end, also after an error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import redis
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import settled_used_memory  # noqa: E402  (beside this script)
from stream_app.core.quintiles import DIMENSIONS  # noqa: E402
from stream_app.core.scoring import Boundaries  # noqa: E402
from stream_app.redis.movers import MoverQuery  # noqa: E402
from stream_app.settings import load  # noqa: E402
from stream_app.redis.keys import rank_key  # noqa: E402
from stream_app.redis.boundaries import BoundaryStore  # noqa: E402

#: bytes per customer to decide whether a size fits: at 1M, Redis took 436 for the index and this process 440
BYTES_PER_CUSTOMER = 1200


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def population(n: int, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
    """Customer ids and an (n, 4) int64 array of their r, f, m, aov values."""
    ids = [str(x) for x in rng.choice(10 * n, n, replace=False) + 10 * n]
    now = 1_764_547_200_000_000
    r = now - rng.integers(0, 2 * 365 * 86_400_000_000, n)
    f = 1 + np.minimum(rng.pareto(1.2, n).astype(np.int64), 500)
    m = np.maximum(1, (rng.lognormal(8.5, 1.1, n) * f).astype(np.int64))
    aov = (2 * m + f) // (2 * f)
    return ids, np.stack([r, f, m, aov], axis=1)


def write_index(client: redis.Redis, prefix: str, ids: list[str], values: np.ndarray, rows=None) -> None:
    rows = range(len(ids)) if rows is None else rows
    rows = list(rows)
    pipe = client.pipeline(transaction=False)
    for start in range(0, len(rows), 20_000):
        chunk = rows[start : start + 20_000]
        for i, d in enumerate(DIMENSIONS):
            pipe.zadd(rank_key(prefix, d), {ids[j]: int(values[j, i]) for j in chunk})
        pipe.execute()


def read_boundaries(url: str, prefix: str, version: int) -> tuple[Boundaries, float]:
    async def go() -> tuple[int, int, dict]:
        aclient = aioredis.from_url(url)
        try:
            return await BoundaryStore(aclient, prefix).read_cuts()
        finally:
            await aclient.aclose()

    t0 = time.perf_counter()
    _, n, cuts = asyncio.run(go())
    return Boundaries(cuts=cuts, customers=n, version=version), time.perf_counter() - t0



def movers(url: str, prefix: str, old: Boundaries, new: Boundaries) -> tuple[set[str], float]:
    async def go() -> tuple[set[str], float]:
        client = aioredis.from_url(url)
        try:
            t0 = time.perf_counter()
            found = await MoverQuery(client, prefix).movers(old, new)
            return found, time.perf_counter() - t0
        finally:
            await client.aclose()

    return asyncio.run(go())


def run(n: int, changed: int, url: str, rng: np.random.Generator) -> None:
    client = redis.Redis.from_url(url)
    prefix = f"bench-rescore-{uuid.uuid4().hex[:10]}"
    try:
        ids, values = population(n, rng)
        mem0 = settled_used_memory(url)  # the size before unlinked its four rank indexes
        t0 = time.perf_counter()
        write_index(client, prefix, ids, values)
        load_s = time.perf_counter() - t0
        per_customer = (int(client.info("memory")["used_memory"]) - mem0) / n
        old, old_s = read_boundaries(url, prefix, 1)

        # a steady stream between two recomputes: a few hundred customers order again
        rows = rng.choice(n, changed, replace=False)
        values[rows, 0] = values[:, 0].max() + rng.integers(1, 30_000_000, changed)
        values[rows, 1] += 1
        values[rows, 2] += rng.integers(500, 20_000, changed)
        values[rows, 3] = (2 * values[rows, 2] + values[rows, 1]) // (2 * values[rows, 1])
        write_index(client, prefix, ids, values, rows)
        new, new_s = read_boundaries(url, prefix, 2)

        found, movers_s = movers(url, prefix, old, new)
        t0 = time.perf_counter()
        rescored = {ids[j]: new.score_values(ids[j], tuple(int(x) for x in values[j])) for j in range(n)}
        rescan_s = time.perf_counter() - t0
        differ = {c for j, c in enumerate(ids) if old.score_values(c, tuple(int(x) for x in values[j])) != rescored[c]}
        row = {c: j for j, c in enumerate(ids)}
        t0 = time.perf_counter()
        for c in found:
            new.score_values(c, tuple(int(x) for x in values[row[c]]))
        score_movers_s = time.perf_counter() - t0
        everyone, everyone_s = movers(url, prefix, Boundaries(), new)

        agree = "yes" if found == differ else f"NO ({len(found ^ differ)} differ)"
        pad = " " * 21 + "|"
        print(f"{n:>10,} customers | index load {load_s:.1f} s, Redis {per_customer:.0f} B/customer for the rank index")
        print(f"{pad} boundaries: first {old_s * 1000:.1f} ms, after {changed} changed {new_s * 1000:.1f} ms")
        print(f"{pad} movers query: {len(found):,} movers in {movers_s * 1000:.1f} ms "
              f"(the full rescan's set: {agree}), scored in {score_movers_s * 1000:.1f} ms")
        print(f"{pad} full rescan: score_values over {n:,} customers in {rescan_s * 1000:.1f} ms "
              f"({len(differ):,} differ)")
        print(f"{pad} everyone (no old cuts): {len(everyone):,} customers read from the index "
              f"in {everyone_s * 1000:.1f} ms")
        if len(everyone) != n:
            print(f"{pad} WARNING: the everyone query returned {len(everyone):,}, not {n:,}")
    finally:
        client.unlink(*(rank_key(prefix, d) for d in DIMENSIONS))
        client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,1000000,10000000")
    ap.add_argument("--changed", type=int, default=300)
    ap.add_argument("--seed", type=int, default=15)
    args = ap.parse_args()
    url = load().redis_url
    rng = np.random.default_rng(args.seed)
    for n in (int(s) for s in args.sizes.split(",")):
        need, have = n * BYTES_PER_CUSTOMER, mem_available()
        if need > have * 0.8:
            print(f"{n:>10,} customers | skipped: needs about {need / 2**30:.1f} GiB of memory "
                  f"(Redis and this process), {have / 2**30:.1f} GiB available")
            continue
        run(n, args.changed, url, rng)


if __name__ == "__main__":
    main()
