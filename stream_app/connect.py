"""Every Kafka and Redis client rfm-stream opens, built from Settings in one place.

One module, so that the security settings (SASL, TLS, Redis ACL users and
rediss://), the timeouts and the way a failed connection is reported are the
same for the worker, `replay`, `sync`, `customer`, `segments`, the report and
the stack status. A command that cannot reach a server stops with one line
naming it (password masked) within seconds, instead of a traceback after the
clients' own 30 s defaults.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from stream_app.errors import StackError
from stream_app.settings import Settings

#: how long a command waits for the first answer of a server before it gives up
CONNECT_TIMEOUT = 5.0
#: the first connection attempt of kafka-python (then twice as long each); a failure that waiting cannot
#: mend (a password, a certificate) ends the wait after the attempt that saw it
ATTEMPT = 1.0
#: a Redis reply slower than this is a dead server, not a busy one (the largest pipeline answers in < 1 s)
REDIS_READ_TIMEOUT = 30.0


# ---------------------------------------------------------------- secrets


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***``: redis://user:***@host:6379/0.

    Every URL that reaches a log, an error line or a report goes through this.
    """
    # redis-py also takes the password as a query parameter (?password=...)
    url = re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", url)
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)
    if not password:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def kafka_server(s: Settings) -> str:
    """How error lines name the Kafka cluster: its address and, when not plain, protocol and user."""
    if s.kafka_security_protocol == "PLAINTEXT":
        return f"Kafka at {s.kafka_bootstrap}"
    user = f" as {s.kafka_sasl_username}" if s.kafka_security_protocol.startswith("SASL_") else ""
    return f"Kafka at {s.kafka_bootstrap} ({s.kafka_security_protocol}{user})"


# ---------------------------------------------------------------- Kafka


def ssl_context(s: Settings) -> ssl.SSLContext | None:
    """The TLS context of the SSL and SASL_SSL protocols (the CA file, else the system's CAs); None otherwise."""
    if s.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=s.kafka_ssl_cafile or None)
    if s.kafka_ssl_certfile:
        context.load_cert_chain(s.kafka_ssl_certfile, s.kafka_ssl_keyfile or None)
    return context


def kafka_kwargs(s: Settings) -> dict[str, Any]:
    """Connection keyword arguments of every kafka-python client (producer, consumer, admin)."""
    kw: dict[str, Any] = {
        "bootstrap_servers": [a.strip() for a in s.kafka_bootstrap.split(",") if a.strip()],
        "security_protocol": s.kafka_security_protocol,
        # kafka-python's default is 30 s of retrying a bootstrap server that refuses or rejects us
        "bootstrap_timeout_ms": int(CONNECT_TIMEOUT * 1000),
    }
    context = ssl_context(s)
    if context is not None:
        kw["ssl_context"] = context
    if s.kafka_security_protocol.startswith("SASL_"):
        kw.update(sasl_mechanism=s.kafka_sasl_mechanism, sasl_plain_username=s.kafka_sasl_username,
                  sasl_plain_password=s.kafka_sasl_password)
    return kw


def faust_credentials(s: Settings) -> Any:
    """The Faust app's ``broker_credentials``: SASL (with TLS for SASL_SSL), SSL, or None for PLAINTEXT."""
    import faust

    context = ssl_context(s)
    if s.kafka_security_protocol.startswith("SASL_"):
        return faust.SASLCredentials(username=s.kafka_sasl_username, password=s.kafka_sasl_password,
                                     mechanism=s.kafka_sasl_mechanism, ssl_context=context)
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def faust_broker(s: Settings) -> str:
    """KAFKA_BOOTSTRAP as Faust's broker URL list: kafka://host1:9092;kafka://host2:9092."""
    return ";".join(f"kafka://{a.strip()}" for a in s.kafka_bootstrap.split(",") if a.strip())


