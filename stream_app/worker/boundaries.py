"""The published boundaries record, and when the leader recomputes it.

The record is the content of the boundaries key; :class:`~stream_app.redis.boundaries.BoundaryStore`
reads the cuts from the Redis rank index and publishes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from stream_app.core.scoring import Boundaries


@dataclass(frozen=True, slots=True)
class Published:
    """The content of ``{prefix}:boundaries``."""

    boundaries: Boundaries
    index_changes: int = 0
    computed_us: int = 0
    compute_ms: float = 0.0
    #: fingerprint of the audience rules this version was rescored with
    audiences_fp: str = ""

    def to_bytes(self) -> bytes:
        doc = self.boundaries.to_json()
        doc.update(index_changes=self.index_changes, computed_us=self.computed_us, compute_ms=self.compute_ms,
                   audiences_fp=self.audiences_fp)
        return orjson.dumps(doc)

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> "Published":
        if not raw:
            return cls(Boundaries())
        doc = orjson.loads(raw)
        return cls(Boundaries.from_json(doc), int(doc.get("index_changes", 0)), int(doc.get("computed_us", 0)),
                   float(doc.get("compute_ms", 0.0)), str(doc.get("audiences_fp", "")))


#: how much longer than the stream's own recent pauses the index must stand still to count as its end
PAUSE_MARGIN = 1.5


def recompute_due(now: float, changes: int, covered: int, last_change_at: float, last_recompute_at: float,
                  interval: float, quiet: float, settled_at: float | None = 0.0, pause: float = 0.0) -> bool:
    """Recompute when the index moved since the last one and either the interval passed or the stream stopped.

    The stream stopped when the index stood still, while no rescore was
    running, for the quiet period and for longer than the stream's own pauses
    (``pause``: the longest stillness lately that the stream ended by going on,
    a slow batch or the gap between two). ``settled_at`` is when the leader saw
    every partition rescored to the published version, None while one is not:
    a rescore moves no rank, so the stillness it causes is its own. Counting
    either as the end of a burst made a steady stream recompute every few
    seconds, each rescore scheduling the next, instead of once per interval.
    """
    if changes == covered:
        return False
    if now - last_recompute_at >= interval:
        return True
    still = now - max(last_change_at, settled_at if settled_at is not None else now)
    return settled_at is not None and still >= max(quiet, PAUSE_MARGIN * pause)
