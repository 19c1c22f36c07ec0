"""OffsetGuard: a partition's events are processed in offset order with none skipped, whatever Faust delivers."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from types import SimpleNamespace

from faust.types import TP
from hypothesis import given, settings
from hypothesis import strategies as st

from stream_app.worker.faust_offsets import FaustOffsets
from stream_app.worker.offsets import OffsetGuard, Verdict


def test_in_order_events_are_processed_and_done_follows_completion():
    g = OffsetGuard()
    g.new_generation(1)
    g.assign(0, committed=100)
    assert [g.admit(0, o) for o in (100, 101, 102)] == [Verdict.PROCESS] * 3
    assert g.commit_offset(0) == 100, "nothing is committable before the batch's effects are written"
    g.completed({0: g.lanes[0].expected})
    assert g.commit_offset(0) == 103


def test_an_event_after_missing_offsets_is_held_until_they_arrive():
    g = OffsetGuard()
    g.new_generation(1)
    g.assign(0, committed=1018)
    assert g.admit(0, 1141) is Verdict.HOLD  # a batch fetched before the seek, iterated after it
    assert g.admit(0, 1142) is Verdict.HOLD
    assert g.seek_back(0, now=0.0) == 1018
    assert g.admit(0, 1018) is Verdict.PROCESS
    assert g.admit(0, 1019) is Verdict.PROCESS
    g.completed({0: g.lanes[0].expected})
    assert g.commit_offset(0) == 1020, "the commit never passes an offset that was not processed"


def test_offsets_before_expected_are_replays():
    g = OffsetGuard()
    g.new_generation(1)
    g.assign(3, committed=50)
    assert g.admit(3, 49) is Verdict.REPLAY
    assert g.admit(3, 50) is Verdict.PROCESS


def test_a_hole_in_the_log_is_accepted_only_after_repeated_seeks_show_it():
    g = OffsetGuard(accept_after=3)
    g.new_generation(1)
    g.assign(0, committed=10)
    assert g.admit(0, 12) is Verdict.HOLD  # offset 11 is a transaction marker: the log has no record 10..11
    g.seek_back(0, 1.0)
    assert g.admit(0, 12) is Verdict.HOLD
    g.seek_back(0, 2.0)
    assert g.admit(0, 12) is Verdict.PROCESS
    assert g.holes_accepted == 1 and g.lanes[0].expected == 13


def test_a_different_first_offset_after_a_seek_restarts_the_count():
    g = OffsetGuard(accept_after=2)
    g.new_generation(1)
    g.assign(0, committed=10)
    assert g.admit(0, 15) is Verdict.HOLD
    g.seek_back(0, 1.0)
    assert g.admit(0, 14) is Verdict.HOLD  # a stale batch again, not the log's first record
    g.seek_back(0, 2.0)
    assert g.admit(0, 10) is Verdict.PROCESS
    assert g.holes_accepted == 0


def test_a_new_generation_forgets_every_partition():
    g = OffsetGuard()
    g.new_generation(1)
    g.assign(0, committed=5)
    g.new_generation(2)
    assert g.lanes == {} and g.commit_offset(0) is None


def test_stalled_partitions_are_the_quiet_holding_or_lagging_ones():
    g = OffsetGuard()
    g.new_generation(1)
    for p in range(3):
        g.assign(p, committed=0, now=0.0)
    g.admit(0, 5, now=1.0)  # holding
    g.admit(1, 0, now=1.0)  # fine, and nothing left to read
    g.admit(2, 0, now=1.0)  # lagging
    assert g.stalled({2}, now=3.0, idle=5.0) == []
    assert sorted(g.stalled({2}, now=7.0, idle=5.0)) == [0, 2]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.randoms(use_true_random=False))
def test_any_delivery_with_seeks_processes_each_offset_once_in_order(n, rnd: random.Random):
    """Deliveries that repeat, reorder and skip, as a consumer does around rebalances: each seek back
    restarts reading at ``expected``. What is processed is exactly 0..n-1, in order."""
    g = OffsetGuard(accept_after=10**9)  # no holes in this log
    g.new_generation(1)
    g.assign(0, committed=0)
    processed: list[int] = []
    position = 0
    for _ in range(20 * n):
        if g.lanes[0].expected == n:
            break
        if rnd.random() < 0.2:  # a stale record from an earlier fetch
            offset = rnd.randrange(n)
        else:
            offset = position
            position = min(n - 1, position + rnd.choice((1, 1, 1, 2, 5)))  # the fetcher may skip ahead
        verdict = g.admit(0, offset)
        if verdict is Verdict.PROCESS:
            processed.append(offset)
        elif verdict is Verdict.HOLD:
            position = g.seek_back(0, 0.0)
    assert processed == list(range(len(processed)))
    assert g.lanes[0].expected == len(processed)


# --- the Faust adapter, against a fake consumer (the real one is exercised by tests/integration) ---


class FakeConsumer:
    def __init__(self, topic: str, committed: dict[int, int]):
        self.tps = {TP(topic, p) for p in committed}
        self._committed_offset = defaultdict(lambda: None, {TP(topic, p): o for p, o in committed.items()})
        self._acked, self._acked_index, self._gap = defaultdict(list), defaultdict(set), {}
        self.sought: list[tuple[int, int]] = []

    def assignment(self):
        return self.tps

    def _new_offset(self, tp):
        return 999  # what Faust's ack bookkeeping would propose

    async def seek_wait(self, partitions):  # no seek(): called from the agent's thread, it raced the fetcher
        self.sought += [(tp.partition, offset) for tp, offset in partitions.items()]

    async def earliest_offsets(self, *tps):
        return {tp: 0 for tp in tps}

    def highwater(self, tp):
        return None


def _event(topic, partition, offset, generation=1):
    msg = SimpleNamespace(tp=TP(topic, partition), partition=partition, offset=offset, key=b"k", value=b"v",
                          generation_id=generation)
    return SimpleNamespace(message=msg)


def test_adapter_processes_in_order_seeks_back_and_commits_only_done():
    topic = "orders"
    consumer = FakeConsumer(topic, {0: 1018, 1: 7})
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=1, rebalancing=False,
                          producer=SimpleNamespace(_ensure_producer=lambda: None))
    fo = FaustOffsets(app, topic)
    fo.install()

    async def run():
        events = [_event(topic, 0, 1141), _event(topic, 0, 1142), _event(topic, 1, 7), _event(topic, 1, 8),
                  _event(topic, 1, 9, generation=0), _event("other", 0, 5)]
        batch = await fo.admit(events)
        assert [(m.partition, m.offset) for m in batch.msgs] == [(1, 7), (1, 8)]
        assert consumer._new_offset(TP(topic, 1)) == 7, "not committable before the batch is written"
        await fo.after(batch)
        assert consumer.sought == [(0, 1018)]
        assert consumer._new_offset(TP(topic, 0)) == 1018
        assert consumer._new_offset(TP(topic, 1)) == 9
        assert consumer._new_offset(TP("changelog", 0)) == 999, "other topics keep Faust's bookkeeping"
        assert fo.stale == 2  # an older generation's event, and a partition not owned

        app.consumer_generation_id = 2  # a rebalance: nothing is committed until the new generation's events
        assert consumer._new_offset(TP(topic, 1)) is None

    asyncio.run(run())


def test_a_pinned_partition_commits_no_further_than_its_pin_until_released():
    g = OffsetGuard()
    g.new_generation(1)
    g.assign(0, 10)
    g.assign(1, 0)
    for off in range(10, 20):
        g.admit(0, off)
    g.pin(0, 14)  # a control record at 14 whose rescore runs on
    g.pin(0, 17)  # a later one joins the same rescore: the commit stays at the first
    g.completed({0: 20})
    assert g.commit_offset(0) == 14 and g.commit_offset(1) == 0
    g.pin(0, None)
    assert g.commit_offset(0) == 20
    g.pin(0, 15)
    g.new_generation(2)  # a rebalance: the lanes, and their pins, start again from the committed offsets
    g.assign(0, 15)
    assert g.commit_offset(0) == 15
    g.pin(5, 3)  # a partition this worker does not own: nothing to pin
    assert g.commit_offset(5) is None


def test_lag_counts_the_records_past_the_next_offset_of_each_owned_partition():
    topic = "orders"
    consumer = FakeConsumer(topic, {0: 100, 1: 50, 2: 0})
    highwaters = {TP(topic, 0): 400, TP(topic, 1): 50, TP(topic, 2): None}

    def highwater(tp):
        if tp not in highwaters:
            raise AssertionError("Partition is not assigned")  # as aiokafka says of a partition moved away
        return highwaters[tp]

    consumer.highwater = highwater
    app = SimpleNamespace(consumer=consumer, consumer_generation_id=1, rebalancing=False,
                          producer=SimpleNamespace(_ensure_producer=lambda: None))
    fo = FaustOffsets(app, topic)
    fo.install()

    async def run():
        await fo.admit([_event(topic, 0, 100), _event(topic, 0, 101), _event(topic, 1, 50), _event(topic, 2, 0)])
        assert fo.lag() == 400 - 102  # partition 1 is at its highwater, partition 2's is not known yet
        del highwaters[TP(topic, 0)]  # moved away in a rebalance
        assert fo.lag() == 0

    asyncio.run(run())
