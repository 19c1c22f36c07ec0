"""kafka-python against the real broker: keyed produce, group consume, commit, resume where committed."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

pytestmark = pytest.mark.integration

N = 10_000
PARTITIONS = 4


def _consumer(bootstrap: str, group: str) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=250,
        session_timeout_ms=10_000,
    )


def test_keyed_messages_resume_exactly_at_committed_offsets(kafka_bootstrap, topic, unique_name):
    name = topic(partitions=PARTITIONS)
    group = unique_name("group")
    tps = [TopicPartition(name, p) for p in range(PARTITIONS)]

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    keys = [f"customer-{i % 101}".encode() for i in range(N)]
    futures = [producer.send(name, key=k, value=str(i).encode()) for i, k in enumerate(keys)]
    producer.flush()
    sent = [f.get(timeout=30) for f in futures]
    producer.close()

    # the key chooses the partition: every customer lives in one partition, and all partitions are used
    partition_of: dict[bytes, set[int]] = {}
    for k, meta in zip(keys, sent):
        partition_of.setdefault(k, set()).add(meta.partition)
    assert all(len(parts) == 1 for parts in partition_of.values())
    per_partition = Counter(meta.partition for meta in sent)
    assert len(per_partition) == PARTITIONS

    probe = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    end = probe.end_offsets(tps)
    probe.close()
    assert sum(end.values()) == N
    assert {tp.partition: off for tp, off in end.items()} == dict(per_partition)

    # first consumer: read about a third of each partition (pausing a partition once it has that), commit
    first = _consumer(kafka_bootstrap, group)
    first.subscribe([name])
    seen: list[tuple[int, int, bytes]] = []  # (partition, offset, value)
    last: dict[TopicPartition, int] = {}
    deadline = time.monotonic() + 60
    while len(first.paused()) < PARTITIONS and time.monotonic() < deadline:
        for tp, records in first.poll(timeout_ms=500).items():
            for r in records:
                seen.append((r.partition, r.offset, r.value))
                last[tp] = r.offset
            if last[tp] + 1 >= end[tp] // 3:
                first.pause(tp)
    assert len(first.paused()) == PARTITIONS, f"only {first.paused()} reached a third within 60s"
    committed = {tp: last[tp] + 1 for tp in tps}
    first.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in committed.items()})
    assert {tp: first.committed(tp) for tp in tps} == committed
    first.close()
    assert all(0 < committed[tp] < end[tp] for tp in tps), (committed, end)

    # a restarted consumer in the same group starts at exactly those offsets and reads the rest
    second = _consumer(kafka_bootstrap, group)
    second.subscribe([name])
    first_offset: dict[int, int] = {}
    rest: list[tuple[int, int, bytes]] = []
    deadline = time.monotonic() + 60
    while len(seen) + len(rest) < N and time.monotonic() < deadline:
        for records in second.poll(timeout_ms=500).values():
            for r in records:
                first_offset.setdefault(r.partition, r.offset)
                rest.append((r.partition, r.offset, r.value))
    extra = sum(len(v) for v in second.poll(timeout_ms=1500).values())  # nothing may follow the last one
    second.commit()
    positions = {tp: second.committed(tp) for tp in tps}
    second.close()

    assert first_offset == {tp.partition: committed[tp] for tp in tps}
    assert extra == 0
    assert positions == end
    everything = seen + rest
    assert len(everything) == N
    assert len({(p, o) for p, o, _ in everything}) == N  # no record twice
    assert sorted(int(v) for _, _, v in everything) == list(range(N))  # none lost
