"""Where the worker's Python heap grows, for a soak: on only when Python traces allocations.

A worker started with ``PYTHONTRACEMALLOC=N`` (N frames per allocation; 1 is
cheap enough for a soak) logs, every minute, the source lines whose live
allocations grew most since the first minute. Resident memory alone cannot tell
a leak from RocksDB filling its caches or the allocator keeping freed pages;
this names the Python lines that hold what grew. Off (the default), it costs
one check a minute.
"""

from __future__ import annotations

import logging
import tracemalloc

log = logging.getLogger("rfm_stream.worker.heap")  # under the logger the worker keeps at INFO

#: how many lines each report names
TOP = 12


class HeapGrowth:
    """Compares each snapshot with the first one taken (the baseline, after start-up)."""

    def __init__(self, top: int = TOP) -> None:
        self.top = top
        self.baseline: tracemalloc.Snapshot | None = None

    def tick(self) -> list[str]:
        """The report lines of this minute (none when tracing is off or on the baseline's minute)."""
        if not tracemalloc.is_tracing():
            return []
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")))
        if self.baseline is None:
            self.baseline = snapshot
            return []
        traced, peak = tracemalloc.get_traced_memory()
        lines = [f"heap: {traced / 2**20:.1f} MiB traced (peak {peak / 2**20:.1f} MiB); growth since the baseline:"]
        for stat in snapshot.compare_to(self.baseline, "lineno")[: self.top]:
            frame = stat.traceback[0]
            lines.append(f"heap: {stat.size_diff / 2**20:+8.2f} MiB {stat.count_diff:+9d} blocks  "
                         f"{frame.filename}:{frame.lineno}")
        return lines

    def report(self) -> None:
        for line in self.tick():
            log.info("%s", line)
