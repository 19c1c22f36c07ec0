"""Audiences on the real stack: after replaying Online Retail and FLO into one deployment and `sync`,
every `{prefix}:audience:*` set holds exactly the batch membership, enters minus exits per audience equal
its size, and the report drawn from Redis shows the live state."""

from __future__ import annotations

from collections import Counter, defaultdict

import jsonschema
import orjson
import pandas as pd
import pytest
from tests.integration.report.test_chromium import assert_not_blank, dom_text, screenshot, top_spender

from stream_app import batch
from stream_app.adapters import registry
from stream_app.adapters.frame import EventFrame
from stream_app.audiences import rules as audience_rules
from stream_app.core.validate import load_schema

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def combined_batch(harness) -> pd.DataFrame:
    """`batch` over both files at once: the population the deployment holds."""
    frames = [registry.read(harness.ONLINE_RETAIL, "online-retail"), registry.read(harness.FLO, "flo")]
    both = EventFrame(pd.concat([f.df for f in frames], ignore_index=True))
    return batch.score(both).set_index("customer_id")


def test_audience_sets_and_events_equal_batch_then_report_from_redis(deployment, kafka_bootstrap, harness,
                                                                     chromium, tmp_path):
    dep, h = deployment, harness
    dep.worker("w1")
    dep.replay(h.ONLINE_RETAIL, "online-retail")
    dep.replay(h.FLO, "flo")
    dep.sync()
    exp = combined_batch(h)
    assert len(exp) == 4339 + 19945
    h.assert_redis_equals_batch(dep, exp)

    names = audience_rules.load().names
    members: dict[str, set[str]] = defaultdict(set)
    for cid, joined in exp["audiences"].items():
        for name in filter(None, joined.split(";")):
            members[name].add(cid)
    r, p = dep.redis, dep.prefix
    sizes = {}
    for name in names:
        got = {m.decode() for m in r.smembers(f"{p}:audience:{name}")}
        assert got == members[name], f"{name}: {len(got - members[name])} extra, {len(members[name] - got)} missing"
        sizes[name] = len(got)
    assert sizes["flo_womens_new_brand"] > 0 and sizes["vip_high_aov"] > 0, sizes
    # the profile hash names the same audiences
    pipe = r.pipeline(transaction=False)
    sample = list(exp.index[::37])
    for cid in sample:
        pipe.hget(f"{p}:customer:{cid}", "audiences")
    assert [v.decode() for v in pipe.execute()] == [exp.loc[cid, "audiences"] for cid in sample]

    # enters minus exits per audience, repeats (same customer, audience, version) dropped, equal the sizes
    schema = jsonschema.Draft202012Validator(load_schema("audience_event.schema.json"))
    seen = set()
    net: Counter = Counter()
    last_action: dict[tuple[str, str], str] = {}
    for key, value in h.read_topic(kafka_bootstrap, dep.env["RFM_AUDIENCE_TOPIC"]):
        ev = orjson.loads(value)
        schema.validate(ev)
        assert key == ev["customer_id"].encode()
        ident = (ev["customer_id"], ev["audience"], ev["version"])
        if ident in seen:
            continue
        seen.add(ident)
        pair = (ev["customer_id"], ev["audience"])
        assert last_action.get(pair, "exit") != ev["action"], f"{pair}: two {ev['action']}s in a row"
        last_action[pair] = ev["action"]
        net[ev["audience"]] += 1 if ev["action"] == "enter" else -1
    assert {n: net[n] for n in names} == sizes

    # the report of the live state, drawn from Redis, in a real browser
    page = tmp_path / "live.html"
    dep.cli("report", "--from-redis", "--out", str(page))
    png = tmp_path / "report_from_redis.png"
    screenshot(chromium, page, png, tmp_path)
    assert_not_blank(png)
    assert top_spender(dom_text(chromium, page, tmp_path))[:3] == ["1", "14646", "74"]

    # a new rule file and a restart bring every membership up to date
    rules_file = tmp_path / "audiences.yaml"
    rules_file.write_text("version: 1\naudiences:\n  - name: high_value\n    all:\n"
                          "      - {field: value_band, op: eq, value: high}\n")
    before = orjson.loads(r.get(f"{p}:boundaries"))
    for w in dep.workers:
        w.stop()
    dep.env["RFM_AUDIENCES"] = str(rules_file)
    dep.worker("w2")
    import time

    deadline = time.monotonic() + 120
    while orjson.loads(r.get(f"{p}:boundaries")).get("audiences_fp") == before.get("audiences_fp"):
        assert time.monotonic() < deadline, f"the restarted worker did not publish its rules\n{dep.logs()}"
        time.sleep(0.5)
    dep.sync()
    high = {m.decode() for m in r.smembers(f"{p}:audience:high_value")}
    assert high == set(exp.index[exp["value_band"] == "high"])
    for name in names:
        assert r.scard(f"{p}:audience:{name}") == 0, f"{name} should be empty once the rules drop it"
    assert r.hget(f"{p}:customer:14646", "audiences") == b"high_value"
