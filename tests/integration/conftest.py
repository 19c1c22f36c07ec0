"""Helpers of the streaming worker's end-to-end tests: a deployment with uuid names, workers as subprocesses.

Workers run as real `rfm-stream worker` processes (so kill -9 is real) with
their own RFM_APP_ID, topics, RFM_REDIS_PREFIX and data folders, on the
stack's Kafka and Redis (fixtures of tests/conftest.py: a missing server
fails the test under CI=true).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import orjson
import pandas as pd
import pytest

from stream_app import batch
from stream_app.adapters import registry
from stream_app.redis import keys
from stream_app.tools.compare import redis_differences

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA = PROJECT_ROOT.parent / "shared" / "data"
ONLINE_RETAIL = str(DATA / "online_retail.csv.gz")
FLO = str(DATA / "flo_data_20k.csv.gz")


@lru_cache(maxsize=4)
def expected(path: str, fmt: str) -> pd.DataFrame:
    """`rfm-stream batch` on the file: the result the stream must equal."""
    return batch.score(registry.read(path, fmt)).set_index("customer_id")


@dataclass
class Deployment:
    """One independent deployment (app id, topics, prefix) on the shared stack."""

    env: dict[str, str]
    tmp: Path
    redis: object
    workers: list["Worker"] = field(default_factory=list)
    #: how rfm-stream is run, and from where: the checkout's by default, an installed console script otherwise
    command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "stream_app.cli"])
    cwd: Path | None = None

    @property
    def prefix(self) -> str:
        return self.env["RFM_REDIS_PREFIX"]

    def cli(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([*self.command, *args], env=self.env, cwd=self.cwd, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"rfm-stream {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
                                 f"\n{self.logs()}")
        return proc

    def worker(self, name: str = "w1", *args: str) -> "Worker":
        w = Worker(self, name, list(args))
        w.start()
        self.workers.append(w)
        return w

    def sync(self, timeout: float = 150) -> str:
        return self.cli("sync", "--timeout", str(timeout), timeout=timeout + 30).stdout

    def replay(self, path: str, fmt: str, *args: str) -> str:
        return self.cli("replay", path, "--format", fmt, "--quiet", *args).stdout

    def logs(self) -> str:
        return "\n".join(w.tail() for w in self.workers)


class Worker:
    def __init__(self, dep: Deployment, name: str, args: list[str]):
        self.dep = dep
        self.name = name
        self.args = args
        self.data_dir = dep.tmp / f"data-{name}"
        self.log = dep.tmp / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(self.dep.env, RFM_DATA_DIR=str(self.data_dir))
        out = open(self.log, "ab")
        self.proc = subprocess.Popen([*self.dep.command, "worker", *self.args], env=env, cwd=self.dep.cwd,
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()

    def kill9(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, f"worker {self.name} died early:\n{self.tail()}"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def tail(self, n: int = 40) -> str:
        if not self.log.exists():
            return ""
        lines = self.log.read_text(errors="replace").splitlines()
        return f"--- {self.name} ---\n" + "\n".join(lines[-n:])

    def counters(self) -> str:
        lines = [line for line in self.log.read_text(errors="replace").splitlines() if "] events " in line]
        return lines[-1] if lines else ""


@pytest.fixture
def deployment(kafka_bootstrap, redis_url, redis_client, unique_name, tmp_path) -> Iterator[Deployment]:
    env = dict(os.environ)
    env.update(
        KAFKA_BOOTSTRAP=kafka_bootstrap,
        REDIS_URL=redis_url,
        RFM_APP_ID=unique_name("app"),
        RFM_ORDERS_TOPIC=unique_name("orders"),
        RFM_CHANGES_TOPIC=unique_name("changes"),
        RFM_DEAD_LETTER_TOPIC=unique_name("dead"),
        RFM_AUDIENCE_TOPIC=unique_name("audience"),
        RFM_REDIS_PREFIX=unique_name("rfm"),
        RFM_RECOMPUTE_INTERVAL="30",
        RFM_PARTITIONS="4",
        PYTHONUNBUFFERED="1",
        RFM_WEB_PORT="0",  # several workers per machine: a test that wants the web server passes --web-port
    )
    dep = Deployment(env, tmp_path, redis_client)
    yield dep
    for w in dep.workers:
        w.stop()
    left = list(redis_client.scan_iter(match=keys.any_pattern(dep.prefix), count=1000))
    for i in range(0, len(left), 1000):
        redis_client.delete(*left[i : i + 1000])
    _delete_topics(kafka_bootstrap, env)


def _delete_topics(bootstrap: str, env: dict[str, str]) -> None:
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        ours = [t for t in admin.list_topics() if t.startswith(env["RFM_APP_ID"]) or t in (
            env["RFM_ORDERS_TOPIC"], env["RFM_CHANGES_TOPIC"], env["RFM_DEAD_LETTER_TOPIC"],
            env["RFM_AUDIENCE_TOPIC"])]
        if ours:
            admin.delete_topics(ours)
        admin.close()
    except Exception:  # cleanup must not hide the test's result
        pass


def read_topic(bootstrap: str, topic: str, timeout: float = 30) -> list[tuple[bytes | None, bytes]]:
    """Every record of a topic, from the beginning to its end offsets now."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in parts]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        out: list[tuple[bytes | None, bytes]] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for records in consumer.poll(timeout_ms=500).values():
                out.extend((r.key, r.value) for r in records)
        return out
    finally:
        consumer.close()


