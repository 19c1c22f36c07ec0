"""What the crash and server-fault tests do mid-stream: replay a file in the background, wait until the
worker is part-way through it."""

from __future__ import annotations

import subprocess
import sys
import time


def replay_in_background(dep, path: str, rate: int, fmt: str = "online-retail") -> subprocess.Popen:
    """`rfm-stream replay` of the file at ``rate`` events/s into the deployment's orders topic, not waited for."""
    return subprocess.Popen([sys.executable, "-m", "stream_app.cli", "replay", path, "--format", fmt,
                             "--quiet", "--rate", str(rate)], env=dep.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_progress(dep, at_least: int, timeout: float = 90) -> int:
    """Until the worker has written at least this many rank-index changes to Redis (it is mid-stream)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = int(dep.redis.get(f"{dep.prefix}:index_changes") or 0)
        if n >= at_least:
            return n
        time.sleep(0.1)
    raise AssertionError(f"the worker made no progress:\n{dep.logs()}")
