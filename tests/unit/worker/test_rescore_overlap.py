"""A rescore writes chunks while it scores the next, and a chunk leaves the queue only once written."""

from __future__ import annotations

import asyncio

import pytest

from stream_app.core import stored as codec
from stream_app.core.fold import order_key
from stream_app.core.model import OrderEvent
from stream_app.worker import control
from stream_app.worker.messages import Msg
from stream_app.worker.rescore import MIN_CHUNK
from tests.unit.worker.test_processor import (PARTITIONS, TwinSinks, _dying_worker, assert_chains, assert_equals_batch,
                                              drive, next_msgs, run)


class SlowWrites(TwinSinks):
    """Profile writes that take a while (Redis running the script: some turns of the event loop), counting
    those during which profiles were read (the next chunk's); a write or a read may fail."""

    def __init__(self):
        super().__init__()
        self.overlapped = 0
        self.writes = 0
        self.fail_write: int | None = None  # the number of the write to fail, once
        self.reads = 0
        self.fail_read: int | None = None  # the number of the read to fail, once
        self.writing = 0  # profile writes under way now
        self.most_writing = 0

    async def write_profiles(self, writes):
        self.writes += 1
        if self.writes == self.fail_write:
            self.fail_write = None
            raise ConnectionError("Redis went away mid-write")
        reads = self.reads
        self.writing += 1
        self.most_writing = max(self.most_writing, self.writing)
        try:
            for _ in range(20):
                await asyncio.sleep(0)
        finally:
            self.writing -= 1
        self.overlapped += self.reads > reads
        return await super().write_profiles(writes)

    async def read_profiles(self, customer_ids):
        await asyncio.sleep(0)  # a round trip: other tasks run meanwhile
        self.reads += 1
        if self.reads == self.fail_read:
            self.fail_read = None
            raise ConnectionError("Redis went away mid-read")
        return await super().read_profiles(customer_ids)


def _rescoring_worker(seed: int, depth: int = 2):
    evs, msgs, sinks, _, proc, nxt = _dying_worker(seed, 120, SlowWrites())
    proc.rescore_chunk = 7
    proc.rescore_depth = depth
    return evs, msgs, sinks, proc, nxt


@pytest.mark.parametrize("seed", [1, 2])
def test_the_next_chunk_is_scored_while_the_last_one_is_written(seed):
    evs, msgs, sinks, proc, nxt = _rescoring_worker(seed)
    asyncio.run(drive(proc, sinks, msgs, 1000, nxt))  # one batch of events, then every partition's rescore
    assert not proc.jobs and proc.counters.rescored > 3 * proc.rescore_chunk
    # every chunk but each partition's last saw the next one's profiles read during its write
    assert sinks.overlapped >= proc.counters.rescored // proc.rescore_chunk - PARTITIONS
    assert_equals_batch(evs, sinks)
    assert_chains(sinks)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_up_to_depth_chunks_are_written_at_once(depth):
    """Each chunk's writes are round trips in a row: with one chunk in flight the worker waited for them a
    third of a rescore. ``rescore_depth`` chunks are written at once, never more, and the result is exact."""
    evs, msgs, sinks, proc, nxt = _rescoring_worker(1, depth)
    asyncio.run(drive(proc, sinks, msgs, 1000, nxt))
    assert not proc.jobs and proc.counters.rescored > 3 * depth * proc.rescore_chunk
    assert sinks.most_writing == depth
    assert_equals_batch(evs, sinks)
    assert_chains(sinks)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("fails", [("write", 2), ("write", 3), ("write", 5), ("read", 2), ("read", 4), ("read", 6)])
@pytest.mark.parametrize("rescore_slice", [None, 0.0, 10.0])
def test_a_chunk_that_fails_stays_queued_and_the_retry_ends_exact(fails, rescore_slice, depth):
    """A chunk's write fails, or the next chunk's read fails while chunks are being written (their writes are
    then stopped, as a crash would stop them, even those after the failed one that completed). The worker
    retries what failed (process_or_exit): the batch of controls, or a slice between batches; the failed
    chunks' customers are rescored then."""
    what, nth = fails
    evs, msgs, sinks, proc, _ = _rescoring_worker(3, depth)
    proc.rescore_slice = rescore_slice  # None: whole when the control is read; else slices between batches

    async def go():
        await proc.process(msgs)
        controls = [Msg(p, sum(1 for m in msgs if m.partition == p), control.CONTROL_KEY, sinks.recompute())
                    for p in range(PARTITIONS)]
        if what == "write":
            sinks.fail_write = sinks.writes + nth
        else:
            sinks.fail_read = sinks.reads + nth
        with pytest.raises(ConnectionError):
            await proc.process(controls)
            while proc.jobs:
                await proc.process([])
        assert proc.jobs and all(job.keys for job in proc.jobs.values()), "the failed chunk is still queued"
        if rescore_slice is None:
            await proc.process(controls)
        while proc.jobs:
            await proc.process([])

    asyncio.run(go())
    assert sinks.pending == {}
    assert_equals_batch(evs, sinks)
    assert_chains(sinks)


