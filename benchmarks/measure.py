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


def servers_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) the local stack's Redis and broker have used so far, by name: the
    difference over a run says what share of its wall time they spent working while the worker waited.
    The processes are those the stack's pid files name (the servers `rfm-stream stack up` started, checked
    as `stack status` checks them); a server it did not start (remote, or not running) is left out."""
    from stream_app.settings import load
    from stream_app.stack import kafka, process, redis_server

    s = load()
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for name, pid_file, marker in (("redis", redis_server.pid_file(s), redis_server.MARKER),
                                   ("kafka", kafka.Paths.of(s).pid, kafka.MARKER)):
        state = process.read_pid(pid_file, marker)
        if state.state != "running":
            continue
        try:
            with open(f"/proc/{state.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        except OSError:
            continue
        out[name] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime: every thread's
    return out


def command_usec(commandstats: dict) -> dict[str, int]:
    """Microseconds Redis has spent in each command so far, by command name, from ``INFO commandstats``.

    A script's own entry (``eval``, ``evalsha``) counts the commands it calls as well, which also have their
    own entries: the difference over a run says how much of the scripts' time their commands took and how
    much the scripts' own work (decoding their JSON argument, building keys, converting replies)."""
    return {name.removeprefix("cmdstat_"): int(v["usec"]) for name, v in commandstats.items()}


def script_split_s(before: dict[str, int], after: dict[str, int]) -> tuple[float, float]:
    """Seconds Redis spent in scripts between two :func:`command_usec` readings, and of them in the
    commands the scripts called: every command but the scripts' own and ``info`` (the reading itself).
    ``INFO commandstats`` does not say who called a command, so one a client sent on its own in the run
    counts too (in a rescore, the movers query's ZRANGEs: about 7 ms of 0.29 s at 1M customers)."""
    spent = {k: v - before.get(k, 0) for k, v in after.items()}
    scripts = sum(v for k, v in spent.items() if k in ("eval", "evalsha"))
    commands = sum(v for k, v in spent.items() if k not in ("eval", "evalsha", "info"))
    return scripts / 1e6, commands / 1e6
