"""The worker's Prometheus metrics, one registry per worker (several workers can share a test process).

Most figures are read from what the worker keeps anyway (the processor's
counters, the offset guard, the consumer's assignment) at scrape time, so the
batch path gains no bookkeeping; only what exists nowhere else is recorded as
it happens: batch, rescore and end-to-end latencies, changes by cause and
audience moves by audience (counted when their delivery was awaited).
Every name is documented in docs/operations.md; deploy/grafana-dashboard.json
queries them (a unit test checks it names only these).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from stream_app.worker.control import CONTROL_KEY

disable_created_metrics()  # the *_created series only double what the counters say, for every label set

#: every metric family this module exports (as Prometheus names its samples' base)
METRICS: dict[str, str] = {
    "rfm_events_total": "counter",
    "rfm_segment_changes_total": "counter",
    "rfm_audience_moves_total": "counter",
    "rfm_rescored_customers_total": "counter",
    "rfm_boundaries_version": "gauge",
    "rfm_consumer_lag": "gauge",
    "rfm_assigned_partitions": "gauge",
    "rfm_retrying": "gauge",
    "rfm_batch_seconds": "histogram",
    "rfm_rescore_seconds": "histogram",
    "rfm_event_to_redis_seconds": "histogram",
    "rfm_segment_customers": "gauge",
    "rfm_audience_customers": "gauge",
}

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
OUTCOMES = (("applied", "applied"), ("duplicate", "duplicates"), ("replayed", "replayed"), ("dead_letter", "dead"))


class WorkerMetrics:
    """The metrics of one worker. ``processor`` is attached when the worker builds it (on its event loop)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.processor: Any = None
        self.changes = Counter("rfm_segment_changes", "Segment-change events published, by cause",
                               ["cause"], registry=r)
        self.audience_moves = Counter("rfm_audience_moves", "Audience enter/exit events published",
                                      ["audience", "direction"], registry=r)
        self.lag = Gauge("rfm_consumer_lag", "Orders partition end offset minus this worker's committable offset",
                         ["partition"], registry=r)
        self.assigned = Gauge("rfm_assigned_partitions", "Orders partitions this worker owns", registry=r)
        self.retrying = Gauge("rfm_retrying", "1 while a batch waits for Redis or Kafka to answer", registry=r)
        self.batch_seconds = Histogram("rfm_batch_seconds", "Time to process one batch, all effects awaited",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.rescore_seconds = Histogram("rfm_rescore_seconds", "Time to rescore one partition after a recompute",
                                         buckets=LATENCY_BUCKETS, registry=r)
        self.event_to_redis = Histogram("rfm_event_to_redis_seconds",
                                        "Kafka record timestamp to the end of the batch that wrote it to Redis",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.segment_customers = Gauge("rfm_segment_customers", "Customers per segment in Redis (leader only)",
                                       ["segment"], registry=r)
        self.audience_customers = Gauge("rfm_audience_customers", "Customers per audience in Redis (leader only)",
                                        ["audience"], registry=r)
        r.register(_ProcessorCollector(self))
        #: the latest published changes, decoded, for the dashboard's "who moved" list
        self.recent_changes: collections.deque[dict] = collections.deque(maxlen=50)
        self.changes_seen = 0
        self.retry_reason: str | None = None

    def attach(self, processor: Any) -> None:
        """Read the processor's counters at scrape time, and time its rescores."""
        self.processor = processor
        processor.on_rescore = self.rescore_seconds.observe

    def batch_done(self, msgs: Iterable[Any], seconds: float) -> None:
        """A batch's effects are written: its duration, and each event's age at that moment."""
        self.batch_seconds.observe(seconds)
        now = time.time()
        observe = self.event_to_redis.observe
        for m in msgs:
            handle = getattr(m, "handle", None)
            if handle is not None and m.key != CONTROL_KEY:
                observe(max(0.0, now - handle.message.timestamp))

    def published(self, changes: list[tuple[bytes, bytes]], moves: list[tuple[bytes, bytes]]) -> None:
        """Count delivered change and audience events by their labels.

        Counted per label set, once per call: a labelled counter's ``labels().inc()`` took 4 us an event
        (a lookup and a lock), three times the event's decoding, and a rescore chunk publishes hundreds.
        """
        causes: collections.Counter[str] = collections.Counter()
        recent = self.recent_changes
        for _, value in changes:
            ev = orjson.loads(value)
            causes[ev.get("cause", "")] += 1
            recent.append(ev)
        self.changes_seen += len(changes)
        for cause, n in causes.items():
            self.changes.labels(cause).inc(n)
        moved: collections.Counter[tuple[str, str]] = collections.Counter()
        for _, value in moves:
            ev = orjson.loads(value)
            moved[ev.get("audience", ""), ev.get("action", "")] += 1
        for (audience, action), n in moved.items():
            self.audience_moves.labels(audience, action).inc(n)

    def set_retrying(self, exc: BaseException | None) -> None:
        """A batch failed on a server (exc) or went through again (None); /readyz reads the reason."""
        self.retrying.set(0 if exc is None else 1)
        self.retry_reason = None if exc is None else repr(exc)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ProcessorCollector:
    """The processor's own counters, read when Prometheus scrapes (nothing added to the batch path)."""

    def __init__(self, metrics: WorkerMetrics):
        self.metrics = metrics

    def describe(self) -> list:
        return []  # the families are only known at collect time; an empty describe is allowed

    def collect(self) -> Iterable:
        processor = self.metrics.processor
        events = CounterMetricFamily("rfm_events", "Order events consumed, by outcome", labels=["outcome"])
        rescored = CounterMetricFamily("rfm_rescored_customers", "Customers rewritten by rescores")
        version = GaugeMetricFamily("rfm_boundaries_version", "Boundaries version this worker scores against")
        c = processor.counters if processor is not None else None
        for label, attr in OUTCOMES:
            events.add_metric([label], getattr(c, attr) if c is not None else 0)
        rescored.add_metric([], c.rescored if c is not None else 0)
        version.add_metric([], processor.bounds.version if processor is not None else 0)
        return [events, rescored, version]


class PublishCounting:
    """The processor's sinks with ``publish`` counted once its delivery was awaited; the rest passes through."""

    def __init__(self, sinks: Any, metrics: WorkerMetrics):
        self._sinks = sinks
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sinks, name)

    async def publish(self, changes: list[tuple[bytes, bytes]], dead: list[tuple[bytes | None, bytes]],
                      audience: list[tuple[bytes, bytes]]) -> None:
        await self._sinks.publish(changes, dead, audience)
        self._metrics.published(changes, audience)

