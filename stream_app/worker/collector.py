"""The cyclic garbage collector's pace in the worker: seldom, and never over what start-up built.

CPython collects its youngest generation every 700 allocations of container objects. A batch or a rescore
chunk builds tens of thousands of them (states, decisions, events), alive until it is written, so each
collection walked the chunk's objects again and moved them to older generations that were walked again
later: at 1M customers, 0.5-0.9 s of a 2.3-3.8 s rescore of 19,057 movers went to collections (gc
callbacks in benchmarks/worker_rescore.py's set-up), which reference counting makes needless here: the
worker's objects form few cycles.

:func:`tune` freezes what exists after start-up (modules, the app, Faust's services: never garbage) out of
every collection, and collects the youngest generation every ``YOUNG`` allocations instead.
"""

from __future__ import annotations

import gc

#: allocations of container objects between two collections of the youngest generation (CPython: 700)
YOUNG = 50_000
#: collections of a generation between two of the next older one (CPython: 10 and 10)
OLDER = 10


def tune() -> None:
    """Freeze what start-up built and collect seldom; called once the app is built."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, OLDER, OLDER)
