"""Creating the worker's topics (kafka-python admin), so every command agrees on partition counts."""

from __future__ import annotations

import time

from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from stream_app import connect
from stream_app.errors import StackError
from stream_app.settings import Settings

#: the worker's Faust Table of customer states; Faust names its changelog topic after it
CUSTOMERS_TABLE = "customers"


def customers_table_options() -> dict:
    """RocksDB's memory for the customers Table, per partition (Faust keeps one database each).

    Faust's defaults are three 64 MiB write buffers and a 2 GiB block cache per
    database; every event and every rescore rewrites a customer's whole value,
    so the buffers fill and the cache grows to those bounds: a worker of 4
    partitions grew past 1 GB in half an hour. A customer's value is at most
    about 750 KB (MAX_FACTS), so 8 MiB buffers hold several of the largest.
    A new dict each call: Faust pops its own keys from the one it is given.
    """
    return {"write_buffer_size": 8 * 2**20, "max_write_buffer_number": 2, "block_cache_size": 16 * 2**20}


def changelog_topic(settings: Settings) -> str:
    """The Table's changelog topic, as Faust names it: ``{app_id}-{table}-changelog``."""
    return f"{settings.app_id}-{CUSTOMERS_TABLE}-changelog"


def ensure_topics(settings: Settings, timeout: float = 30.0) -> int:
    """Create the orders, changes and dead-letter topics when missing; the orders topic's partition count.

    The Faust table's changelog must have as many partitions as the orders
    topic (co-partitioning), so the worker reads the real count instead of
    trusting RFM_PARTITIONS when the topic already exists.
    """
    admin = connect.kafka_admin(settings, client_id="rfm-stream-admin")
    try:
        existing = set(admin.list_topics())
        wanted = [settings.orders_topic, settings.changes_topic, settings.dead_letter_topic, settings.audience_topic]
        new = [NewTopic(t, num_partitions=settings.partitions, replication_factor=settings.replication_factor) for t in wanted if t not in existing]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
        return wait_partitions(settings, settings.orders_topic, timeout)
    finally:
        admin.close()


def wait_partitions(settings: Settings, topic: str, timeout: float = 30.0) -> int:
    """The partition count of a topic once its metadata is visible."""
    consumer = connect.kafka_consumer(settings)
    try:
        deadline = time.monotonic() + timeout
        while True:
            parts = consumer.partitions_for_topic(topic)
            if parts:
                return len(parts)
            if time.monotonic() > deadline:
                raise StackError(f"topic {topic} has no partitions after {timeout:.0f}s")
            time.sleep(0.2)
    finally:
        consumer.close()
