"""Named segments from (R, F), and value bands from R+F+M.

The 5x5 map is configuration (stream_app/config/segments.json, or the file
named by RFM_SEGMENTS) so that a team can rename or remap segments without
touching code.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from stream_app.errors import ConfigError

#: a package resource, so that an installed wheel finds it wherever it lives
DEFAULT_SEGMENTS = resources.files("stream_app") / "config" / "segments.json"


class SegmentMap:
    """Looks up a segment name by (r_score, f_score)."""

    def __init__(self, grid: dict[str, list[str]], source: str = "segment map"):
        cells: dict[tuple[int, int], str] = {}
        for r in range(1, 6):
            row = grid.get(f"R{r}")
            if not isinstance(row, list) or len(row) != 5:
                raise ConfigError(f"{source}: row 'R{r}' must be a list of 5 segment names (F1..F5)")
            for f, name in enumerate(row, start=1):
                if not isinstance(name, str) or not name.strip():
                    raise ConfigError(f"{source}: R{r} F{f} must be a non-empty segment name")
                cells[(r, f)] = name
        self._cells = cells
        self.names = tuple(sorted(set(cells.values())))

    def segment(self, r: int, f: int) -> str:
        return self._cells[(r, f)]

    @classmethod
    def load(cls, path: str | Path | None = None) -> "SegmentMap":
        """The map in a JSON file; the packaged default when path is empty."""
        return _load(str(path or ""))


@lru_cache(maxsize=8)
def _load(file: str) -> SegmentMap:
    path = file or str(DEFAULT_SEGMENTS)
    try:
        data = json.loads((Path(file) if file else DEFAULT_SEGMENTS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the segment map: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the segment map must be a JSON object of rows R1..R5")
    return SegmentMap(data, source=path)


def value_band(rfm_sum: int) -> str:
    """low (3-6), mid (7-10), high (11-15)."""
    if rfm_sum <= 6:
        return "low"
    if rfm_sum <= 10:
        return "mid"
    return "high"
