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


def recompute_due(now: float, changes: int, covered: int, last_change_at: float, last_recompute_at: float,
                  interval: float, quiet: float) -> bool:
    """Recompute when the index moved since the last one and either the interval passed or a burst ended."""
    if changes == covered:
        return False
    return now - last_recompute_at >= interval or now - last_change_at >= quiet
