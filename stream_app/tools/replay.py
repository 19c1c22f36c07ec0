"""Producing order events to the orders topic, keyed by customer_id (kafka-python)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from kafka import KafkaProducer

from stream_app import connect

from stream_app.adapters import registry
from stream_app.core.model import OrderEvent
from stream_app.settings import Settings
from stream_app.kafka.topics import ensure_topics


@dataclass
class ReplayResult:
    sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def producer(settings: Settings) -> KafkaProducer:
    """Keyed by customer id, so the default partitioner puts a customer in one partition."""
    return connect.kafka_producer(settings, acks="all", linger_ms=20, batch_size=512 * 1024,
                                  max_request_size=8 * 1024 * 1024)


def encode(event: OrderEvent) -> tuple[bytes, bytes]:
    return event.customer_id.encode(), orjson.dumps(event.to_json())


class Pacer:
    """Holds a steady rate (events/s) without drifting: sleeps against the schedule, not per event."""

    def __init__(self, rate: float | None):
        self.rate = rate
        self.start = time.perf_counter()

    def wait(self, i: int) -> None:
        if self.rate:
            ahead = self.start + i / self.rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)


def send_records(settings: Settings, records: Iterable[tuple[bytes, bytes]], rate: float | None = None,
                 limit: int | None = None, progress=None) -> int:
    """Produce (key, value) records; returns how many were sent (all acknowledged)."""
    ensure_topics(settings)
    prod = producer(settings)
    pacer = Pacer(rate)
    n = 0
    try:
        for key, value in records:
            if limit is not None and n >= limit:
                break
            pacer.wait(n)
            prod.send(settings.orders_topic, key=key, value=value)
            n += 1
            if progress is not None:
                progress.update(1)
        prod.flush()
    finally:
        prod.close()
    return n


def replay(settings: Settings, path: str, fmt: str, rate: float | None = None, limit: int | None = None,
           progress_factory=None) -> ReplayResult:
    """A dataset's events in time order to the orders topic."""
    t0 = time.perf_counter()
    connect.probe_kafka(settings)  # a wrong address or password is told before seconds go into reading the file
    frame = registry.read(path, fmt).in_time_order()
    total = len(frame) if limit is None else min(limit, len(frame))
    bar = progress_factory(total) if progress_factory else None
    try:
        sent = send_records(settings, (encode(e) for e in frame.events()), rate, limit, bar)
    finally:
        if bar is not None:
            bar.close()
    return ReplayResult(sent, dict(frame.skipped), time.perf_counter() - t0)
