"""The worker's malloc upkeep gives freed heap memory back to the system (glibc, as on every supported image)."""

import os

from stream_app.stack.process import rss_mb
from stream_app.worker import malloc


def test_trim_returns_freed_blocks_held_between_live_ones():
    assert malloc.fix_thresholds()  # glibc: the thresholds are pinned
    # 60 KB blocks come from the heap (under the 128 KiB mmap threshold); one in 50 stays alive, so the
    # heap's top cannot shrink and only a trim inside the heap returns the pages of the freed ones
    blocks = [bytearray(60_000) for _ in range(4_000)]
    for b in blocks:
        b[::4096] = b"x" * len(b[::4096])  # touch every page: resident
    kept = blocks[::50]
    del b
    blocks.clear()
    before = rss_mb(os.getpid())
    took = malloc.trim()
    after = rss_mb(os.getpid())
    assert took > 0
    assert before - after > 100, (before, after)  # about 235 MB were freed; most is given back
    assert len(kept) == 80
