"""What the worker's log says while Redis or Kafka does not answer: one clear line, at a sane rate.

A server outage is not a bug in the worker: batches wait and retry (worker/app.py), the leader's timer tries
again on its next tick. The operator needs to read which server, at which address, and why, without a
traceback per second; so the batch retries log one WARNING per retry (their back-off spaces them out) and
the leader's failed ticks one per ``every`` seconds. Addresses are host:port only: a URL may carry a password.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError
from redis.exceptions import RedisError

from stream_app.settings import Settings
from stream_app.sinks.redis_profiles import RedisDataLost

log = logging.getLogger("rfm_stream.worker")


def redis_address(url: str) -> str:
    """host:port of a redis:// URL, never its user or password."""
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or 6379}"


def describe(exc: BaseException, settings: Settings) -> str:
    """'Redis at 127.0.0.1:6379 unreachable (Connection refused)': the server, its address, the reason."""
    reason = str(exc).strip() or type(exc).__name__
    if isinstance(exc, RedisDataLost):
        return f"Redis at {redis_address(settings.redis_url)} lost its data; rewriting it first"
    if isinstance(exc, RedisError):
        return f"Redis at {redis_address(settings.redis_url)} unreachable ({type(exc).__name__}: {reason})"
    if isinstance(exc, (KafkaError, ProducerSendError)):
        return f"Kafka at {settings.kafka_bootstrap} unreachable ({type(exc).__name__}: {reason})"
    return f"a server unreachable ({type(exc).__name__}: {reason})"


class Throttled:
    """Logs a repeated failure once per ``every`` seconds, with how many attempts failed meanwhile."""

    def __init__(self, what: str, every: float = 30.0):
        self.what = what
        self.every = every
        self.failing = False
        self._last = 0.0
        self._since = 0

    def failed(self, exc: BaseException, settings: Settings) -> None:
        self._since += 1
        now = time.monotonic()
        if not self.failing or now - self._last >= self.every:
            log.warning("%s waits: %s (%d failed attempts)", self.what, describe(exc, settings), self._since)
            self._last, self._since = now, 0
        self.failing = True

    def succeeded(self) -> None:
        if self.failing:
            log.warning("%s works again", self.what)
        self.failing, self._since = False, 0
