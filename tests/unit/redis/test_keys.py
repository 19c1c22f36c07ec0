"""The key names are the contract services read (docs/streaming.md): pinned here, literally."""

from __future__ import annotations

from stream_app.redis import keys


def test_every_key_name_is_the_documented_one():
    assert keys.customer_key("rfm", "14646") == "rfm:customer:14646"
    assert keys.segment_key("rfm", "champions") == "rfm:segment:champions"
    assert keys.audience_key("rfm", "high_value") == "rfm:audience:high_value"
    assert keys.rank_keys("rfm") == ["rfm:rank:r", "rfm:rank:f", "rfm:rank:m", "rfm:rank:aov"]
    assert keys.index_changes_key("rfm") == "rfm:index_changes"
    assert keys.pending_key("rfm", "14646") == "rfm:pending:14646"
    assert keys.boundaries_key("rfm") == "rfm:boundaries"
    assert keys.rescored_key("rfm") == "rfm:rescored"
    assert keys.epoch_key("rfm") == "rfm:epoch"
    assert keys.bootstrap_key("rfm") == "rfm:bootstrap"
    assert keys.worker_key("rfm", "host:12") == "rfm:monitor:worker:host:12"
    assert keys.recent_changes_key("rfm") == "rfm:recent_changes"


def test_a_head_completed_by_a_name_is_the_key():
    """The Lua scripts build per-customer keys as head .. name."""
    assert keys.customer_head("p") + "c1" == keys.customer_key("p", "c1")
    assert keys.segment_head("p") + "loyal" == keys.segment_key("p", "loyal")
    assert keys.audience_head("p") + "vip" == keys.audience_key("p", "vip")


def test_scan_patterns_escape_glob_characters():
    assert keys.customer_pattern("rfm") == "rfm:customer:*"
    assert keys.customer_pattern("a*b[1]?") == r"a\*b\[1\]\?:customer:*"
    assert keys.segment_pattern("a\\b") == r"a\\b:segment:*"
    assert keys.worker_pattern("x?") == r"x\?:monitor:worker:*"
    assert keys.any_pattern("rfm") == "rfm:*"
