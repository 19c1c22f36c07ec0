"""Fixtures for every test: the real Kafka and Redis of `rfm-stream stack up`, and names no other test uses.

Integration tests talk to the servers at KAFKA_BOOTSTRAP and REDIS_URL. Outside CI a missing server skips
them (someone working on the pure core need not run a broker); with CI=true it fails them, because a suite
that quietly skips its integration tests passes without having tested anything.

Every topic, consumer group, Faust app id and Redis key prefix a test uses carries a fresh uuid, so tests
never read each other's data, on a long-lived developer stack or in one CI run.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from stream_app.settings import load

IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3 loads its protocol schemas through the deprecated importlib.resources API: 200 lines of noise
    for message in ("read_text is deprecated", "open_text is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")


def _missing(what: str, address: str, why: str = "") -> None:
    _unavailable(f"{what} does not answer at {address}{why}: start the stack with `rfm-stream stack up`")


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(f"{message} (CI=true: a missing server is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """KAFKA_BOOTSTRAP, once a broker there has answered a metadata request."""
    from stream_app.stack import kafka

    bootstrap = load().kafka_bootstrap
    if not kafka.answers(bootstrap, timeout=10.0):
        _missing("Kafka", bootstrap)
    return bootstrap


@pytest.fixture(scope="session")
def redis_url() -> str:
    """REDIS_URL, once the server there has answered PING."""
    from stream_app.stack import redis_server

    url = load().redis_url
    if not redis_server.answers(url, timeout=5.0):
        _missing("Redis", url)
    return url


@pytest.fixture(scope="session")
def redis_client(redis_url: str) -> Iterator:
    """A redis-py client (bytes in, bytes out) on the stack's Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """unique_name("group") -> 'group-test_resume-3f9c2a1b7d04': the test's name plus a fresh uuid."""
    test = re.sub(r"[^A-Za-z0-9]+", "_", request.node.name)[:40].strip("_")

    def make(kind: str = "t") -> str:
        return f"{kind}-{test}-{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture
def kafka_admin(kafka_bootstrap: str) -> Iterator:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="rfm-stream-tests")
    yield admin
    admin.close()


@pytest.fixture
def topic(kafka_admin, unique_name: Callable[[str], str]) -> Iterator[Callable[..., str]]:
    """topic(partitions=1) creates a uuid-named topic, waits until its leaders are known, and deletes it after."""
    from kafka.admin import NewTopic

    created: list[str] = []

    def make(partitions: int = 1, kind: str = "topic") -> str:
        name = unique_name(kind)
        kafka_admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        created.append(name)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            described = kafka_admin.describe_topics([name])
            parts = described[0].get("partitions") or [] if described else []
            # kafka-python 3 names the field leader_id, 2.x leader
            if len(parts) == partitions and all(p.get("leader_id", p.get("leader", -1)) >= 0 for p in parts):
                return name
            time.sleep(0.1)
        raise AssertionError(f"topic {name} has no leaders after 30s")

    yield make
    if created:
        try:
            kafka_admin.delete_topics(created)
        except Exception:  # a failed cleanup must not hide the test's own result
            pass


@pytest.fixture
def redis_prefix(redis_client, unique_name: Callable[[str], str]) -> Iterator[str]:
    """A key prefix no other test uses; the test's keys are deleted afterwards."""
    prefix = unique_name("test") + ":"
    yield prefix
    keys = list(redis_client.scan_iter(match=prefix + "*", count=1000))
    for i in range(0, len(keys), 1000):
        redis_client.delete(*keys[i : i + 1000])


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A Kafka and a Redis of the test module's own, on free ports (stream_app/stack/private.py).

    For tests that kill, pause, flush or restart servers: the stack at KAFKA_BOOTSTRAP / REDIS_URL is shared
    with every other test. Like a missing server, a private stack that cannot start fails under CI=true.
    """
    from contextlib import ExitStack

    from stream_app.errors import StackError
    from stream_app.stack.private import private_stack as start

    with ExitStack() as stack:
        try:
            st = stack.enter_context(start(tmp_path_factory.mktemp("private-stack"), echo=lambda _line: None))
        except (StackError, OSError) as exc:
            _unavailable(f"could not start a private Kafka + Redis: {exc}")
        yield st
