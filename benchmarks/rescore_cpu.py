"""Benchmark (not a test): the worker's own CPU per rescored customer, with no server in the way.

    python benchmarks/rescore_cpu.py [--customers 500000] [--seed 7] [--profile]

`worker_rescore.py` times a rescore on the real stack, where the wall time is the worker's Python, Redis'
scripts and the broker together, on cores they share. This measures the first alone: the same population
and cut move (1% of the customers order again, as there), scored as the worker scores them, then the
movers' rescore of a trusted partition through ``Processor``'s own steps, a chunk of 500 at a time: sorting
the chunk's stored states out (``_rescored``), deciding and encoding (``_plan``) and the checkpoint's
writes (``_write``) with the Redis scripts' payloads built as for the server but their replies made up
here, and the change events counted, not sent. It prints the CPU microseconds per mover of each step, so a
change to the per-mover path can be judged in a minute, apart from the servers' share and their noise.
``--profile`` prints cProfile's busiest functions instead of timing the steps apart.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker_rescore import BenchTopics, OnePartition, histories, new_orders  # noqa: E402  (beside this script)
from stream_app.audiences import rules as audience_rules  # noqa: E402
from stream_app.core import stored as codec  # noqa: E402
from stream_app.core.scoring import boundaries_of  # noqa: E402
from stream_app.core.segments import SegmentMap  # noqa: E402
from stream_app.core.stored import Stored  # noqa: E402
from stream_app.redis.profiles import ProfileWriter  # noqa: E402
from stream_app.worker import collector, control  # noqa: E402
from stream_app.worker.messages import Msg  # noqa: E402
from stream_app.worker.processor import Processor  # noqa: E402
from stream_app.worker.rescore import RESCORE_CHUNK, RescoreJob, sort_out  # noqa: E402


class RepliesPipeline:
    """A Redis pipeline that answers the profile scripts as an empty-handed Redis would: every write applied."""

    def __init__(self) -> None:
        self.replies: list = []

    def evalsha(self, sha, numkeys, *args):  # the write script: status WRITTEN (1), stored version 0, each
        self.replies.append([x for _ in orjson.loads(args[-1]) for x in (1, 0)])

    def eval(self, source, numkeys, *args):  # the announce script
        self.replies.append(0)

    async def execute(self) -> list:
        return self.replies


class RepliesClient:
    def pipeline(self, transaction: bool = False) -> RepliesPipeline:
        return RepliesPipeline()

    async def script_load(self, source: str) -> str:
        return "sha"


class CountingSinks:
    """What the processor's chunks write: Redis through ProfileWriter (payloads built, replies made up),
    events counted."""

    def __init__(self) -> None:
        self.writer = ProfileWriter(RepliesClient(), "bench")  # type: ignore[arg-type]
        self.changes = 0

    async def write_profiles(self, writes):
        return await self.writer.write(writes)

    async def read_profiles(self, customer_ids):
        return [None] * len(customer_ids)

    async def announce(self, announced):
        await self.writer.announce(announced)

    async def publish(self, changes, dead, audience=()):
        self.changes += len(changes)


async def run(customers: int, seed: int, profile: bool) -> None:
    table = OnePartition(BenchTopics(None, "", "", ""))
    segments = SegmentMap.load()
    rules = audience_rules.load(None, segments.names)
    sinks = CountingSinks()
    proc = Processor(table, sinks, segments, "bench", rules=rules, rules_fp=rules.fingerprint, partitions=1)  # type: ignore[arg-type]
    states = list(histories(customers, seed))
    totals = {cid: st.totals() for cid, st in states}
    first = boundaries_of(totals, 1)  # the boundaries the leader would cut from the population
    proc.offer(first)
    for cid, st in states:
        stored = Stored(st)
        proc.settle(stored)
        table[cid.encode()] = codec.encode(stored)
    del states
    for key in new_orders(max(1, customers // 100), seed, table):  # 1% order again, as in worker_rescore.py
        stored = codec.decode(key.decode(), table[key])
        proc.settle(stored)
        table[key] = codec.encode(stored)
        totals[key.decode()] = stored.state.totals()
    second = boundaries_of(totals, 2)
    proc.offer(second)
    movers = [cid.encode() for cid, *_ in sort_out(table.items(), second, segments.segment, rules.fingerprint).changed]
    proc.ledger.starting(0, first)
    proc.ledger.rescored(0, first.version)  # trusted: this worker scored the partition since its last rescore
    job = proc.jobs[0] = RescoreJob(Msg(0, 0, control.CONTROL_KEY, None), second, second.version)
    collector.tune()  # as the worker runs
    gc.collect()
    spent = [0.0, 0.0, 0.0]
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    for start in range(0, len(movers), RESCORE_CHUNK):
        t0 = time.process_time()
        pending = await proc._rescored(0, job, movers[start : start + RESCORE_CHUNK])
        t1 = time.process_time()
        planned = await proc._plan(pending, [], True)
        t2 = time.process_time()
        if planned is not None:
            await proc._write(*planned)
        t3 = time.process_time()
        spent[0] += t1 - t0
        spent[1] += t2 - t1
        spent[2] += t3 - t2
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return
    n = len(movers)
    us = [s / n * 1e6 for s in spent]
    print(f"{customers:,} customers, {n:,} movers ({sinks.changes:,} change events): {sum(us):.1f} us of CPU a mover "
          f"(sorting out {us[0]:.1f}, deciding and encoding {us[1]:.1f}, writing {us[2]:.1f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", action="store_true", help="print cProfile's busiest functions of the rescore")
    args = ap.parse_args()
    asyncio.run(run(args.customers, args.seed, args.profile))


if __name__ == "__main__":
    main()
