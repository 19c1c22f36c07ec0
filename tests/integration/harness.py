"""What the crash and server-fault tests do mid-stream: replay a file in the background, wait until the
worker is part-way through it."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

from stream_app.stack.private import free_port


def ready_worker(dep, name: str = "w1", *args: str, timeout: float = 120):
    """A worker started with a web port of its own (and ``args``), once ready (/readyz 200: partitions
    assigned, tables restored, Redis reachable); returns it and the port.

    A test that acts mid-replay starts its replay only then: on a slow machine the worker's start-up alone
    can outlast a replay of a few seconds, and the fault would land after the replay, not in it.
    """
    port = free_port()
    worker = dep.worker(name, "--web-port", str(port), *args)
    url = f"http://127.0.0.1:{port}/readyz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.proc.poll() is None, f"worker {name} died while starting:\n{worker.tail()}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return worker, port
        except OSError:  # not listening yet, or 503 (urllib's HTTPError is an OSError): not ready
            pass
        time.sleep(0.2)
    raise AssertionError(f"worker {name} not ready within {timeout:.0f}s:\n{dep.logs()}")


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