@contextlib.contextmanager
def _kafka_errors(s: Settings) -> Iterator[list[str]]:
    """Turn a kafka-python failure to connect into one StackError that names the server and the reason.

    kafka-python logs the real cause (authentication failed, certificate not trusted, connection refused)
    and then raises a generic NoBrokersAvailable; the log records are kept to name that cause.
    """
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    logger = logging.getLogger("kafka")
    handler, level, propagate = Keep(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the cause goes into the one error line, not a page of retries on stderr
    try:
        yield seen
    except StackError:
        raise
    except Exception as exc:
        raise StackError(f"{kafka_server(s)}: {_kafka_reason(s, exc, seen)}") from None
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


#: (pattern in kafka-python's log or exception, reason, whether retrying can help); the first match names the cause
_KAFKA_CAUSES = (
    (r"(?i)authenticat\w* failed|SaslAuthenticationFailed|invalid credentials",
     "authentication failed (check KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD)", False),
    (r"(?i)CERTIFICATE_VERIFY_FAILED|certificate verify failed",
     "the broker's certificate is not trusted (check KAFKA_SSL_CAFILE)", False),
    (r"(?i)WRONG_VERSION_NUMBER|wrong version number|record layer failure",
     "TLS handshake failed (does KAFKA_SECURITY_PROTOCOL match the listener?)", False),
    (r"(?i)UnsupportedSaslMechanism|unsupported sasl", "the broker does not accept this KAFKA_SASL_MECHANISM", False),
    # the broker answered, then closed the connection during the SASL exchange: it did not accept us
    (r"(?s)SASL:.*Broker version identified.*socket disconnected",
     "the broker closed the connection while authenticating (check KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD "
     "and KAFKA_SASL_MECHANISM)", False),
    (r"(?i)connection refused|ECONNREFUSED|Errno 111", "connection refused", True),
    (r"(?i)name or service not known|nodename nor servname|Errno -[23]", "unknown host", True),
)


def _kafka_cause(s: Settings, logged: list[str], exc: Exception | None = None) -> tuple[str, bool] | None:
    head = "SASL: " if s.kafka_security_protocol.startswith("SASL_") else ""
    text = head + " ".join(logged + ([f"{type(exc).__name__}: {exc}"] if exc is not None else []))
    for pattern, reason, retry in _KAFKA_CAUSES:
        if re.search(pattern, text):
            return reason, retry
    return None


def _kafka_reason(s: Settings, exc: Exception, logged: list[str]) -> str:
    cause = _kafka_cause(s, logged, exc)
    if cause is not None:
        return cause[0]
    if type(exc).__name__ == "NoBrokersAvailable" or "Unable to bootstrap" in str(exc):
        return (f"no broker answered within {CONNECT_TIMEOUT:.0f}s "
                "(is the address right, and does KAFKA_SECURITY_PROTOCOL match the listener?)")
    return f"{type(exc).__name__}: {exc}"


def _connected(s: Settings, make: Callable[[dict[str, Any]], Any]) -> Any:
    """make(kwargs) until it connects: short attempts, so a refused password ends the wait at once.

    kafka-python keeps retrying a bootstrap server for bootstrap_timeout_ms whatever the error, and an
    authentication or certificate failure will not go away by waiting; an unreachable broker might.
    """
    deadline = time.monotonic() + CONNECT_TIMEOUT
    with _kafka_errors(s) as seen:
        for i in itertools.count():
            attempt = max(0.5, min(ATTEMPT * 2**i, deadline - time.monotonic()))  # a slow handshake gets longer
            try:
                return make({**kafka_kwargs(s), "bootstrap_timeout_ms": int(attempt * 1000)})
            except Exception:
                cause = _kafka_cause(s, seen)
                if time.monotonic() >= deadline or (cause is not None and not cause[1]):
                    raise


def kafka_admin(s: Settings, **kw: Any):
    """A connected KafkaAdminClient; failing to connect is one StackError naming the cluster."""
    from kafka import KafkaAdminClient

    return _connected(s, lambda conn: KafkaAdminClient(**conn, **kw))


def committed_offsets(admin: Any, group: str) -> dict | None:
    """The group's committed offsets by TopicPartition; None while the broker cannot tell yet.

    A broker that has just started answers FindCoordinator with a retriable error until it has created
    ``__consumer_offsets`` (seconds): a caller polling for progress asks again, it is not a failure.
    """
    from kafka.errors import KafkaError

    try:
        return admin.list_group_offsets(group).get(group, {})
    except KafkaError as exc:
        if getattr(exc, "retriable", False):
            return None
        raise


def kafka_consumer(s: Settings, **kw: Any):
    """A KafkaConsumer, connected (its bootstrap is checked here, not at the first poll)."""
    from kafka import KafkaConsumer

    def make(conn: dict[str, Any]):
        consumer = KafkaConsumer(**conn, **kw)
        try:
            consumer.topics()  # the first metadata request: fails here when the cluster is unreachable
        except Exception:
            consumer.close()
            raise
        return consumer

    return _connected(s, make)


def kafka_producer(s: Settings, **kw: Any):
    """A connected KafkaProducer."""
    from kafka import KafkaProducer

    return _connected(s, lambda conn: KafkaProducer(**conn, **kw))


def aiokafka_producer(s: Settings, **kw: Any):
    """An aiokafka producer (made on the running event loop, not started) with the same security settings.

    For bulk loads: its batch API (create_batch/send_batch) wrote a changelog at 6 µs a record here, where
    kafka-python's per-record send took 86 µs.
    """
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(**_aiokafka_kwargs(s), **kw)


def aiokafka_consumer(s: Settings, **kw: Any):
    """An aiokafka consumer (made on the running event loop, not started) with the same security settings.

    For bulk reads of a whole partition: its record batches are decoded in C, where kafka-python decodes
    each record in Python.
    """
    from aiokafka import AIOKafkaConsumer

    return AIOKafkaConsumer(**_aiokafka_kwargs(s), **kw)


def _aiokafka_kwargs(s: Settings) -> dict[str, Any]:
    """kafka_kwargs less kafka-python's own bootstrap timeout, which aiokafka does not take."""
    return {k: v for k, v in kafka_kwargs(s).items() if k != "bootstrap_timeout_ms"}


def probe_kafka(s: Settings) -> None:
    """Fail fast, with one line, when the cluster cannot be reached or refuses our credentials."""
    from kafka import KafkaAdminClient

    def make(conn: dict[str, Any]):
        admin = KafkaAdminClient(**conn, client_id="rfm-stream-probe", request_timeout_ms=int(CONNECT_TIMEOUT * 1000))
        try:
            admin.describe_cluster()
        finally:
            admin.close()

    _connected(s, make)


# ---------------------------------------------------------------- Redis


def _redis_kwargs(decode: bool) -> dict[str, Any]:
    # a URL's own ?socket_timeout=... wins over these (redis-py lets the URL's options override keywords)
    return {"socket_connect_timeout": 5.0, "socket_timeout": REDIS_READ_TIMEOUT, "decode_responses": decode}


def redis_client(s: Settings | str, *, decode: bool = False, **kw: Any):
    """A redis-py client from REDIS_URL (ACL user, password, rediss:// and ?ssl_ca_certs=... included)."""
    import redis

    url = s if isinstance(s, str) else s.redis_url
    return redis.Redis.from_url(url, **{**_redis_kwargs(decode), **kw})


def async_redis_client(s: Settings, *, decode: bool = False, **kw: Any):
    """The asyncio client of the worker, with the same URL and timeouts."""
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(s.redis_url, **{**_redis_kwargs(decode), **kw})


def redis_failure(url: str, exc: BaseException) -> StackError:
    """One line naming the Redis server (password masked) and why it refused us."""
    text = str(exc)
    if re.search(r"(?i)WRONGPASS|invalid username-password|AUTH.*failed|NOAUTH|Authentication required", text):
        reason = "authentication failed (check the user and password in REDIS_URL)"
    elif re.search(r"(?i)certificate verify failed|CERTIFICATE_VERIFY_FAILED", text):
        reason = "the server's certificate is not trusted (check ssl_ca_certs in REDIS_URL)"
    elif re.search(r"(?i)connection refused|Errno 111", text):
        reason = "connection refused"
    elif re.search(r"(?i)timeout|timed out", text):
        reason = "no answer (timed out)"
    else:
        reason = f"{type(exc).__name__}: {text}"
    return StackError(f"Redis at {mask_url(url)}: {reason}")


@contextlib.contextmanager
def redis_errors(s: Settings | str) -> Iterator[None]:
    """Redis connection and authentication errors as one StackError naming the server."""
    import redis

    url = s if isinstance(s, str) else s.redis_url
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, redis.AuthenticationError, redis.ResponseError,
            OSError) as exc:
        if isinstance(exc, redis.ResponseError) and not re.search(r"(?i)WRONGPASS|NOAUTH|NOPERM", str(exc)):
            raise
        raise redis_failure(url, exc) from None


def probe_redis(s: Settings) -> None:
    """Fail fast, with one line, when Redis cannot be reached or refuses the credentials of REDIS_URL."""
    client = redis_client(s)
    try:
        with redis_errors(s):
            client.ping()
    finally:
        client.close()


__all__ = ["mask_url", "kafka_server", "ssl_context", "kafka_kwargs", "faust_credentials", "faust_broker",
           "kafka_admin", "kafka_consumer", "kafka_producer", "aiokafka_producer", "probe_kafka", "redis_client", "async_redis_client",
           "redis_errors", "redis_failure", "probe_redis", "CONNECT_TIMEOUT"]
