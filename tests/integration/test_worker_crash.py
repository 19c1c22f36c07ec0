"""kill -9 in the middle of a replay: after a restart (or a takeover) the result is still exactly batch."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]


def _replay_in_background(dep, path: str, rate: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "stream_app.cli", "replay", path, "--format", "online-retail",
                             "--quiet", "--rate", str(rate)], env=dep.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_progress(dep, at_least: int, timeout: float = 90) -> int:
    """Until the worker has written at least this many rank-index changes to Redis (it is mid-stream)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = int(dep.redis.get(f"{dep.prefix}:index_changes") or 0)
        if n >= at_least:
            return n
        time.sleep(0.1)
    raise AssertionError(f"the worker made no progress:\n{dep.logs()}")


@pytest.mark.parametrize("data_folder", ["kept", "deleted"])
def test_kill9_mid_replay_then_restart_is_exact(deployment, kafka_bootstrap, harness, data_folder):
    dep, h = deployment, harness
    w = dep.worker("w1")
    replay = _replay_in_background(dep, h.ONLINE_RETAIL, rate=3000)
    _wait_progress(dep, 3000)
    w.kill9()
    before = int(dep.redis.get(f"{dep.prefix}:index_changes") or 0)
    if data_folder == "deleted":
        shutil.rmtree(w.data_dir)  # recovery from the changelog alone
    dep.worker("w1")  # same name: same data folder
    out, _ = replay.communicate(timeout=120)
    assert replay.returncode == 0, out
    dep.sync()
    exp = h.expected(h.ONLINE_RETAIL, "online-retail")
    assert before < 16000, "the kill came after the worker had finished: not a mid-stream crash"
    h.assert_redis_equals_batch(dep, exp)
    h.assert_changes_consistent(dep, exp, kafka_bootstrap, strict=False)


def test_two_workers_one_killed_mid_replay_is_exact(deployment, kafka_bootstrap, harness):
    dep, h = deployment, harness
    w1 = dep.worker("w1")
    w2 = dep.worker("w2")
    replay = _replay_in_background(dep, h.ONLINE_RETAIL, rate=2500)
    _wait_progress(dep, 4000)
    w2.kill9()
    out, _ = replay.communicate(timeout=120)
    assert replay.returncode == 0, out
    dep.sync(timeout=180)
    exp = h.expected(h.ONLINE_RETAIL, "online-retail")
    h.assert_redis_equals_batch(dep, exp)
    h.assert_changes_consistent(dep, exp, kafka_bootstrap, strict=False)
    assert w1.proc.poll() is None, w1.tail()
