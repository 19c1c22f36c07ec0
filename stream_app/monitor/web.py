"""The HTTP side of monitoring: /metrics, /healthz, /readyz, the dashboard at / and its JSON at /api/state.

One aiohttp application serves a worker (``WorkerMonitor``, a service the
Faust worker starts with itself, before table recovery, so /healthz and
/readyz answer while tables are being restored) or, for `rfm-stream
dashboard`, only the Redis-backed dashboard. Faust's own web server is not
used: it starts its user views only after recovery, and its production index
already takes "/".
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from importlib import resources
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiohttp import web
from faust import Service  # mode.Service, as Faust exports it

from stream_app import connect
from stream_app.monitor.metrics import WorkerMetrics
from stream_app.monitor.snapshot import RECENT_CHANGES_KEPT, WORKER_RECORD_TTL, Snapshots
from stream_app.redis.keys import audience_key, recent_changes_key, segment_key, worker_key

log = logging.getLogger("rfm_stream.worker")
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
REDIS_STALE_AFTER = 3.0  # seconds: an older Redis answer does not count for readiness


def dashboard_page(initial: dict[str, Any] | None = None) -> str:
    """The dashboard: one HTML file with inline CSS, JS and SVG (works offline); the first state inlined."""
    html = resources.files("stream_app.monitor").joinpath("dashboard.html").read_text(encoding="utf-8")
    state = orjson.dumps(initial).decode().replace("</", "<\\/") if initial is not None else "null"
    return html.replace("/*INITIAL_STATE*/null", state)


def application(snapshots: Snapshots, worker: "WorkerMonitor | None" = None) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/")
    async def index(request: web.Request) -> web.Response:
        try:
            initial = await snapshots.take()
        except Exception:  # Redis away: the page still loads and retries on its own
            initial = None
        return web.Response(text=dashboard_page(initial), content_type="text/html")

    @routes.get("/api/state")
    async def state(request: web.Request) -> web.Response:
        try:
            body = orjson.dumps(await snapshots.take())
        except Exception as exc:
            return web.json_response({"error": f"Redis cannot be read: {type(exc).__name__}"}, status=503)
        return web.Response(body=body, content_type="application/json")

    @routes.get("/healthz")
    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})  # answering at all is the proof: the event loop runs

    if worker is not None:
        @routes.get("/metrics")
        async def metrics(request: web.Request) -> web.Response:
            return web.Response(body=worker.metrics.exposition(), headers={"Content-Type": PROMETHEUS_TEXT})

        @routes.get("/readyz")
        async def readyz(request: web.Request) -> web.Response:
            reasons = worker.not_ready()
            if reasons:
                return web.json_response({"ready": False, "reasons": reasons}, status=503)
            return web.json_response({"ready": True, "partitions": sorted(worker.owned())})

    app = web.Application()
    app.add_routes(routes)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


class WorkerMonitor(Service):
    """Started with the Faust worker: the web server, and a 1 s loop that refreshes what it serves."""

    def __init__(self, app: Any, settings: Any, metrics: WorkerMetrics, offsets: Any, segments: Any,
                 audiences: tuple[str, ...], host: str, port: int, **kwargs: Any):
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.offsets = offsets
        self.segments = segments
        self.audiences = audiences
        self.host = host
        self.port = port
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.redis_ok_at = 0.0
        self.redis_error = "not checked yet"
        self._runner: web.AppRunner | None = None
        self._client: aioredis.Redis | None = None
        self._pushed = 0
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        # short timeouts: /readyz must turn 503 within seconds of Redis going away
        self._client = connect.async_redis_client(self.settings, socket_timeout=2.0, socket_connect_timeout=2.0)
        snapshots = Snapshots(self._client, self.settings.redis_prefix, self.segments, self.audiences)
        try:
            self._runner = await serve(application(snapshots, self), self.host, self.port)
            log.info("metrics, health and dashboard on http://%s:%d/", self.host, self.port)
        except OSError as exc:  # monitoring must not stop the processing: say so loudly and go on
            log.error("cannot serve metrics on %s:%d (%s); the worker runs without them", self.host, self.port, exc)
        self.add_future(self._refresh_forever())

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.aclose()

    def owned(self) -> set[int]:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:  # the consumer is not made yet
            return set()
        return {tp.partition for tp in assignment if tp.topic == self.settings.orders_topic}

    def not_ready(self) -> list[str]:
        reasons = []
        recovery = getattr(self.app.tables, "recovery", None)
        if recovery is None or not recovery.completed.is_set() or getattr(self.app, "in_recovery", False):
            reasons.append("restoring tables")
        if not self.owned():
            reasons.append("no orders partition assigned")
        if self.metrics.retry_reason is not None:
            reasons.append(f"retrying a batch: {self.metrics.retry_reason}")
        if time.monotonic() - self.redis_ok_at > REDIS_STALE_AFTER:
            reasons.append(f"Redis does not answer: {self.redis_error}")
        return reasons

    async def _refresh_forever(self) -> None:
        tick = 0
        while not self.should_stop:
            try:
                await self._refresh(tick)
            except Exception as exc:  # Redis away: /readyz says so; the loop goes on
                self.redis_error = f"{type(exc).__name__}: {exc}"
            tick += 1
            await self.sleep(1.0)

    async def _refresh(self, tick: int) -> None:
        self._gauges()
        assert self._client is not None
        await self._client.ping()
        self.redis_ok_at = time.monotonic()
        if tick % 2 == 0:
            await self._publish_record()
        if tick % 5 == 0:
            await self._population()

    def _gauges(self) -> None:
        owned = self.owned()
        self.metrics.assigned.set(len(owned))
        lag = self.lag(owned)
        self.metrics.lag.clear()
        for p, n in lag.items():
            self.metrics.lag.labels(str(p)).set(n)

    def lag(self, owned: set[int]) -> dict[int, int]:
        """End offset minus the offset this worker would commit, per owned partition it knows both of."""
        from faust.types import TP

        out = {}
        for p in sorted(owned):
            done = self.offsets.guard.commit_offset(p)
            end = self.app.consumer.highwater(TP(self.settings.orders_topic, p))
            if done is not None and end is not None:
                out[p] = max(0, end - done)
        return out

    async def _publish_record(self) -> None:
        """This worker's figures for the dashboard (which reads Redis only), and the newest changes."""
        assert self._client is not None
        processor = self.metrics.processor
        c = processor.counters if processor is not None else None
        owned = self.owned()
        record = {
            "id": self.worker_id, "at": time.time(), "partitions": sorted(owned),
            "lag": {str(p): n for p, n in self.lag(owned).items()},
            "events": c.events if c else 0, "applied": c.applied if c else 0, "dead": c.dead if c else 0,
            "changes": c.changes if c else 0, "boundaries_version": processor.bounds.version if processor else 0,
            "leader": self._is_leader(), "ready": not self.not_ready(),
        }
        pipe = self._client.pipeline(transaction=False)
        pipe.set(worker_key(self.settings.redis_prefix, self.worker_id), orjson.dumps(record), ex=WORKER_RECORD_TTL)
        fresh = min(self.metrics.changes_seen - self._pushed, len(self.metrics.recent_changes))
        self._pushed = self.metrics.changes_seen
        if fresh > 0:
            key = recent_changes_key(self.settings.redis_prefix)
            pipe.lpush(key, *[orjson.dumps(ev) for ev in list(self.metrics.recent_changes)[-fresh:]])
            pipe.ltrim(key, 0, RECENT_CHANGES_KEPT - 1)
        await pipe.execute()

    def _is_leader(self) -> bool:
        try:
            return bool(self.app.is_leader())
        except Exception:
            return False

    async def _population(self) -> None:
        """Segment and audience sizes, from the leader only (one series per deployment, not per worker)."""
        if not self._is_leader():
            self.metrics.segment_customers.clear()
            self.metrics.audience_customers.clear()
            return
        assert self._client is not None
        p = self.settings.redis_prefix
        names = list(self.segments.names)
        pipe = self._client.pipeline(transaction=False)
        for name in names:
            pipe.scard(segment_key(p, name))
        for name in self.audiences:
            pipe.scard(audience_key(p, name))
        sizes = await pipe.execute()
        for name, n in zip(names, sizes):
            self.metrics.segment_customers.labels(name).set(n)
        for name, n in zip(self.audiences, sizes[len(names):]):
            self.metrics.audience_customers.labels(name).set(n)


async def run_dashboard(client: aioredis.Redis, snapshots: Snapshots, host: str, port: int) -> None:
    """`rfm-stream dashboard`: serve until cancelled."""
    runner = await serve(application(snapshots), host, port)
    try:
        while True:
            await asyncio.sleep(3600)
    finally:
        await runner.cleanup()
        await client.aclose()
