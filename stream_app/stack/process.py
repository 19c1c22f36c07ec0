"""Pid files, port checks and detached server processes for the local stack.

The servers outlive the `rfm-stream stack up` that started them, so the only link back to them is a pid file
under the run folder. A pid file is trusted only while its process is alive, not a zombie, and still runs the
program we started (its command line contains a marker such as ``kafka.Kafka``): after a crash or a reboot
the pid may belong to an unrelated process, which must never be signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from stream_app.errors import StackError


@dataclass(frozen=True)
class PidState:
    """What a pid file says: ``running`` (our process), ``stale`` (file, no such process), ``absent``."""

    state: str
    pid: int | None = None


@dataclass(frozen=True)
class Started:
    """How a server came to be there: ``started`` now, ``running`` (ours, already), ``external``."""

    how: str
    pid: int | None
    address: str


def is_local(host: str) -> bool:
    """True when the host name resolves only to this machine's loopback addresses."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return all(info[4][0].startswith("127.") or info[4][0] == "::1" for info in infos)


def status_line(name: str, state: PidState, ok: bool, address: str) -> str:
    """One line of `stack status` for a server: who runs it, whether it answers, its memory."""
    if state.state == "running":
        assert state.pid is not None
        health = "up" if ok else "NOT ANSWERING"
        return f"{name:<6} {health}: pid {state.pid}, {rss_mb(state.pid):.0f} MB RSS, {address}"
    stale = f" (stale pid file: pid {state.pid} is not ours)" if state.state == "stale" else ""
    if ok:
        return f"{name:<6} up: external server at {address} (not started by rfm-stream){stale}"
    return f"{name:<6} down: nothing answers at {address}{stale}"


def cmdline(pid: int) -> str:
    """The command line of a process, arguments joined by spaces; '' when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a killed child not yet reaped still has a pid)."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # the state letter follows the parenthesised command name, which may itself contain spaces or ')'
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def read_pid(pid_file: Path, marker: str) -> PidState:
    """Check a pid file against the live process table."""
    try:
        pid = int(pid_file.read_text().strip())
    except FileNotFoundError:
        return PidState("absent")
    except (OSError, ValueError):
        return PidState("stale")
    if alive(pid) and marker in cmdline(pid):
        return PidState("running", pid)
    return PidState("stale", pid)


def spawn(argv: list[str], *, pid_file: Path, log_file: Path, cwd: Path) -> int:
    """Start a server in its own session (so it survives this command and ^C), record its pid."""
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def stop(pid: int, *, timeout: float) -> bool:
    """SIGTERM, wait up to ``timeout`` s for a clean exit, then SIGKILL. True when it stopped cleanly."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.1)
    return False


def stop_recorded(name: str, pid_file: Path, marker: str, *, timeout: float, echo=print) -> None:
    """Stop the server a pid file names (clean shutdown first); drop a stale pid file without signalling."""
    state = read_pid(pid_file, marker)
    if state.state == "absent":
        echo(f"{name:<6} not running (no pid file)")
        return
    if state.state == "stale":
        echo(f"{name:<6} removed stale pid file (pid {state.pid} is not our {name})")
    else:
        assert state.pid is not None
        started = time.monotonic()
        how = "stopped" if stop(state.pid, timeout=timeout) else f"did not stop within {timeout:.0f}s: killed"
        echo(f"{name:<6} {how} pid {state.pid} in {time.monotonic() - started:.1f}s")
    pid_file.unlink(missing_ok=True)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (from /proc), 0 when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections there."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listener_of(port: int) -> str:
    """Who listens on a local TCP port, as 'pid N (command)', for error messages; '' when unknown."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return ""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return f"pid {proc.name} ({cmdline(int(proc.name))[:80]})"
        except OSError:
            continue
    return ""


def require_free(port: int, what: str) -> None:
    """Fail with a message naming the squatter when a port the stack needs is already taken."""
    if port_open("127.0.0.1", port):
        who = listener_of(port) or "another process"
        raise StackError(
            f"port {port} ({what}) on 127.0.0.1 is taken by {who}: stop it, or choose other ports "
            f"through KAFKA_BOOTSTRAP / REDIS_URL"
        )


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for an error message about a server that died."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
