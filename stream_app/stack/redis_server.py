"""The local Redis: the OS's ``redis-server`` on 127.0.0.1, or whatever already answers at REDIS_URL.

Persistence: by default the server keeps nothing on disk (``save ""``, ``appendonly no``): tests write
uuid-prefixed keys they never need again, and a snapshot of them would only cost time and disk. The demo
wants profiles to survive a restart of the stack, so ``stack up --persist`` turns the append-only file on
(``appendonly yes``, fsync every second) in the run folder instead.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

from stream_app.connect import mask_url
from stream_app.errors import StackError
from stream_app.settings import Settings
from stream_app.stack import process

MARKER = "redis-server"  # what our server's command line contains


def address(url: str) -> tuple[str, int]:
    """Host and port of a redis:// URL (6379 when the URL names none)."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise StackError(f"REDIS_URL={mask_url(url)!r} is not a redis://host:port/db URL")
    return parts.hostname, parts.port or 6379


def pid_file(s: Settings) -> Path:
    return s.run_dir / "redis" / "redis.pid"


def answers(url: str, timeout: float = 1.0) -> bool:
    """True when the server at ``url`` answers PING."""
    import redis  # imported here so the CLI starts fast

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def start(s: Settings, *, persist: bool = False, echo=print, extra_args: list[str] = ()) -> process.Started:
    """Start redis-server unless ours runs already or some server answers PING at REDIS_URL; does not wait."""
    host, port = address(s.redis_url)
    pids = pid_file(s)
    state = process.read_pid(pids, MARKER)
    if state.state == "running":
        return process.Started("running", state.pid, mask_url(s.redis_url))
    if state.state == "stale":
        echo(f"redis  removing stale pid file {pids} (pid {state.pid} is not our redis-server)")
        pids.unlink(missing_ok=True)
    if answers(s.redis_url):
        return process.Started("external", None, mask_url(s.redis_url))
    if not process.is_local(host):
        raise StackError(
            f"no Redis answers at REDIS_URL={mask_url(s.redis_url)}, and {host} is not this machine: "
            "the local stack only starts a server on 127.0.0.1"
        )
    process.require_free(port, "Redis")
    binary = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if Path(p).exists()), None
    )
    if binary is None:
        raise StackError(
            "redis-server not found: install it (Debian: apt-get install -y redis-server) or run scripts/setup.sh; "
            "or point REDIS_URL at a running Redis"
        )
    folder = pids.parent
    folder.mkdir(parents=True, exist_ok=True)
    argv = [
        binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder),
        "--daemonize", "no", "--logfile", "", "--save", "",
        "--appendonly", "yes" if persist else "no", "--appendfsync", "everysec", *extra_args,
    ]  # fmt: skip
    pid = process.spawn(argv, pid_file=pids, log_file=folder / "redis.log", cwd=folder)
    return process.Started("started", pid, mask_url(s.redis_url))


def wait_ready(s: Settings, started: process.Started, timeout: float = 30.0) -> None:
    """Block until PING answers; fail early, quoting the log, when the server died."""
    log = pid_file(s).parent / "redis.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if started.pid is not None and not process.alive(started.pid):
            pid_file(s).unlink(missing_ok=True)
            last = process.tail(log, 3).replace("\n", " | ")
            raise StackError(f"redis-server exited during start-up: {last or 'no output'} (log: {log})")
        if answers(s.redis_url, timeout=0.5):
            return
        time.sleep(0.1)
    raise StackError(f"Redis at {mask_url(s.redis_url)} did not answer PING within {timeout:.0f}s (log: {log})")


def stop(s: Settings, *, echo=print) -> None:
    """Stop our redis-server (it exits on SIGTERM, writing the append-only file when persisting)."""
    process.stop_recorded("redis", pid_file(s), MARKER, timeout=15.0, echo=echo)


def status(s: Settings) -> tuple[bool, str]:
    ok = answers(s.redis_url)
    return ok, process.status_line("redis", process.read_pid(pid_file(s), MARKER), ok, mask_url(s.redis_url))
