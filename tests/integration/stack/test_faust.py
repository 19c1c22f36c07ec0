"""A Faust worker on the real broker: a changelog-backed Table survives a restart exactly, in both guarantees.

The worker runs in a subprocess (tests/integration/faust_table_app.py), so "a new worker" is a new process
with an empty memory store that can only know the table through the changelog topic.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka import KafkaProducer

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[1] / "faust_table_app.py"
PARTITIONS = 2


class Worker:
    """One worker process and the report file it keeps up to date."""

    def __init__(self, tmp: Path, app_id: str, bootstrap: str, topic: str, guarantee: str, n: int) -> None:
        self.report = tmp / f"report-{n}.json"
        self.log = tmp / f"worker-{n}.log"
        argv = [sys.executable, str(APP), app_id, bootstrap, topic, str(PARTITIONS), guarantee, str(self.report)]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(argv, cwd=tmp, stdout=out, stderr=subprocess.STDOUT)

    def read(self) -> dict | None:
        try:
            return json.loads(self.report.read_text())
        except (OSError, ValueError):
            return None

    def wait_for(self, processed: int, timeout: float = 60.0) -> dict:
        """The first report with this many events processed; fails with the worker's log otherwise."""
        deadline = time.monotonic() + timeout
        report = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            report = self.read()
            if report and report["processed"] >= processed:
                time.sleep(0.5)  # anything still in flight would show up now
                report = self.read()
                break
            time.sleep(0.1)
        assert report is not None and report["processed"] >= processed, f"worker stalled at {report}\n{self.tail()}"
        return report

    def stop(self) -> None:
        """SIGTERM: Faust commits offsets and flushes the changelog before it exits."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"worker ignored SIGTERM for 30s\n{self.tail()}") from None

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def start(*args) -> Worker:
        worker = Worker(tmp_path, *args, n=len(started))
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()


def produce(bootstrap: str, topic: str, events: list[tuple[str, int]], expected: Counter) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for key, value in events:
        producer.send(topic, key=key.encode(), value=str(value).encode())
        expected[key] += value
    producer.flush()
    producer.close()


def batch(n: int, seed: int) -> list[tuple[str, int]]:
    return [(f"c{(i * 7 + seed) % 53}", (i * 31 + seed) % 97 + 1) for i in range(n)]


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_table_recovers_exactly_from_its_changelog(guarantee, kafka_bootstrap, topic, unique_name, workers):
    source = topic(partitions=PARTITIONS)
    app_id = unique_name("app")
    expected: Counter = Counter()

    produce(kafka_bootstrap, source, batch(1500, seed=1), expected)
    first = workers(app_id, kafka_bootstrap, source, guarantee)
    report = first.wait_for(processed=1500)
    assert report == {"processed": 1500, "table": dict(expected)}, first.tail()
    first.stop()

    # a new worker (empty memory store) rebuilds the table from the changelog and reprocesses nothing
    second = workers(app_id, kafka_bootstrap, source, guarantee)
    report = second.wait_for(processed=0)
    assert report == {"processed": 0, "table": dict(expected)}, second.tail()

    # and carries on from the recovered state
    produce(kafka_bootstrap, source, batch(500, seed=2), expected)
    report = second.wait_for(processed=500)
    assert report == {"processed": 500, "table": dict(expected)}, second.tail()
    second.stop()