def assert_redis_equals_batch(dep: Deployment, exp: pd.DataFrame) -> None:
    """Every scored customer's hash equals the batch row; segment sets hold exactly the right members."""
    wrong = redis_differences(dep.redis, dep.prefix, exp)
    assert not wrong, f"{len(wrong)} differences from batch, e.g. {wrong[:5]}\n{dep.logs()}"


def assert_changes_consistent(dep: Deployment, exp: pd.DataFrame, bootstrap: str, strict: bool = True) -> dict[str, int]:
    """Per customer, the change events (repeats dropped by version) chain up to the final Redis state.

    strict: each event's previous_segment is the segment of the one before. After a crash or a rebalance a
    batch may be replayed from an older state against newer boundaries, giving a new version whose
    previous_segment is that older state's: then it only has to be a segment seen earlier in the chain, and an
    event may repeat the one before under a new version if both were decided against the same Redis profile
    (the first never reached Redis: its worker died between delivering it and writing the profile).
    Returns how many distinct changes each customer had.
    """
    records = read_topic(bootstrap, dep.env["RFM_CHANGES_TOPIC"])
    by_customer: dict[str, list[dict]] = defaultdict(list)
    for key, value in records:
        ev = orjson.loads(value)
        assert key == ev["customer_id"].encode()
        by_customer[ev["customer_id"]].append(ev)
    assert set(by_customer) == set(exp.index), "every scored customer, and only those, has change events"
    counts = {}
    for cid, evs in by_customer.items():
        seen: dict[int, dict] = {}
        chain = []
        for ev in evs:
            if ev["version"] in seen:
                assert seen[ev["version"]] == ev, f"{cid}: version {ev['version']} re-published with other content"
                continue
            seen[ev["version"]] = ev
            chain.append(ev)
        assert [e["version"] for e in chain] == sorted(e["version"] for e in chain), f"{cid}: versions go back"
        assert chain[0]["previous_segment"] is None
        earlier: set[str | None] = {None}
        for a, b in zip(chain, chain[1:]):
            earlier.add(a["segment"])
            if strict:
                assert b["previous_segment"] == a["segment"], f"{cid}: broken chain"
            else:
                assert b["previous_segment"] in earlier, f"{cid}: previous_segment never published"
            if (a["segment"], a["r_score"], a["f_score"], a["m_score"], a["aov_score"]) == (
                    b["segment"], b["r_score"], b["f_score"], b["m_score"], b["aov_score"]):
                # The one allowed repeat: a worker died after delivering ``a`` and before writing it to Redis,
                # and its successor replayed the batch under newer boundaries (a new version), deciding
                # against the same Redis profile ``a`` was decided against.
                assert not strict and b["previous_segment"] == a["previous_segment"], (
                    f"{cid}: a change that changes nothing: {a} then {b}")
        last = chain[-1]
        row = exp.loc[cid]
        assert (last["segment"], last["r_score"], last["f_score"], last["m_score"]) == (
            row.segment, row.r_score, row.f_score, row.m_score), cid
        stored = dep.redis.hget(keys.customer_key(dep.prefix, cid), "version")
        assert int(stored) >= last["version"]
        counts[cid] = len(chain)
    return counts


def assert_store_is_the_changelog(dep: Deployment, worker: "Worker", bootstrap: str) -> None:
    """The stopped worker's RocksDB partitions hold exactly each key's last changelog record, and each
    records the changelog's last offset as how far it is in it (what a restart restores from)."""
    from kafka import KafkaConsumer, TopicPartition
    from rocksdict import AccessType, Rdict

    worker.stop()
    app_id = dep.env["RFM_APP_ID"]
    topic = f"{app_id}-customers-changelog"
    partitions = int(dep.env["RFM_PARTITIONS"])
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        last: dict[int, dict[bytes, bytes]] = defaultdict(dict)
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    last[tp.partition][r.key] = r.value
    finally:
        consumer.close()
    offset_key = b"__faust\0offset__"
    tables = worker.data_dir / app_id / "v1" / "tables"
    for p in range(partitions):
        db = Rdict(str(tables / f"customers-{p}.db"), access_type=AccessType.read_only())
        try:
            held = {k: v for k, v in db.items() if k != offset_key}
            persisted = db.get(offset_key)
        finally:
            db.close()
        assert held == last[p], f"partition {p}: {len(held)} keys stored, {len(last[p])} in the changelog"
        assert ends[TopicPartition(topic, p)] > 0 and persisted == str(ends[TopicPartition(topic, p)] - 1).encode(), (
            p, persisted, ends)


