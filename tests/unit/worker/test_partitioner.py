"""The vectorised partitioner gives every key the partition Kafka's producers give it."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner  # what Faust's producer uses
from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2

from stream_app.kafka.partitioner import murmur2_many, partition_of, partitions_of
from stream_app.worker.ports import iter_partition
from stream_app.worker.rescore import by_partition

keys = st.lists(st.binary(min_size=0, max_size=40), max_size=60)


@given(keys)
def test_murmur2_of_every_length_equals_kafka_pythons(ks):
    assert murmur2_many(ks).tolist() == [murmur2(k) for k in ks]


@given(keys, st.integers(1, 300))
def test_partitions_equal_the_producers(ks, n):
    every = list(range(n))
    assert partitions_of(ks, n) == [DefaultPartitioner()(k, every, every) for k in ks]
    assert [partition_of(k, n) for k in ks] == partitions_of(ks, n)


def test_customer_ids_and_non_ascii_keys():
    ks = [f"c{i}".encode() for i in range(5000)] + [f"müşteri-ğ-{i}".encode() for i in range(500)]
    assert murmur2_many(ks).tolist() == [murmur2(k) for k in ks]


def test_by_partition_and_iter_partition_keep_each_partitions_keys():
    ids = {f"{i}-customer" for i in range(2_000)}
    every = list(range(7))
    want = {}
    for cid in sorted(ids):
        want.setdefault(DefaultPartitioner()(cid.encode(), every, every), []).append(cid.encode())
    assert by_partition(ids, 7) == want
    items = [(cid.encode(), b"v") for cid in sorted(ids)]
    for p in every:
        assert [k for k, _ in iter_partition(iter(items), p, 7, block=300)] == want.get(p, [])
