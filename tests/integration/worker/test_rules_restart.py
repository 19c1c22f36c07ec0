"""A worker restarted with the same audience rules does not take them for new rules.

The rules' fingerprint is stored beside the published boundaries; a restart
whose fingerprint differs makes the leader publish a new version and every
partition rescore every customer. Each worker here runs with its own
PYTHONHASHSEED, as any two processes do, so a fingerprint that followed the
order of a set (its repr) would differ between them.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from stream_app.audiences import rules as audience_rules

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]
EVENTS = Path(__file__).resolve().parents[2] / "fixtures" / "events_valid.jsonl"
LEADER_TICKS = 12  # seconds the restarted worker runs after catching up: its leader checks the rules at once


def test_a_restart_with_the_same_rules_keeps_the_boundaries_version(deployment):
    dep = deployment
    r, p = dep.redis, dep.prefix
    dep.env["PYTHONHASHSEED"] = "1"
    dep.worker("w1")
    dep.replay(str(EVENTS), "events")
    dep.sync()
    before = orjson.loads(r.get(f"{p}:boundaries"))
    assert before["audiences_fp"] == audience_rules.load().fingerprint
    for w in dep.workers:
        w.stop()

    dep.env["PYTHONHASHSEED"] = "2"
    dep.worker("w2")
    dep.sync()
    time.sleep(LEADER_TICKS)
    after = orjson.loads(r.get(f"{p}:boundaries"))
    assert after["audiences_fp"] == before["audiences_fp"]
    assert after["version"] == before["version"], f"the restart published a new version\n{dep.logs()}"
