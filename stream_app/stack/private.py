"""A throwaway stack: its own Kafka and Redis on free ports, in its own run folder, for what kills servers.

The fault tests and the soak benchmark kill, pause, flush and restart the servers; doing that to the stack
at KAFKA_BOOTSTRAP / REDIS_URL would break everything else using it. So they start a private pair with the
same code as `rfm-stream stack up` (the addresses and folders come from the Settings given to it), and
stop it at the end. The broker also listens on its port + 1 (the KRaft controller), so a port is chosen
only when that one is free too.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stream_app.settings import Settings, load
from stream_app.stack import kafka, process, redis_server


def free_port(pair: bool = False, start: int = 20000, end: int = 60000) -> int:
    """A loopback port nothing listens on (and port + 1 too, with ``pair``), below the kernel's ephemeral range.

    A port the kernel hands out for ``bind(0)`` lies in its ephemeral range, which it also gives every
    outgoing connection: between the pick and the broker's bind (a JVM start-up), a test's Kafka client
    took the controller's port + 1 and the private stack failed to start. Ports below that range are only
    ever taken by an explicit bind.
    """
    low = _ephemeral_low()
    if low > start + 1000:  # a kernel whose ephemeral range starts lower leaves the whole range to chance
        end = min(end, low)
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(start, end - 1)
        if all(_bindable(p) for p in ((port, port + 1) if pair else (port,))):
            return port
    raise RuntimeError("no free loopback port pair found")


def stack_ports() -> tuple[int, int]:
    """A Kafka port whose successor (its controller) is free too, and a Redis port apart from both: each pick
    only checks that nothing listens yet, so the second must not land on the first pair."""
    kafka_port = free_port(pair=True)
    while (redis_port := free_port()) in (kafka_port, kafka_port + 1):
        pass
    return kafka_port, redis_port


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_low(default: int = 32768) -> int:
    """The first port of the kernel's ephemeral range (Linux; elsewhere the IANA/Linux default)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


@dataclass
class PrivateStack:
    """A started private stack; its settings point every rfm-stream command at it."""

    settings: Settings
    echo: object = print

    @property
    def env(self) -> dict[str, str]:
        """What to add to a subprocess' environment so that it uses this stack."""
        s = self.settings
        return {"KAFKA_BOOTSTRAP": s.kafka_bootstrap, "REDIS_URL": s.redis_url, "RFM_RUN_DIR": str(s.run_dir),
                "RFM_CACHE_DIR": str(s.cache_dir)}

    def kafka_pid(self) -> int | None:
        return process.read_pid(kafka.Paths.of(self.settings).pid, kafka.MARKER).pid

    def redis_pid(self) -> int | None:
        return process.read_pid(redis_server.pid_file(self.settings), redis_server.MARKER).pid

    def start_kafka(self) -> None:
        started = kafka.start(self.settings, echo=self.echo)
        kafka.wait_ready(self.settings, started)

    def start_redis(self) -> None:
        started = redis_server.start(self.settings, echo=self.echo)
        redis_server.wait_ready(self.settings, started)

    def kill9(self, pid: int | None) -> None:
        """SIGKILL a server of this stack and wait until it is gone (a crash: nothing flushed, nothing saved)."""
        assert pid is not None, "the server is not running"
        os.kill(pid, signal.SIGKILL)
        process.stop(pid, timeout=10.0)  # reaps it; SIGTERM to a dead pid is harmless

    def pause(self, pid: int | None) -> None:
        """SIGSTOP: the server holds its connections and data but answers nothing (a network partition)."""
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)

    def resume(self, pid: int | None) -> None:
        assert pid is not None
        os.kill(pid, signal.SIGCONT)

    def down(self) -> None:
        for pid in (self.kafka_pid(), self.redis_pid()):
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGCONT)  # a paused server cannot stop cleanly
                except ProcessLookupError:
                    pass
        kafka.stop(self.settings, echo=self.echo)
        redis_server.stop(self.settings, echo=self.echo)


@contextmanager
def private_stack(run_dir: Path, echo=print) -> Iterator[PrivateStack]:
    """Start Kafka and Redis on free ports with their data under ``run_dir``; stop both on exit.

    Raises StackError (from stream_app.stack) when either cannot start, having stopped what did.
    """
    from stream_app import stack

    base = load()
    kafka_port, redis_port = stack_ports()
    settings = dataclasses.replace(base, kafka_bootstrap=f"127.0.0.1:{kafka_port}",
                                   redis_url=f"redis://127.0.0.1:{redis_port}/0", run_dir=Path(run_dir))
    st = PrivateStack(settings, echo)
    stack.up(settings, echo=echo)
    try:
        yield st
    finally:
        st.down()
