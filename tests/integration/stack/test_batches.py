"""kafka/batches.py against the real broker: records land in the partitions chosen, in order, batches that
fill are followed by new ones, and the offsets returned are each partition's last record; keyed records go
where the producer's own partitioner sends a record with that key."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaConsumer, TopicPartition

from stream_app.kafka.batches import PartitionBatches, send_keyed

pytestmark = pytest.mark.integration

PARTITIONS = 3


def read_all(bootstrap: str, topic: str) -> dict[int, list[tuple[bytes, bytes, int]]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        out: dict[int, list] = {p: [] for p in range(PARTITIONS)}
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for tp, records in consumer.poll(timeout_ms=500).items():
                out[tp.partition].extend((r.key, r.value, r.offset) for r in records)
        return out
    finally:
        consumer.close()


def test_records_land_in_their_partitions_in_order_across_full_batches(kafka_bootstrap, topic):
    name = topic(partitions=PARTITIONS)
    # 300 records of ~200 bytes into batches of 2 KB: each partition's records span several batches
    records = [(i % PARTITIONS if i % 7 else 0, f"customer-{i}".encode(), (f"{i:05d}-" * 33).encode())
               for i in range(300)]

    async def send() -> tuple[dict[int, int], dict[int, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_batch_size=2048, linger_ms=5)
        await producer.start()
        try:
            first = PartitionBatches(producer, name)
            for partition, key, value in records[:150]:
                await first.add(partition, key, value)
            batches_sent = len(first.sent)
            last_first = await first.delivered()
            second = PartitionBatches(producer, name)  # a later flush continues each partition's offsets
            for partition, key, value in records[150:]:
                await second.add(partition, key, value)
            return last_first | {-1: batches_sent}, await second.delivered()
        finally:
            await producer.stop()

    last_first, last_second = asyncio.run(send())
    assert last_first.pop(-1) > PARTITIONS, "batches of 2 KB should have filled before the end"
    got = read_all(kafka_bootstrap, name)
    for p in range(PARTITIONS):
        wanted = [(k, v) for q, k, v in records if q == p]
        assert [(k, v) for k, v, _ in got[p]] == wanted, f"partition {p}: records out of order or missing"
        assert [o for _, _, o in got[p]] == list(range(len(wanted)))
        in_first = sum(1 for q, _, _ in records[:150] if q == p)
        assert last_first[p] == in_first - 1
        assert last_second[p] == len(wanted) - 1


def test_nothing_added_sends_nothing(kafka_bootstrap, topic):
    name = topic(partitions=PARTITIONS)

    async def send() -> dict[int, int]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            return await PartitionBatches(producer, name).delivered()
        finally:
            await producer.stop()

    assert asyncio.run(send()) == {}
    assert all(records == [] for records in read_all(kafka_bootstrap, name).values())


def test_keyed_records_go_where_the_producers_partitioner_sends_their_key(kafka_bootstrap, topic):
    name = topic(partitions=PARTITIONS)
    records = [(f"customer-{i % 40}".encode(), f"event {i}".encode()) for i in range(200)]
    probes = [f"customer-{i}".encode() for i in range(40)]

    async def send() -> dict[bytes, int]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_batch_size=1024, linger_ms=5)
        await producer.start()
        try:
            batches = await send_keyed(producer, name, records)
            assert batches is not None and await send_keyed(producer, name, []) is None
            await batches.delivered()
            # where the producer itself puts one more record of each key, sent the usual way
            return {key: (await producer.send_and_wait(name, b"probe", key=key)).partition for key in probes}
        finally:
            await producer.stop()

    partition_of_key = asyncio.run(send())
    assert len(set(partition_of_key.values())) == PARTITIONS, "40 keys should reach every partition"
    got = read_all(kafka_bootstrap, name)
    for p in range(PARTITIONS):
        sent = [(k, v) for k, v, _ in got[p] if v != b"probe"]
        assert sent == [(k, v) for k, v in records if partition_of_key[k] == p], f"partition {p}"
