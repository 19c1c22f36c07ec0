"""What the worker logs while a server is away: which one, where, why; never a password; not a flood."""

from __future__ import annotations

import dataclasses
import logging

from aiokafka.errors import KafkaConnectionError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from stream_app.settings import Settings
from stream_app.redis.profiles import RedisDataLost
from stream_app.worker.outage import RepeatFilter, Throttled, describe


def settings() -> Settings:
    return dataclasses.replace(Settings(), redis_url="redis://user:s3cret@10.0.0.7:6380/2",
                               kafka_bootstrap="10.0.0.8:9092")


def test_describe_names_the_server_its_address_and_the_reason_but_no_password():
    s = settings()
    line = describe(RedisTimeoutError("Timeout reading from socket"), s)
    assert line == "Redis at 10.0.0.7:6380 unreachable (TimeoutError: Timeout reading from socket)"
    assert "s3cret" not in describe(RedisConnectionError("Error 111 connecting"), s)
    assert describe(KafkaConnectionError("no broker"), s).startswith("Kafka at 10.0.0.8:9092 unreachable")
    assert "lost its data" in describe(RedisDataLost("gone"), s)


def test_the_leaders_failures_are_said_once_per_period(caplog):
    t = Throttled("boundary recompute", every=3600)
    with caplog.at_level(logging.WARNING, logger="rfm_stream.worker"):
        for _ in range(50):
            t.failed(RedisTimeoutError("Timeout"), settings())
        t.succeeded()
        t.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith("boundary recompute waits: Redis at 10.0.0.7:6380 unreachable")
    assert lines[1] == "boundary recompute works again"


def test_repeat_filter_lets_one_line_of_a_kind_through_and_counts_the_rest():
    f = RepeatFilter(every=3600)

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (1,), None)

    shown = [f.filter(record("aiokafka.client", "Unable connect to node with id %s")) for _ in range(100)]
    assert shown.count(True) == 1
    assert f.filter(record("aiokafka.client", "Unable to update metadata from %s"))  # another kind
    assert all(f.filter(record("rfm_stream.worker", "batch waits %s")) for _ in range(5))  # ours: untouched
    f.every = 0.0
    r = record("aiokafka.client", "Unable connect to node with id %s")
    assert f.filter(r) and "99 more like it" in r.getMessage()
