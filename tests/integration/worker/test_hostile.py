"""Hostile records mixed into a real replay: none stops, stalls or steers the worker, and it ends equal to batch.

Forged control records (huge versions, the old format with boundaries that would
make everyone hibernating, empty cuts), an event dated before year 1 UTC, a
170 KB value of NUL bytes and a record over 1 MB (the topic is configured to
take it, as a misconfigured producer's could). Each is a bounded dead letter
with a reason; the worker keeps following the leader's real boundary versions.
"""

from __future__ import annotations

import hashlib

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType

from stream_app.adapters import registry
from stream_app.settings import Settings
from stream_app.worker import control
from stream_app.kafka.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

PRODUCER_LIMIT = 1_000_000
BIG = 1_500_000


def hostile_records(partitions: int, good: dict) -> list[tuple[bytes, bytes, int | None, str]]:
    """(key, value, explicit partition or None, what it is) of each hostile record."""
    everyone_hibernating = {"version": 10**15, "customers": 1,
                            "cuts": {d: [[2**52, "~"]] * 4 for d in ("r", "f", "m", "aov")}}
    out: list[tuple[bytes, bytes, int | None, str]] = []
    for p in range(partitions):
        out.append((control.CONTROL_KEY, orjson.dumps({"control": "rescore", "version": 10**15}), p, "forged version"))
        out.append((control.CONTROL_KEY, orjson.dumps({"control": "rescore", "computed_us": 1,
                                                       "boundaries": everyone_hibernating}), p, "forged boundaries"))
        out.append((control.CONTROL_KEY, b'{"control":"rescore","computed_us":1,"boundaries":{"version":3,'
                                         b'"customers":2,"cuts":{}}', p, "empty cuts, broken JSON"))
    year_one = {"type": "order", "customer_id": "from-year-one", "order_id": "y1", "amount": 10.0,
                "occurred_at": "0001-01-01T00:00:00+01:00"}
    out.append((b"from-year-one", orjson.dumps(year_one), None, "year one"))
    out.append((good["customer_id"].encode(), b"\x00" * 170_000, None, "NUL bytes"))
    huge = {**good, "channel": "x" * BIG}
    out.append((good["customer_id"].encode(), orjson.dumps(huge), None, "over 1 MB"))
    return out


def test_hostile_records_are_bounded_dead_letters_and_the_worker_ends_equal_to_batch(
        deployment, kafka_bootstrap, harness):
    dep, h = deployment, harness
    settings = Settings(kafka_bootstrap=kafka_bootstrap, orders_topic=dep.env["RFM_ORDERS_TOPIC"],
                        changes_topic=dep.env["RFM_CHANGES_TOPIC"], dead_letter_topic=dep.env["RFM_DEAD_LETTER_TOPIC"],
                        audience_topic=dep.env["RFM_AUDIENCE_TOPIC"])
    partitions = ensure_topics(settings)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, settings.orders_topic,
                                        configs={"max.message.bytes": str(4 * BIG)})])
    admin.close()
    w = dep.worker("w1")
    events = [e.to_json() for e in registry.read(h.ONLINE_RETAIL, "online-retail").in_time_order().events()]
    half = len(events) // 2
    hostile = hostile_records(partitions, events[half])
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=20, max_request_size=4 * BIG)
    topic = settings.orders_topic

    def send(evs):
        for ev in evs:
            producer.send(topic, key=ev["customer_id"].encode(), value=orjson.dumps(ev))
        producer.flush()

    send(events[:half])
    dep.sync()  # a real version is published and rescored before the forged controls arrive
    version_before = orjson.loads(dep.redis.get(f"{dep.prefix}:boundaries"))["version"]
    for key, value, partition, _ in hostile:
        producer.send(topic, key=key, value=value, partition=partition)
    producer.flush()
    send(events[half:])
    producer.close()
    dep.sync()

    assert w.proc.poll() is None, w.tail()
    letters = [(k, v, orjson.loads(v)) for k, v in h.read_topic(kafka_bootstrap, dep.env["RFM_DEAD_LETTER_TOPIC"])]
    assert len(letters) == len(hostile), [d["reason"] for _, _, d in letters]
    assert all(d["reason"] and len(v) + len(k or b"") < PRODUCER_LIMIT for k, v, d in letters)
    assert sum(1 for *_, d in letters if d["key"] == control.CONTROL_KEY.decode()) == 3 * partitions
    assert any(d["key"] == "from-year-one" for *_, d in letters)
    nul = next(d for *_, d in letters if d["value_bytes"] == 170_000)
    assert nul["truncated"] and nul["value_sha256"] == hashlib.sha256(b"\x00" * 170_000).hexdigest()
    big = next(d for *_, d in letters if d["value_bytes"] > BIG)
    assert big["truncated"] and big["field"] == "channel"

    # the worker kept following the leader's versions; none of the forged ones took hold
    published = orjson.loads(dep.redis.get(f"{dep.prefix}:boundaries"))
    assert version_before < published["version"] < 1000
    rescored = {int(k): int(v) for k, v in dep.redis.hgetall(f"{dep.prefix}:rescored").items()}
    assert rescored == {p: published["version"] for p in range(partitions)}
    exp = h.expected(h.ONLINE_RETAIL, "online-retail")
    h.assert_redis_equals_batch(dep, exp)
    h.assert_changes_consistent(dep, exp, kafka_bootstrap)
    assert "exiting" not in w.tail(400)
