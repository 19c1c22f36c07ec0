"""What the benchmarks measure of a process and of Redis, one definition each."""

from __future__ import annotations

import os
import subprocess
import time
from typing import IO

import redis


def run_measured(cmd: list[str], env: dict[str, str] | None = None, stdout: int | IO = subprocess.DEVNULL,
                 stderr: int | IO | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak resident memory (MiB) and exit code of one run of ``cmd``.

    The memory is that child's own (``wait4``): ``RUSAGE_CHILDREN`` would report the largest process the
    benchmark ever waited for, such as a worker it ran before.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=stderr)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    return time.perf_counter() - start, usage.ru_maxrss / 1024, proc.returncode


def settled_used_memory(redis_url: str, most_s: float = 60.0) -> int:
    """Redis' used memory once the keys unlinked before (an earlier run's, a bootstrap's) are freed.

    UNLINK frees a large key (a rank index, a segment set) in a background thread: memory freed while a run
    loads its customers would be taken off their bytes (a 100k run measured 800 bytes a customer instead of
    969 just after a 1M-customer deployment was deleted).
    """
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + most_s
        info = client.info("memory")
        while int(info.get("lazyfree_pending_objects", 0)) and time.monotonic() < deadline:
            time.sleep(0.1)
            info = client.info("memory")
        return int(info["used_memory"])
    finally:
        client.close()


#: what the command line of each local server holds (stream_app/stack starts them so)
SERVER_MARKERS = {"redis": "redis-server", "kafka": "kafka.Kafka"}


def servers_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) each local server process has used so far, by name: the difference over
    a run says what share of its wall time Redis and the broker spent working while the worker waited.
    A server not found (remote, or not started) is left out."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        for name, marker in SERVER_MARKERS.items():
            if marker in cmd:
                out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return out