class TimedWrites(TwinSinks):
    """Profile writes that take ``seconds`` each (Redis busy with the scripts)."""

    seconds = 0.03

    async def write_profiles(self, writes):
        await asyncio.sleep(self.seconds)
        return await super().write_profiles(writes)


def test_a_slice_counts_the_writes_it_waits_for_in_the_cost_per_customer():
    """A slice's chunk waits for the writes of the chunks before it when more than the depth would be in
    flight. The pace that sizes the next slices' chunks counts that wait: timing only the decisions, which
    overlap the writes, would size chunks to the decisions and each slice would overrun its time by a
    chunk's writes, with the events behind it waiting."""
    _, msgs, sinks, _, proc, nxt = _dying_worker(4, 400, TimedWrites())
    proc.rescore_slice, proc.rescore_depth = 0.0, 1  # a chunk after each batch, written before the next one

    async def go():
        await proc.process(msgs)
        await proc.process([Msg(p, nxt[p], control.CONTROL_KEY, sinks.recompute()) for p in range(PARTITIONS)])
        for _ in range(8):  # the first chunk waits for nothing; the pace is a moving average
            await proc.process([])
        assert proc.jobs, "the rescore is still running"

    asyncio.run(go())
    assert proc.rescore_pace.per_customer_s * MIN_CHUNK >= TimedWrites.seconds / 2


class HeldWrites(TwinSinks):
    """Profile writes that wait until the test lets them go (Redis busy with a chunk's script), except those of
    the customer ``free``."""

    def __init__(self):
        super().__init__()
        self.go = asyncio.Event()
        self.held = 0
        self.free = ""

    async def write_profiles(self, writes):
        if all(w.customer_id != self.free for w in writes):
            self.held += 1
            await self.go.wait()
        return await super().write_profiles(writes)


@pytest.mark.parametrize("touch", [False, True])
def test_a_batch_waits_for_the_chunk_being_written_only_if_it_touches_its_customers(touch):
    """A slice leaves its last chunk being written. The next batch goes on meanwhile, unless it holds an
    event of one of that chunk's customers: then it waits, and its fold starts from the state the chunk
    writes, which would otherwise overwrite the event's in the Table."""
    evs, msgs, sinks, table, proc, nxt = _dying_worker(5, 120, HeldWrites())
    proc.rescore_slice, proc.rescore_chunk, proc.rescore_depth = 0.0, 7, 1

    cid = ""  # the customer of the late order, chosen once the chunk is in flight

    def folded() -> bool:
        return order_key("late-order") in codec.decode(cid, table.get(cid.encode(), None)).state.orders

    async def go():
        sinks.go.set()
        await proc.process(msgs)
        controls = [Msg(p, nxt[p], control.CONTROL_KEY, sinks.recompute()) for p in range(PARTITIONS)]
        for p in range(PARTITIONS):
            nxt[p] += 1
        await proc.process(controls)
        for _ in range(50):  # the first chunk is written
            await asyncio.sleep(0)
        sinks.go.clear()
        held = sinks.held
        await proc.process([])  # a slice: its chunk's write is held
        for _ in range(50):
            await asyncio.sleep(0)
        assert sinks.held == held + 1 and len(proc._in_flight) == 1
        flying = proc._in_flight[0].keys
        nonlocal cid
        cid = sorted(flying)[0].decode() if touch else next(e.customer_id for e in evs
                                                             if e.customer_id.encode() not in flying)
        extra = [OrderEvent("order", cid, 1_700_000_000_000_000, "late-order", 12_345)]
        sinks.free = cid
        batch = asyncio.ensure_future(proc.process(next_msgs(extra, nxt)))
        for _ in range(50):
            await asyncio.sleep(0)
        assert not proc._in_flight[0].writes.done(), "the chunk is still being written"
        assert folded() is not touch, "a batch waits for the chunk being written exactly when it touches it"
        sinks.go.set()
        await batch
        assert folded(), "the event's fold was kept in the Table"
        await drive(proc, sinks, [], 1, nxt)  # the boundaries over every event, as batch cuts them
        while proc.jobs:
            await proc.process([])
        return extra

    extra = run(go())
    assert_equals_batch(evs + extra, sinks)
    assert_chains(sinks)
