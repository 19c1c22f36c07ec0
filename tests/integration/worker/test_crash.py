"""kill -9 in the middle of a replay: after a restart (or a takeover) the result is still exactly batch."""

from __future__ import annotations

import shutil

import pytest

from tests.integration.harness import replay_in_background, wait_progress

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]


@pytest.mark.parametrize("data_folder", ["kept", "deleted"])
def test_kill9_mid_replay_then_restart_is_exact(deployment, kafka_bootstrap, harness, data_folder):
    dep, h = deployment, harness
    w = dep.worker("w1")
    replay = replay_in_background(dep, h.ONLINE_RETAIL, rate=3000)
    wait_progress(dep, 3000)
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
    h.assert_changes_consistent(dep, exp, kafka_bootstrap, strict=True)


def test_two_workers_one_killed_mid_replay_is_exact(deployment, kafka_bootstrap, harness):
    dep, h = deployment, harness
    w1 = dep.worker("w1")
    w2 = dep.worker("w2")
    replay = replay_in_background(dep, h.ONLINE_RETAIL, rate=2500)
    wait_progress(dep, 4000)
    w2.kill9()
    out, _ = replay.communicate(timeout=120)
    assert replay.returncode == 0, out
    dep.sync(timeout=180)
    exp = h.expected(h.ONLINE_RETAIL, "online-retail")
    h.assert_redis_equals_batch(dep, exp)
    h.assert_changes_consistent(dep, exp, kafka_bootstrap, strict=True)
    assert w1.proc.poll() is None, w1.tail()
