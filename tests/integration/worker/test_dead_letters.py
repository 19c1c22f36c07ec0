"""1,000 malformed events mixed into a replay: each is a dead letter with a reason; the rest is unchanged."""

from __future__ import annotations

import random

import orjson
import pytest
from kafka import KafkaProducer

from stream_app.adapters import registry
from stream_app.kafka.topics import ensure_topics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def malformed(i: int, good: dict) -> tuple[bytes, bytes, str | None]:
    """(key, value, field the reason must name or None) of the i-th bad event."""
    cid = good["customer_id"]
    kinds = [
        (cid, b"{not json", None),
        (cid, b"\xff\xfe\x00 not utf-8", None),
        (cid, orjson.dumps([1, 2, 3]), None),
        (cid, orjson.dumps({**good, "amount": "12.5"}), "amount"),
        (cid, orjson.dumps({**good, "amount": 5e12}), "amount"),
        (cid, orjson.dumps({**good, "occurred_at": "2999-01-01T00:00:00Z"}), "occurred_at"),
        (cid, orjson.dumps({**good, "occurred_at": "yesterday"}), "occurred_at"),
        ("bad id!", orjson.dumps({**good, "customer_id": "bad id!"}), "customer_id"),
        (cid, orjson.dumps({k: v for k, v in good.items() if k != "order_id"}), None),  # the reason names it
        ("someone-else", orjson.dumps(good), "customer_id"),  # key is not the customer: wrong partition
    ]
    key, value, field = kinds[i % len(kinds)]
    return key.encode(), value, field


def test_malformed_events_become_dead_letters_and_change_nothing(deployment, kafka_bootstrap, harness):
    dep, h = deployment, harness
    from stream_app.settings import Settings

    settings = Settings(kafka_bootstrap=kafka_bootstrap, orders_topic=dep.env["RFM_ORDERS_TOPIC"],
                        changes_topic=dep.env["RFM_CHANGES_TOPIC"], dead_letter_topic=dep.env["RFM_DEAD_LETTER_TOPIC"])
    ensure_topics(settings)
    w = dep.worker("w1")
    events = [e.to_json() for e in registry.read(h.ONLINE_RETAIL, "online-retail").in_time_order().events()]
    rng = random.Random(6)
    bad_at = set(rng.sample(range(len(events)), 1000))
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=20)
    fields: list[str | None] = []
    for i, ev in enumerate(events):
        if i in bad_at:
            key, value, field = malformed(len(fields), ev)
            fields.append(field)
            producer.send(dep.env["RFM_ORDERS_TOPIC"], key=key, value=value)
        producer.send(dep.env["RFM_ORDERS_TOPIC"], key=ev["customer_id"].encode(), value=orjson.dumps(ev))
    producer.flush()
    producer.close()
    dep.sync()

    letters = [orjson.loads(v) for _, v in h.read_topic(kafka_bootstrap, dep.env["RFM_DEAD_LETTER_TOPIC"])]
    assert len(letters) == 1000
    assert all(d["reason"] and d["topic"] == dep.env["RFM_ORDERS_TOPIC"] for d in letters)
    assert len({(d["partition"], d["offset"]) for d in letters}) == 1000
    named = sum(1 for d in letters if d["field"] is not None)
    assert named == sum(1 for f in fields if f is not None)
    assert any(d["encoding"] == "base64" for d in letters)
    assert any("order_id" in d["reason"] for d in letters)
    assert w.proc.poll() is None, w.tail()
    exp = h.expected(h.ONLINE_RETAIL, "online-retail")
    h.assert_redis_equals_batch(dep, exp)
    h.assert_changes_consistent(dep, exp, kafka_bootstrap)
