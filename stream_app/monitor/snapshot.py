"""What the live dashboard shows, read from Redis only (so it also runs apart from the workers).

Sources, all under the deployment's prefix (docs/streaming.md has the contract):
segment and audience sizes are the SCARDs of their sets; boundaries, the
``{prefix}:boundaries`` record; the R x F grid and the value bands need every
profile's scores, so they come from a SCAN of the profile hashes, repeated at
most every ``scan_every`` seconds (about 0.1 s per 10,000 customers); events,
lag and partitions come from the records each worker refreshes every 2 s at
``{prefix}:monitor:worker:{host:pid}`` (expiring, so a dead worker drops
out); the latest segment changes, from the capped list ``{prefix}:recent_changes``
the workers push to. Events per second are the difference between two
readings of the workers' summed event counts.
"""

from __future__ import annotations

import collections
import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from stream_app.core.segments import SegmentMap
from stream_app.redis.keys import (audience_key, boundaries_key, customer_pattern, recent_changes_key, segment_key,
                                   worker_pattern)
from stream_app.worker.boundaries import Published

RECENT_CHANGES_KEPT = 50
WORKER_RECORD_TTL = 15
RATE_WINDOW = 10.0


class Snapshots:
    """Successive dashboard states of one deployment; keeps what rates and the scan cache need."""

    def __init__(self, client: aioredis.Redis, prefix: str, segments: SegmentMap, audiences: tuple[str, ...],
                 scan_every: float = 5.0):
        self.client = client
        self.prefix = prefix
        self.segments = segments
        self.audiences = audiences
        self.scan_every = scan_every
        self._scan: tuple[float, dict] | None = None
        self._readings: collections.deque[tuple[float, int]] = collections.deque()

    async def take(self) -> dict[str, Any]:
        p = self.prefix
        names = list(self.segments.names)
        pipe = self.client.pipeline(transaction=False)
        pipe.get(boundaries_key(p))
        for name in names:
            pipe.scard(segment_key(p, name))
        for name in self.audiences:
            pipe.scard(audience_key(p, name))
        pipe.lrange(recent_changes_key(p), 0, 19)
        reply = await pipe.execute()
        raw_bounds, reply = reply[0], reply[1:]
        sizes, reply = dict(zip(names, reply[: len(names)])), reply[len(names):]
        audience_sizes, reply = dict(zip(self.audiences, reply[: len(self.audiences)])), reply[len(self.audiences):]
        recent = [orjson.loads(v) for v in reply[0]]
        pub = Published.from_bytes(raw_bounds)
        b = pub.boundaries
        workers = await self._workers()
        now = time.time()
        events = sum(w.get("events", 0) for w in workers)
        rate = self._rate_of(now, events)
        lag = {}
        for w in workers:
            lag.update(w.get("lag", {}))
        scan = await self._scores()
        return {
            "prefix": p,
            "at": now,
            "customers": sum(sizes.values()),
            "segments": sizes,
            "grid": [[self.segments.segment(r, f) for f in range(1, 6)] for r in range(5, 0, -1)],
            "rf_counts": scan["rf"],
            "value_bands": scan["bands"],
            "scanned": scan["n"],
            "audiences": audience_sizes,
            "boundaries": {"version": b.version, "customers": b.customers, "computed_us": pub.computed_us,
                           "cuts": {d: [k[0] for k in c.keys] for d, c in b.cuts.items()}},
            "events": events,
            "events_per_second": round(rate, 1),
            "lag": dict(sorted(lag.items(), key=lambda kv: int(kv[0]))),
            "workers": workers,
            "recent_changes": recent,
        }

    def _rate_of(self, now: float, events: int) -> float:
        """Events per second over the readings of the last RATE_WINDOW seconds (workers report every 2 s,
        so a shorter span would alternate between bursts and zeros; idle, it falls to 0 within the window)."""
        self._readings.append((now, events))
        while len(self._readings) > 1 and now - self._readings[0][0] > RATE_WINDOW:
            self._readings.popleft()
        t0, e0 = self._readings[0]
        return max(0.0, (events - e0) / (now - t0)) if now - t0 >= 1.0 else 0.0

    async def _workers(self) -> list[dict]:
        keys = [k async for k in self.client.scan_iter(match=worker_pattern(self.prefix), count=100)]
        if not keys:
            return []
        values = await self.client.mget(keys)
        return sorted((orjson.loads(v) for v in values if v), key=lambda w: w.get("id", ""))

    async def _scores(self) -> dict:
        """R x F counts (rows R5..R1, columns F1..F5) and value bands, from a cached scan of the profiles."""
        now = time.monotonic()
        if self._scan is not None and now - self._scan[0] < self.scan_every:
            return self._scan[1]
        rf = [[0] * 5 for _ in range(5)]
        bands = {"low": 0, "mid": 0, "high": 0}
        n = 0
        batch: list[bytes] = []

        async def flush() -> None:
            nonlocal n
            pipe = self.client.pipeline(transaction=False)
            for key in batch:
                pipe.hmget(key, "r_score", "f_score", "value_band")
            for r, f, band in await pipe.execute():
                if r and f:
                    rf[5 - int(r)][int(f) - 1] += 1
                    n += 1
                if band:
                    bands[band.decode()] = bands.get(band.decode(), 0) + 1
            batch.clear()

        async for key in self.client.scan_iter(match=customer_pattern(self.prefix), count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await flush()
        if batch:
            await flush()
        result = {"rf": rf, "bands": bands, "n": n}
        self._scan = (now, result)
        return result
