"""One and two workers on the real stack equal `rfm-stream batch` exactly: Online Retail, FLO, duplicates."""

from __future__ import annotations

import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def test_online_retail_one_worker_equals_batch(deployment, kafka_bootstrap, harness):
    dep, h = deployment, harness
    w = dep.worker("w1")
    out = dep.replay(h.ONLINE_RETAIL, "online-retail")
    assert "sent 22,190 events" in out
    dep.sync()
    exp = h.expected(h.ONLINE_RETAIL, "online-retail")
    assert len(exp) == 4339
    h.assert_redis_equals_batch(dep, exp)
    counts = h.assert_changes_consistent(dep, exp, kafka_bootstrap)
    assert sum(counts.values()) >= len(exp)
    profile = dep.cli("customer", "14646").stdout
    assert "champions" in profile and "frequency" in profile
    sizes = dep.cli("segments").stdout
    assert "4,339" in sizes
    h.assert_store_is_the_changelog(dep, w, kafka_bootstrap)


def test_flo_snapshots_equal_batch(deployment, kafka_bootstrap, harness):
    dep, h = deployment, harness
    dep.worker("w1")
    dep.replay(h.FLO, "flo")
    dep.sync()
    exp = h.expected(h.FLO, "flo")
    assert len(exp) == 19945
    h.assert_redis_equals_batch(dep, exp)
    h.assert_changes_consistent(dep, exp, kafka_bootstrap)


def test_two_workers_and_every_event_twice_equal_batch(deployment, kafka_bootstrap, harness):
    """Partitions split between two workers of one group; the whole file is sent twice."""
    dep, h = deployment, harness
    w1 = dep.worker("w1")
    w2 = dep.worker("w2")
    _wait_for_members(kafka_bootstrap, dep.env["RFM_APP_ID"], 2, dep)  # so the partitions are split before replay
    dep.replay(h.ONLINE_RETAIL, "online-retail")
    dep.replay(h.ONLINE_RETAIL, "online-retail")
    dep.sync()
    exp = h.expected(h.ONLINE_RETAIL, "online-retail")
    h.assert_redis_equals_batch(dep, exp)
    h.assert_changes_consistent(dep, exp, kafka_bootstrap, strict=False)  # a rebalance may replay
    # both workers took part, and the second copy was recognised as duplicates
    for w in (w1, w2):
        assert w.proc.poll() is None, w.tail()
    sent = 2 * 22_190  # both copies; a rebalance may make a worker count some of them twice

    def counted() -> list[dict[str, int]]:
        return [_counters(w.counters()) for w in (w1, w2)]

    # Counters are logged every 10 s, so the newest line may predate the second copy: wait for one after it.
    deadline = time.monotonic() + 40
    while sum(c.get("events", 0) for c in counted()) < sent and time.monotonic() < deadline:
        time.sleep(1)
    c1, c2 = counted()
    assert c1["events"] + c2["events"] >= sent, (w1.counters(), w2.counters(), dep.logs())
    assert c1["applied"] > 0 and c2["applied"] > 0, (c1, c2)
    assert c1["duplicates"] + c2["duplicates"] >= 22_190, (c1, c2)  # the whole second copy was recognised


def _counters(line: str) -> dict[str, int]:
    """The counts of a worker's periodic counters line ("events N applied N duplicates N ..."), {} before one."""
    words = line.split("] ", 2)[-1].split() if line else []
    return {k: int(v) for k, v in zip(words, words[1:]) if v.isdigit() and not k.isdigit()}


def test_memory_store_is_selectable_and_exact(deployment, kafka_bootstrap, harness):
    """RFM_STORE=memory://: the rescore filters the store's keys by Kafka's partitioner instead."""
    dep, h = deployment, harness
    dep.env["RFM_STORE"] = "memory://"
    w = dep.worker("w1")
    dep.replay(h.ONLINE_RETAIL, "online-retail")
    dep.sync()
    h.assert_redis_equals_batch(dep, h.expected(h.ONLINE_RETAIL, "online-retail"))
    assert "store memory://" in w.log.read_text()


def _wait_for_members(bootstrap: str, group: str, members: int, dep, timeout: float = 90) -> None:
    """Until the worker group is stable with this many members, each holding partitions."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + timeout
        while True:
            info = admin.describe_groups([group]).get(group) or {}
            held = [m for m in info.get("members") or []
                    if any(a.get("partitions") for a in _assigned(m) if a.get("topic") == dep.env["RFM_ORDERS_TOPIC"])]
            if info.get("group_state") == "Stable" and len(held) == members:
                return
            assert time.monotonic() < deadline, f"group {group} not stable with {members} members: {info}\n{dep.logs()}"
            time.sleep(0.5)
    finally:
        admin.close()


def _assigned(member: dict) -> list[dict]:
    """A member's assigned partitions from describe_groups (an empty string before the first assignment)."""
    assignment = member.get("member_assignment")
    return assignment.get("assigned_partitions") or [] if isinstance(assignment, dict) else []
