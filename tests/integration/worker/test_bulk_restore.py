"""worker/bulk_restore.py against the real broker and real RocksDB databases (a Faust store of a Table built
as the worker builds it, not started).

A load stopped anywhere must leave each database equal to a prefix of its changelog partition, recording
that prefix's last offset (what Faust's recovery, or the next load, goes on from); a second load then ends
equal to the whole changelog: each key's last value, deleted keys absent.
"""

from __future__ import annotations

import asyncio
import random

import faust
import pytest
from faust.types import TP
from kafka import KafkaProducer
from kafka.admin import NewTopic

from stream_app.settings import Settings
from stream_app.worker import bulk_restore, faust_internals
from stream_app.worker.bulk_restore import BulkRestore, RestoringTable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PARTITIONS = 2


def _send_changelog(bootstrap: str, topic: str, n: int, seed: int) -> list[tuple[int, int, bytes, bytes | None]]:
    """``n`` changelog records over the partitions, keys repeated, one in ten a tombstone: (partition,
    offset, key, value) as the broker stored them."""
    rng = random.Random(seed)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    sent = []
    for i in range(n):
        p, key = rng.randrange(PARTITIONS), f"c{rng.randrange(400)}".encode()
        value = None if rng.random() < 0.1 else f"state {i} {rng.random()}".encode()
        sent.append((p, key, value, producer.send(topic, key=key, value=value, partition=p)))
    producer.flush()
    out = [(p, f.get(timeout=30).offset, key, value) for p, key, value, f in sent]
    producer.close()
    return out


def _state(records: list, partition: int, upto: int | None) -> dict[bytes, bytes]:
    """What the partition's records up to offset ``upto`` leave: each key's last value, tombstones deleting."""
    state: dict[bytes, bytes] = {}
    for p, offset, key, value in sorted(records, key=lambda r: r[1]):
        if p == partition and upto is not None and offset <= upto:
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
    return state


def _held(store, topic: str, partition: int) -> tuple[dict[bytes, bytes], int | None]:
    items = dict(faust_internals.store_partition_items(store, partition))
    return items, store.persisted_offset(TP(topic, partition))


def test_a_stopped_load_leaves_a_prefix_and_the_next_one_ends_at_the_changelog(
        kafka_bootstrap, kafka_admin, unique_name, tmp_path, monkeypatch):
    app_id = unique_name("bulk")
    app = faust.App(app_id, broker=f"kafka://{kafka_bootstrap}", store="rocksdb://", datadir=str(tmp_path),
                    Table=RestoringTable)
    table = app.Table("customers", key_type=bytes, value_type=bytes, partitions=PARTITIONS, default=None)
    topic = table.changelog_topic.get_topic_name()
    kafka_admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    try:
        records = _send_changelog(kafka_bootstrap, topic, 3000, seed=5)
        store = table.data
        restore = BulkRestore(Settings(kafka_bootstrap=kafka_bootstrap), min_records=0)
        tps = {TP(topic, p) for p in range(PARTITIONS)}

        # stop after the third write batch, as a newer rebalance would (the generation moves on)
        monkeypatch.setattr(bulk_restore, "CHUNK", 100)
        made = []
        real_batch = faust_internals.store_write_batch

        def counting(s):
            made.append(1)
            if len(made) == 3:
                app.consumer_generation_id += 1
            return real_batch(s)

        monkeypatch.setattr(faust_internals, "store_write_batch", counting)
        generation = app.consumer_generation_id
        first = asyncio.run(restore.on_assigned(table, tps, generation))
        assert [(d.partition, d.records > 0) for d in first] == [(0, True)], first
        held, offset = _held(store, topic, 0)
        ends = {p: max(o for q, o, _, _ in records if q == p) for p in range(PARTITIONS)}
        assert offset == first[0].offset and 0 < offset < ends[0]  # stopped midway
        assert held == _state(records, 0, offset)  # exactly the changelog up to the offset it records
        assert _held(store, topic, 1) == ({}, None)  # not started

        # the next load goes on from the recorded offsets to the end
        second = asyncio.run(restore.on_assigned(table, tps, app.consumer_generation_id))
        assert [d.partition for d in second] == [0, 1]
        assert second[0].records == sum(1 for p, o, _, _ in records if p == 0 and o > offset)
        for p in range(PARTITIONS):
            held, persisted = _held(store, topic, p)
            assert persisted == ends[p]
            assert held == _state(records, p, ends[p]) and held, p
        # nothing behind: nothing loaded
        assert asyncio.run(restore.on_assigned(table, tps, app.consumer_generation_id)) == []
    finally:
        kafka_admin.delete_topics([topic])
