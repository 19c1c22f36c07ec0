"""Server faults mid-replay, on a private Kafka + Redis: each run still ends exactly equal to batch.

Redis flushed or restarted empty (the worker rewrites every profile, set and rank entry from its table, not
from Kafka), Redis unreachable for a minute (batches wait and retry, the log says why), the broker killed
with -9 and started again. The servers of this module are its own (the ``private_stack`` fixture): the
shared stack is never paused, flushed or killed.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.integration.harness import ready_worker, replay_in_background, wait_progress

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]

SENT = 22_190  # Online Retail's events (test_worker_exact checks the figure)


@pytest.fixture(scope="module")
def kafka_bootstrap(private_stack) -> str:
    """The deployment fixture's broker: this module's own."""
    return private_stack.settings.kafka_bootstrap


@pytest.fixture(scope="module")
def redis_url(private_stack) -> str:
    return private_stack.settings.redis_url


@pytest.fixture(scope="module")
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    yield client
    client.close()


def _finish(dep, replay: subprocess.Popen) -> None:
    out, _ = replay.communicate(timeout=180)
    assert replay.returncode == 0, out
    assert f"sent {SENT:,} events" in out, out


def _assert_exact(dep, h, kafka_bootstrap, worker, strict: bool = True) -> None:
    dep.sync(timeout=240)
    exp = h.expected(h.ONLINE_RETAIL, "online-retail")
    h.assert_redis_equals_batch(dep, exp)
    h.assert_changes_consistent(dep, exp, kafka_bootstrap, strict=strict)
    assert worker.proc.poll() is None, worker.tail()


@pytest.mark.parametrize("how", ["flushdb", "restart-empty"])
def test_redis_loses_its_data_mid_replay(deployment, kafka_bootstrap, harness, private_stack, how):
    dep, h = deployment, harness
    w, _ = ready_worker(dep, "w1")
    replay = replay_in_background(dep, h.ONLINE_RETAIL, rate=1500)
    wait_progress(dep, 3000)
    scored_before = dep.redis.zcard(f"{dep.prefix}:rank:r")
    if how == "flushdb":
        dep.redis.flushdb()
    else:
        private_stack.kill9(private_stack.redis_pid())
        time.sleep(2)
        private_stack.start_redis()  # started without persistence: empty
    assert replay.poll() is None, "the replay had ended before the loss: not mid-replay"
    _finish(dep, replay)
    _assert_exact(dep, h, kafka_bootstrap, w, strict=True)
    log = w.log.read_text()
    # every customer scored before the loss came back at once from the worker's table, not one by one from
    # Kafka (the worker has no path that reads the topic again for it)
    rewritten = [int(n) for n in re.findall(r"Redis lost the profiles of partitions .*: (\d+) rewritten from the "
                                            r"worker's state", log)]
    assert sum(rewritten) >= scored_before > 0, (rewritten, scored_before, w.tail())
    if how == "restart-empty":  # a restart is also an outage: the batches in flight waited and said why
        assert f"Redis at {redis_host_port(dep)} unreachable" in log, w.tail()


def redis_host_port(dep) -> str:
    return dep.env["REDIS_URL"].split("//", 1)[1].split("/", 1)[0]


def test_redis_unreachable_for_a_minute_mid_replay(deployment, kafka_bootstrap, harness, private_stack):
    """SIGSTOP: Redis keeps its data and its connections but answers nothing, like a network partition."""
    dep, h = deployment, harness
    w, _ = ready_worker(dep, "w1")
    replay = replay_in_background(dep, h.ONLINE_RETAIL, rate=1500)
    wait_progress(dep, 3000)
    pid = private_stack.redis_pid()
    private_stack.pause(pid)
    paused_at = time.monotonic()
    assert replay.poll() is None, "the replay had ended before the outage: not mid-replay"
    try:
        time.sleep(60)
        assert w.proc.poll() is None, w.tail()
        during = w.log.read_text().splitlines()
    finally:
        private_stack.resume(pid)
    outage = time.monotonic() - paused_at
    _finish(dep, replay)
    _assert_exact(dep, h, kafka_bootstrap, w, strict=True)
    said = [ln for ln in during if f"Redis at {redis_host_port(dep)} unreachable" in ln]
    assert said, "\n".join(during[-40:])
    assert all("WARNING" in ln for ln in said)
    # one line per retry of the batch (a back-off up to 30 s) and per 30 s of the leader: not one per second
    assert len(said) <= outage / 5, f"{len(said)} lines in {outage:.0f}s:\n" + "\n".join(said)
    assert not any("Traceback" in ln for ln in during), "\n".join(during[-40:])


def test_broker_killed_mid_replay(deployment, kafka_bootstrap, harness, private_stack):
    """kill -9 of the only broker while the worker is mid-stream, and the broker started again 5 s later."""
    dep, h = deployment, harness
    w, _ = ready_worker(dep, "w1")
    replay = replay_in_background(dep, h.ONLINE_RETAIL, rate=1500)
    wait_progress(dep, 3000)
    assert replay.poll() is None, "the replay had ended before the kill: not mid-replay"
    private_stack.kill9(private_stack.kafka_pid())
    down_at = time.monotonic()
    time.sleep(5)
    private_stack.start_kafka()
    outage = time.monotonic() - down_at
    out, _ = replay.communicate(timeout=240)
    if replay.returncode != 0:  # the producer gave up while the broker was away: send the whole file again
        dep.replay(h.ONLINE_RETAIL, "online-retail")  # (a second copy of an event changes nothing)
    _assert_exact(dep, h, kafka_bootstrap, w, strict=True)
    # the Kafka client logs each failed connection attempt (thousands of lines); one of a kind per 30 s shows
    errors = [ln for ln in w.log.read_text(errors="replace").splitlines() if "[ERROR]" in ln]
    assert len(errors) <= 10 * (2 + outage / 30), f"{len(errors)} error lines for a {outage:.0f}s outage"
