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
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stream_app.settings import Settings, load
from stream_app.stack import kafka, process, redis_server


def free_port(pair: bool = False, start: int = 20000, end: int = 60000) -> int:
    """A loopback port nothing listens on (and port + 1 too, with ``pair``), picked by the kernel."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not start <= port < end - 1:
            continue
        if not pair or not process.port_open("127.0.0.1", port + 1):
            return port
    raise RuntimeError("no free loopback port pair found")


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
    kafka_port, redis_port = free_port(pair=True), free_port()
    settings = dataclasses.replace(base, kafka_bootstrap=f"127.0.0.1:{kafka_port}",
                                   redis_url=f"redis://127.0.0.1:{redis_port}/0", run_dir=Path(run_dir))
    st = PrivateStack(settings, echo)
    stack.up(settings, echo=echo)
    try:
        yield st
    finally:
        st.down()