class Harness:
    """The checks and inputs of the worker tests, as one fixture (test modules do not import conftest)."""

    ONLINE_RETAIL = ONLINE_RETAIL
    FLO = FLO
    expected = staticmethod(expected)
    read_topic = staticmethod(read_topic)
    assert_redis_equals_batch = staticmethod(assert_redis_equals_batch)
    assert_changes_consistent = staticmethod(assert_changes_consistent)
    assert_store_is_the_changelog = staticmethod(assert_store_is_the_changelog)


@pytest.fixture
def harness() -> type[Harness]:
    return Harness


@dataclass
class DockerStage:
    """One FROM ... stage of a Dockerfile: its base, name and instructions (continuation lines joined)."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]]

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.instructions if i == instruction]


def parse_dockerfile(text: str) -> list[DockerStage]:
    """The stages of a Dockerfile; enough of the syntax for the project's own file (no parser directives)."""
    stages: list[DockerStage] = []
    logical = text.replace("\\\n", " ").splitlines()
    for line in (raw.strip() for raw in logical):
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), " ".join(rest.split())
        if instruction == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(DockerStage(words[0], name, []))
        else:
            assert stages, f"{instruction} before FROM"
            stages[-1].instructions.append((instruction, rest))
    return stages


@pytest.fixture(scope="session")
def dockerfile() -> list[DockerStage]:
    return parse_dockerfile((PROJECT_ROOT / "Dockerfile").read_text())


def _free_base(width: int) -> int:
    """A port p with p .. p+width-1 all free on 127.0.0.1 (the secured stack's listeners sit side by side)."""
    import random
    import socket

    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 40000)
        try:
            for port in range(base, base + width):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise AssertionError("no free ports")


@pytest.fixture(scope="session")
def secure_stack(tmp_path_factory) -> Iterator[dict[str, str]]:
    """A second stack of its own, started by `rfm-stream stack up --secure`: the client variables to use it.

    Its own ports and RFM_RUN_DIR, so the shared stack other tests use is never touched; stopped at the end.
    """
    from tests.conftest import IN_CI

    run = tmp_path_factory.mktemp("secure-stack")
    env = dict(os.environ, RFM_RUN_DIR=str(run), KAFKA_BOOTSTRAP=f"127.0.0.1:{_free_base(3)}",
               REDIS_URL=f"redis://127.0.0.1:{_free_base(2)}/0")
    for name in [n for n in env if n.startswith("KAFKA_S")]:
        env.pop(name)
    cli = [sys.executable, "-m", "stream_app.cli", "stack"]
    up = subprocess.run([*cli, "up", "--secure"], env=env, capture_output=True, text=True, timeout=300)
    if up.returncode != 0:
        message = f"`stack up --secure` failed ({up.returncode}): {up.stdout}{up.stderr}"
        subprocess.run([*cli, "down"], env=env, capture_output=True, timeout=120)
        if IN_CI:
            pytest.fail(message + " (CI=true: a failure, not a skip)", pytrace=False)
        pytest.skip(message)
    client = {}
    for line in (run / "secure" / "client.env").read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        client[name] = value.strip("'")
    client["RFM_RUN_DIR"] = str(run)
    client["STACK_UP_OUTPUT"] = up.stdout + up.stderr
    yield client
    subprocess.run([*cli, "down"], env=env, capture_output=True, timeout=120)


@pytest.fixture
def secure_deployment(secure_stack, unique_name, tmp_path) -> Iterator[Deployment]:
    """A deployment whose every client goes through SASL_SSL Kafka and password + TLS Redis."""
    from stream_app import connect
    from stream_app.settings import Settings

    env = dict(os.environ)
    env.update({k: v for k, v in secure_stack.items() if k != "STACK_UP_OUTPUT"})
    env.update(RFM_APP_ID=unique_name("app"), RFM_ORDERS_TOPIC=unique_name("orders"),
               RFM_CHANGES_TOPIC=unique_name("changes"), RFM_DEAD_LETTER_TOPIC=unique_name("dead"),
               RFM_AUDIENCE_TOPIC=unique_name("audience"), RFM_REDIS_PREFIX=unique_name("rfm"),
               RFM_RECOMPUTE_INTERVAL="30", RFM_PARTITIONS="4", PYTHONUNBUFFERED="1")
    client = connect.redis_client(Settings(redis_url=env["REDIS_URL"]))
    dep = Deployment(env, tmp_path, client)
    yield dep
    for w in dep.workers:
        w.stop()
    client.close()


#: headless, and nothing that reaches for the network (CI has none but the package registries)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")


@pytest.fixture(scope="module")
def chromium() -> list[str]:
    """Debian's headless Chromium as a command prefix; missing, it fails the test under CI=true."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        message = "chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message}; CI=true: a missing browser is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    return [found, *CHROMIUM_FLAGS]
