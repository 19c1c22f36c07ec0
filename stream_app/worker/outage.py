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
from stream_app.redis.profiles import RedisDataLost

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


class RepeatFilter(logging.Filter):
    """One record per logger and message template every ``every`` seconds, for the Kafka clients' loggers.

    While a broker is down aiokafka logs every failed attempt of every connection: about 2,500 lines in 20
    seconds here, which bury the worker's own account of the outage. The first of each kind still shows,
    and the next one says how many like it were left out.
    """

    def __init__(self, prefixes: tuple[str, ...] = ("aiokafka", "kafka"), every: float = 30.0):
        super().__init__()
        self.prefixes = prefixes
        self.every = every
        self._last: dict[tuple[str, object], float] = {}
        self._left_out: dict[tuple[str, object], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key = (record.name, record.msg)
        now = time.monotonic()
        if now - self._last.get(key, float("-inf")) < self.every:
            self._left_out[key] = self._left_out.get(key, 0) + 1
            return False
        self._last[key] = now
        left_out = self._left_out.pop(key, 0)
        if left_out and isinstance(record.msg, str):
            record.msg = f"{record.msg} (and {left_out} more like it in the last {self.every:.0f}s, not shown)"
        return True
