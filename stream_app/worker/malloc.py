"""Hand freed memory back to the system, so a worker's resident memory follows what it holds.

Every batch decodes and re-encodes whole customer states, and aiokafka's fetch
buffers and producer batches come and go in blocks of hundreds of KB. glibc's
malloc raises its mmap threshold each time such a block is freed (up to 32 MiB
on 64-bit), so later blocks come from the heap, and it trims the heap's free top
only past a trim threshold raised with it. Freed memory then stays resident: a
worker with 91 MiB of live Python objects and 13 MiB of RocksDB buffers had 422
MB resident, and one ``malloc_trim(0)`` gave 58 MB back.

:func:`fix_thresholds` pins both thresholds at start (large blocks are mapped and
unmapped, the heap's top is trimmed past 1 MiB); :func:`trim` also returns the
free pages inside the heap, once a minute. Both are glibc calls: on another C
library they do nothing and say so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time

log = logging.getLogger("rfm_stream.worker.malloc")

#: mallopt() parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: blocks from this size are mapped on their own and unmapped when freed (glibc's starting value; fixed,
#: it no longer climbs)
MMAP_THRESHOLD = 128 * 1024
#: the heap's free top is given back past this size
TRIM_THRESHOLD = 1024 * 1024


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 (glibc only)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def fix_thresholds() -> bool:
    """Pin glibc's mmap and trim thresholds; False when this C library has no mallopt."""
    if _LIBC is None:
        log.info("malloc: not glibc; freed memory is returned as the C library decides")
        return False
    return bool(_LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(_LIBC.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def trim() -> float:
    """Return free heap pages to the system; the seconds it took (0 when not glibc)."""
    if _LIBC is None:
        return 0.0
    t0 = time.perf_counter()
    _LIBC.malloc_trim(0)
    return time.perf_counter() - t0
