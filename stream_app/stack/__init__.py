"""The local stack: a real Kafka broker and a real Redis server on 127.0.0.1, without Docker.

`up` is idempotent (servers already ours, or already answering at KAFKA_BOOTSTRAP / REDIS_URL, are left as
they are) and returns only once Kafka answers a metadata request and Redis answers PING; `down` stops what
`up` started, and cleans pid files a crash left behind. Logs, pids and data live under RFM_RUN_DIR, the
Kafka class path and Maven repository under RFM_CACHE_DIR; both are git-ignored.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from stream_app.connect import mask_url
from stream_app.errors import StackError
from stream_app.settings import Settings, load
from stream_app.stack import kafka, process, redis_server

KAFKA_VERSION = kafka.KAFKA_VERSION

_HOW = {"started": "started", "running": "already running", "external": "using the server already answering"}


def _describe(name: str, started: process.Started, since: float) -> str:
    pid = f" pid {started.pid}" if started.pid else ""
    return f"{name:<6} {_HOW[started.how]}{pid} at {started.address} (ready after {time.monotonic() - since:.1f}s)"


def up(s: Settings | None = None, *, persist: bool = False, secure: bool = False,
       echo: Callable[[str], None] = print) -> float:
    """Start what is missing and wait until both servers answer; returns the seconds it took.

    Redis goes first because it is quick and its prerequisites are checked before Maven may spend a minute
    fetching Kafka; whatever this call started is stopped again if the other server fails. ``secure`` adds
    the SASL_SSL listener and Redis's password and TLS port (stream_app/stack/secure.py).
    """
    s = s or load()
    t0 = time.monotonic()
    layout = None
    if secure:
        from stream_app.stack import secure as secured

        layout = secured.Layout.of(s)
        running = [n for n, pid, marker in (("kafka", kafka.Paths.of(s).pid, kafka.MARKER),
                                            ("redis", redis_server.pid_file(s), redis_server.MARKER))
                   if process.read_pid(pid, marker).state == "running"]
        if running and not layout.started.exists():
            raise StackError(f"{' and '.join(running)} of RFM_RUN_DIR={s.run_dir} run without --secure: "
                             "`rfm-stream stack down` first, or use another RFM_RUN_DIR")
        secured.prepare(layout)
        s = dataclasses.replace(s, redis_url=layout.redis_admin_url())  # the plain port now wants the password
        if process.read_pid(redis_server.pid_file(s), redis_server.MARKER).state != "running":
            process.require_free(layout.redis_tls_port, "Redis TLS port, REDIS_URL's port + 1")
    r = redis_server.start(s, persist=persist, echo=echo,
                           extra_args=secured.redis_args(layout) if layout is not None else [])
    try:
        k = kafka.start(s, echo=echo, secure=layout)
        try:
            redis_server.wait_ready(s, r)
            echo(_describe("redis", r, t0))
            kafka.wait_ready(s, k)
            echo(_describe("kafka", k, t0))
        except BaseException:
            if k.how == "started":
                kafka.stop(s, echo=echo)
            raise
    except BaseException:
        if r.how == "started":
            redis_server.stop(s, echo=echo)
        raise
    took = time.monotonic() - t0
    echo(f"stack up in {took:.1f}s")
    if layout is not None:
        layout.started.touch()
        for line in secured.describe(layout):
            echo(line)
        return took
    echo(f"KAFKA_BOOTSTRAP={s.kafka_bootstrap}")
    echo(f"REDIS_URL={mask_url(s.redis_url)}")
    return took


def down(s: Settings | None = None, *, echo: Callable[[str], None] = print) -> None:
    """Stop the broker, then Redis; servers rfm-stream did not start are left alone."""
    s = s or load()
    kafka.stop(s, echo=echo)
    redis_server.stop(s, echo=echo)
    (s.run_dir / "secure" / "started").unlink(missing_ok=True)  # see secure.Layout.started


def status(s: Settings | None = None, *, echo: Callable[[str], None] = print) -> bool:
    """Print one line per server; True when both answer."""
    s = s or load()
    results = [kafka.status(s), redis_server.status(s)]
    for _, line in results:
        echo(line)
    return all(ok for ok, _ in results)


__all__ = ["KAFKA_VERSION", "up", "down", "status"]
