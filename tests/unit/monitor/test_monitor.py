"""The metrics module, the JSON log format and the Grafana dashboard, without servers."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import orjson
from prometheus_client.parser import text_string_to_metric_families

from stream_app.core.scoring import Boundaries
from stream_app.monitor import logs
from stream_app.monitor.metrics import METRICS, PublishCounting, WorkerMetrics
from stream_app.worker.control import CONTROL_KEY
from stream_app.worker.ports import Counters

ROOT = Path(__file__).resolve().parents[3]


def families(metrics: WorkerMetrics) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        out.setdefault(family.name, []).extend(family.samples)
    return out


def exported_names(metrics: WorkerMetrics) -> set[str]:
    """Names as PromQL sees them (counters end in _total, histograms have _bucket/_sum/_count)."""
    return {s.name for samples in families(metrics).values() for s in samples}


def fake_processor(**counts) -> SimpleNamespace:
    return SimpleNamespace(counters=Counters(**counts), bounds=Boundaries(version=7), _rescore=_noop)


async def _noop(*args, **kwargs) -> None:
    return None


def test_events_are_read_from_the_processors_counters_at_scrape_time():
    m = WorkerMetrics()
    p = fake_processor(events=10, applied=6, duplicates=2, replayed=1, dead=1, rescored=4)
    m.attach(p)
    p.counters.applied += 1  # later counts show on the next scrape, with no hook in the batch path
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families(m).values() for s in f}
    assert samples[("rfm_events_total", (("outcome", "applied"),))] == 7
    assert samples[("rfm_events_total", (("outcome", "duplicate"),))] == 2
    assert samples[("rfm_events_total", (("outcome", "replayed"),))] == 1
    assert samples[("rfm_events_total", (("outcome", "dead_letter"),))] == 1
    assert samples[("rfm_rescored_customers_total", ())] == 4
    assert samples[("rfm_boundaries_version", ())] == 7


def test_every_documented_metric_is_exported_and_only_those():
    m = WorkerMetrics()
    m.attach(fake_processor())
    m.segment_customers.labels("champions").set(3)
    m.audience_customers.labels("vip").set(1)
    m.lag.labels("0").set(5)
    m.changes.labels("order").inc()
    m.audience_moves.labels("vip", "enter").inc()
    names = set(families(m))
    bases = {n[: -len("_total")] if METRICS[n] == "counter" else n for n in METRICS}
    assert names == bases
    docs = (ROOT / "docs" / "operations.md").read_text()
    for name in METRICS:
        assert f"`{name}" in docs, f"{name} is not documented in docs/operations.md"


def test_published_events_are_counted_by_cause_and_audience():
    m = WorkerMetrics()
    change = orjson.dumps({"customer_id": "c1", "cause": "rescore", "segment": "champions"})
    move = orjson.dumps({"customer_id": "c1", "audience": "vip", "action": "exit"})
    sent = []

    class Sinks:
        async def publish(self, changes, dead, audience):
            sent.append((changes, dead, audience))

        async def other(self):
            return "passed through"

    import asyncio

    sinks = PublishCounting(Sinks(), m)
    asyncio.run(sinks.publish([(b"c1", change)], [], [(b"c1", move)]))
    assert sent and asyncio.run(sinks.other()) == "passed through"
    assert m.changes.labels("rescore")._value.get() == 1
    assert m.audience_moves.labels("vip", "exit")._value.get() == 1
    assert m.changes_seen == 1 and m.recent_changes[-1]["customer_id"] == "c1"
    # a flush of several: each label set counted by how many of its events it holds, the latest kept last
    order = [(f"c{i}".encode(), orjson.dumps({"customer_id": f"c{i}", "cause": "order"})) for i in range(2, 5)]
    asyncio.run(sinks.publish([order[0], (b"c1", change), *order[1:]], [], [(b"c1", move), (b"c2", move)]))
    assert m.changes.labels("rescore")._value.get() == 2 and m.changes.labels("order")._value.get() == 3
    assert m.audience_moves.labels("vip", "exit")._value.get() == 3
    assert m.changes_seen == 5 and [c["customer_id"] for c in m.recent_changes][-2:] == ["c3", "c4"]


def test_batch_latency_and_event_age_skip_control_messages():
    m = WorkerMetrics()
    handle = SimpleNamespace(message=SimpleNamespace(timestamp=0.0))
    msgs = [SimpleNamespace(key=b"c1", handle=handle), SimpleNamespace(key=CONTROL_KEY, handle=handle),
            SimpleNamespace(key=b"c2", handle=None)]
    m.batch_done(msgs, 0.3)
    samples = {s.name: s.value for f in families(m).values() for s in f if not s.labels.get("le")}
    assert samples["rfm_batch_seconds_count"] == 1 and samples["rfm_batch_seconds_sum"] == 0.3
    assert samples["rfm_event_to_redis_seconds_count"] == 1  # one event with a record timestamp


def test_two_workers_in_one_process_keep_their_own_figures():
    a, b = WorkerMetrics(), WorkerMetrics()
    a.set_retrying(ConnectionError("redis"))
    assert "rfm_retrying 1.0" in a.exposition().decode()
    assert "rfm_retrying 0.0" in b.exposition().decode()
    a.set_retrying(None)
    assert a.retry_reason is None


def test_json_log_lines_carry_the_counters_as_fields():
    record = logging.LogRecord("rfm_stream.worker", logging.INFO, __file__, 1, "events %d", (5,), None)
    record.fields = {"events": 5, "applied": 4}
    doc = json.loads(logs.JsonFormatter().format(record))
    assert doc["message"] == "events 5" and doc["level"] == "INFO" and doc["logger"] == "rfm_stream.worker"
    assert doc["events"] == 5 and doc["applied"] == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["time"])


def test_loglevel_is_applied_to_rfm_stream_and_libraries_stay_quiet():
    logs.apply("debug", "text", own="rfm_stream_test")
    assert logging.getLogger("rfm_stream_test").level == logging.DEBUG
    assert logging.getLogger("aiokafka").level == logging.WARNING
    logs.apply("error", "text", own="rfm_stream_test")
    assert logging.getLogger("rfm_stream_test").level == logging.ERROR
    assert logging.getLogger("aiokafka").level == logging.ERROR


def test_grafana_dashboard_queries_only_metrics_the_worker_exports():
    doc = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    assert len(doc["panels"]) >= 6
    m = WorkerMetrics()
    m.attach(fake_processor())
    m.changes.labels("order").inc()  # labelled families show only once a label set exists
    m.audience_moves.labels("a", "enter").inc()
    m.segment_customers.labels("s").set(1)
    m.audience_customers.labels("a").set(1)
    m.lag.labels("0").set(1)
    exported = exported_names(m)
    used = {name for e in exprs for name in re.findall(r"\brfm_[a-z_]+", e)}
    assert used, "the dashboard queries nothing"
    assert used <= exported, f"queried but not exported: {used - exported}"
    titles = " ".join(p["title"].lower() for p in doc["panels"])
    for topic in ("events per second", "lag", "changes", "segment sizes", "batch latency", "end-to-end"):
        assert topic in titles


def test_events_per_second_come_from_the_last_readings_and_fall_to_zero_when_idle():
    from stream_app.core.segments import SegmentMap
    from stream_app.monitor.snapshot import Snapshots

    snaps = Snapshots(None, "p", SegmentMap.load(), ())
    assert snaps._rate_of(100.0, 0) == 0.0
    assert snaps._rate_of(102.0, 1000) == 500.0
    assert snaps._rate_of(104.0, 2000) == 500.0
    assert snaps._rate_of(120.0, 2000) == 0.0  # nothing new for longer than the window
