"""`rfm-stream stack up|down|status` as a user runs it, on a second stack of its own.

These tests start, stop and kill servers, so they never touch the stack the other tests use: their broker
and Redis listen on free ports of their own, with a run folder under tmp_path. Only the Kafka class path
cache is shared (RFM_CACHE_DIR), so no test downloads it twice.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stream_app.settings import load
from stream_app.stack import kafka, process, redis_server
from stream_app.stack.private import stack_ports

pytestmark = pytest.mark.integration


class Stack:
    """Runs `rfm-stream stack ...` in a subprocess against an isolated stack."""

    def __init__(self, tmp: Path) -> None:
        kafka_port, redis_port = stack_ports()
        self.kafka_port = kafka_port
        self.bootstrap = f"127.0.0.1:{kafka_port}"
        self.redis_url = f"redis://127.0.0.1:{redis_port}/0"
        self.run_dir = tmp / "run"
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP": self.bootstrap,
            "REDIS_URL": self.redis_url,
            "RFM_RUN_DIR": str(self.run_dir),
            "RFM_CACHE_DIR": str(load().cache_dir),
        }
        self.kafka_pid_file = self.run_dir / "kafka" / "kafka.pid"
        self.redis_pid_file = self.run_dir / "redis" / "redis.pid"

    def run(self, *args: str, env: dict | None = None, ok: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "stream_app.cli", "stack", *args],
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if ok:
            assert proc.returncode == 0, f"stack {' '.join(args)}: {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    def pids(self) -> tuple[int, int]:
        return int(self.kafka_pid_file.read_text()), int(self.redis_pid_file.read_text())

    def kafka_answers(self) -> bool:
        return kafka.answers(self.bootstrap, timeout=2.0)

    def redis_answers(self) -> bool:
        return redis_server.answers(self.redis_url)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, kafka_bootstrap) -> Stack:
    """The isolated stack; whatever a test leaves running is stopped at the end. Needs the class path,
    which `stack up` of the main stack (kafka_bootstrap) has fetched."""
    s = Stack(tmp_path_factory.mktemp("stack"))
    yield s
    s.run("down", ok=False)
    for pid_file, marker in ((s.kafka_pid_file, kafka.MARKER), (s.redis_pid_file, redis_server.MARKER)):
        state = process.read_pid(pid_file, marker)
        if state.state == "running":
            process.stop(state.pid, timeout=5)


def test_up_starts_both_and_a_second_up_is_a_no_op(stack: Stack):
    out = stack.run("up").stdout
    assert "kafka  started pid" in out and "redis  started pid" in out, out
    assert f"KAFKA_BOOTSTRAP={stack.bootstrap}" in out and f"REDIS_URL={stack.redis_url}" in out
    assert "stack up in " in out
    assert stack.kafka_answers() and stack.redis_answers()
    pids = stack.pids()

    again = stack.run("up").stdout
    assert "kafka  already running" in again and "redis  already running" in again, again
    assert stack.pids() == pids
    assert all(process.alive(pid) for pid in pids)
    assert stack.run("status").stdout.count(" up: pid ") == 2


def test_servers_listen_on_loopback_only_and_redis_keeps_nothing(stack: Stack):
    import redis

    stack.run("up")
    for port in (stack.kafka_port, stack.kafka_port + 1):  # broker and controller listeners
        addresses = _listen_addresses(port)
        assert addresses == {"127.0.0.1"}, (port, addresses)
    client = redis.Redis.from_url(stack.redis_url)
    assert client.config_get("save") == {"save": ""}
    assert client.config_get("appendonly") == {"appendonly": "no"}
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    client.close()


def test_down_then_up_keeps_the_data(stack: Stack):
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    stack.run("up")
    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap)
    admin.create_topics([NewTopic("kept-over-restart", num_partitions=3, replication_factor=1)])
    admin.close()
    meta = (stack.run_dir / "kafka" / "data" / "meta.properties").read_text()
    old = stack.pids()

    out = stack.run("down").stdout
    assert "kafka  stopped pid" in out and "redis  stopped pid" in out, out
    assert not stack.kafka_pid_file.exists() and not stack.redis_pid_file.exists()
    assert not any(process.alive(pid) for pid in old)
    assert not stack.kafka_answers() and not stack.redis_answers()
    assert stack.run("status", ok=False).returncode == 3

    out = stack.run("up").stdout
    assert "kafka  started pid" in out, out
    assert set(stack.pids()).isdisjoint(old)
    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap)
    assert "kept-over-restart" in admin.list_topics()  # same storage, not formatted again
    admin.close()
    assert (stack.run_dir / "kafka" / "data" / "meta.properties").read_text() == meta


def test_down_after_a_crash_removes_stale_pid_files(stack: Stack):
    stack.run("up")
    for pid in stack.pids():
        os.kill(pid, signal.SIGKILL)
    _wait(lambda: not stack.kafka_answers() and not stack.redis_answers())

    status = stack.run("status", ok=False)
    assert status.returncode == 3
    assert status.stdout.count("stale pid file") == 2, status.stdout

    out = stack.run("down").stdout
    assert "kafka  removed stale pid file" in out and "redis  removed stale pid file" in out, out
    assert not stack.kafka_pid_file.exists() and not stack.redis_pid_file.exists()

    out = stack.run("up").stdout  # after an unclean broker shutdown: log recovery, then up again
    assert "kafka  started pid" in out and "redis  started pid" in out, out
    assert stack.kafka_answers() and stack.redis_answers()


def test_a_pid_file_naming_another_process_is_stale_and_that_process_survives(stack: Stack):
    stack.run("down")
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        stack.kafka_pid_file.parent.mkdir(parents=True, exist_ok=True)
        stack.kafka_pid_file.write_text(f"{bystander.pid}\n")
        out = stack.run("down").stdout
        assert "kafka  removed stale pid file" in out, out
        assert bystander.poll() is None  # not signalled
        stack.kafka_pid_file.write_text(f"{bystander.pid}\n")
        out = stack.run("up").stdout
        assert "kafka  removing stale pid file" in out and "kafka  started pid" in out, out
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_a_taken_port_is_a_clear_error_and_nothing_is_left_running(stack: Stack):
    stack.run("down")
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", stack.kafka_port))
    squatter.listen()
    try:
        proc = stack.run("up", ok=False)
    finally:
        squatter.close()
    assert proc.returncode == 2
    assert f"error: port {stack.kafka_port} (Kafka broker) on 127.0.0.1 is taken by pid {os.getpid()}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not stack.redis_pid_file.exists() and not stack.redis_answers()  # what `up` started is stopped


def test_missing_java_or_maven_is_a_clear_error(stack: Stack, tmp_path: Path):
    stack.run("down")
    no_java = {**stack.env, "PATH": str(tmp_path)}
    no_java.pop("JAVA_HOME", None)
    proc = stack.run("up", env=no_java, ok=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: java not found"), proc.stderr

    # java present but no Maven, and no cached class path: Maven is what is missing
    (tmp_path / "java").symlink_to(kafka.find_java())
    no_mvn = {**no_java, "RFM_CACHE_DIR": str(tmp_path / "empty-cache")}
    proc = stack.run("up", env=no_mvn, ok=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: mvn (Maven) not found"), proc.stderr
    assert not stack.redis_pid_file.exists()


def _listen_addresses(port: int) -> set[str]:
    """The addresses listening on a TCP port, from /proc/net/tcp{,6}; IPv4-mapped v6 shown as IPv4."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            hexaddr, hexport = local.split(":")
            if state != "0A" or int(hexport, 16) != port:
                continue
            raw = bytes.fromhex(hexaddr)  # 32-bit words in host (little-endian) order
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            addr = ipaddress.ip_address(raw)
            found.add(str(getattr(addr, "ipv4_mapped", None) or addr))
    return found


def _wait(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)
