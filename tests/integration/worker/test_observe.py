"""A running worker seen from outside: /metrics, /readyz and the live dashboard, on the real stack.

The Online Retail replay is paced (--rate) so that "during the replay" lasts long enough to scrape and
to open the dashboard twice; the figures after `sync` must equal what `rfm-stream segments` prints.
The readiness test stops and restarts a private redis-server of its own (never the shared one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream_app.stack.private import free_port
from tests.integration.harness import ready_worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ARTIFACTS = Path(__file__).resolve().parents[3] / "out" / "test-artifacts"
WIDTH, HEIGHT = 1400, 1600


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(check, timeout: float, what: str, dep=None, every: float = 0.5):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as exc:  # the server is not up yet
            last = exc
        time.sleep(every)
    raise AssertionError(f"{what} not within {timeout:.0f}s (last: {last!r})\n{dep.logs() if dep else ''}")


def scrape(port: int) -> dict[str, dict[tuple, float]]:
    """Every sample of /metrics: name -> {sorted label items: value}."""
    status, body = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def events_total(samples: dict) -> int:
    return int(sum(samples.get("rfm_events_total", {}).values()))


def segment_gauges(samples: dict) -> dict[str, int]:
    return {dict(k)["segment"]: int(v) for k, v in samples.get("rfm_segment_customers", {}).items() if v}


def segments_cli(dep) -> dict[str, int]:
    """`rfm-stream segments` as {segment: customers}, empty segments left out."""
    sizes = {}
    for line in dep.cli("segments").stdout.splitlines()[1:]:
        m = re.match(r"(\S+)\s+([\d,]+)\s+[\d.]+%$", line.strip())
        if m and m.group(1) != "total" and int(m.group(2).replace(",", "")):
            sizes[m.group(1)] = int(m.group(2).replace(",", ""))
    assert sizes, "segments printed nothing"
    return sizes



def browse(chromium: list[str], tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    # the page inlines its first state and then fetches every 2 s; the budget lets one fetch land
    return subprocess.run([*chromium, f"--user-data-dir={profile}", "--virtual-time-budget=3000",
                           f"--window-size={WIDTH},{HEIGHT}", *args, url], capture_output=True, timeout=120)


def dom(chromium: list[str], tmp_path: Path, url: str) -> str:
    done = browse(chromium, tmp_path, url, "--dump-dom")
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode()


def screenshot(chromium: list[str], tmp_path: Path, url: str, name: str) -> Path:
    png = tmp_path / name
    done = browse(chromium, tmp_path, url, f"--screenshot={png}")
    assert png.exists(), done.stderr.decode(errors="replace")[-2000:]
    assert_not_blank(png)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, ARTIFACTS / name)
    return png


def assert_not_blank(png: Path) -> None:
    import numpy as np
    from PIL import Image

    with Image.open(png) as im:
        rgb = np.asarray(im.convert("RGB").resize((WIDTH // 4, HEIGHT // 4)))
    dark = float((rgb.mean(axis=2) < 200).mean())
    assert dark > 0.03, f"only {dark:.1%} of the screenshot is drawn on"
    colours = len(np.unique(rgb.reshape(-1, 3), axis=0))
    assert colours > 100, f"{colours} colours: a flat page, not charts"


def page_figures(html: str) -> dict:
    """What the dashboard shows: the header numbers and each segment bar's count."""
    def number(element_id: str) -> int:
        m = re.search(rf'id="{element_id}">([\d,]+)<', html)
        assert m, f"#{element_id} shows no number"
        return int(m.group(1).replace(",", ""))

    segments = {name: int(n) for name, n in re.findall(r'data-segment="([^"]+)" data-count="(\d+)"', html)}
    return {"events": number("events"), "customers": number("customers"), "segments": segments}


def test_metrics_and_dashboard_during_and_after_a_replay(deployment, harness, chromium, tmp_path):
    dep, h = deployment, harness
    _, port = ready_worker(dep, "w1", timeout=90)
    base = f"http://127.0.0.1:{port}"

    result: dict = {}
    replay = threading.Thread(target=lambda: result.update(
        out=dep.replay(h.ONLINE_RETAIL, "online-retail", "--rate", "400")))
    replay.start()
    try:
        # during: the counters move between scrapes, and the dashboard's numbers between two openings
        first = wait_for(lambda: events_total(scrape(port)) > 0 and scrape(port), 60, "first events", dep)
        html1 = dom(chromium, tmp_path, base + "/")
        screenshot(chromium, tmp_path, base + "/", "dashboard_during_replay.png")
        time.sleep(4)
        html2 = dom(chromium, tmp_path, base + "/")
        during = scrape(port)
        assert replay.is_alive(), "the replay ended before the checks made during it: slow it down"
    finally:
        replay.join(300)
    assert events_total(during) > events_total(first)
    for name in ("rfm_consumer_lag", "rfm_assigned_partitions", "rfm_retrying", "rfm_batch_seconds_count",
                 "rfm_event_to_redis_seconds_count", "rfm_boundaries_version"):
        assert name in during, f"{name} missing from /metrics"
    f1, f2 = page_figures(html1), page_figures(html2)
    assert f2["events"] > f1["events"], (f1, f2)
    assert f1["customers"] > 0 and f1["segments"]

    # after sync: every event sent is counted once by outcome, and the population equals `segments`
    sent = int(re.search(r"sent ([\d,]+) events", result["out"]).group(1).replace(",", ""))
    assert sent == 22190  # Online Retail's canonical events, as test_worker_exact checks
    customers = len(h.expected(h.ONLINE_RETAIL, "online-retail"))
    dep.sync()
    # the leader may still append a rescore trigger to each partition once the stream is quiet; lag drains to 0
    after = wait_for(lambda: (m := scrape(port)) and set(m["rfm_consumer_lag"].values()) == {0} and m, 30,
                     "rfm_consumer_lag 0 on every partition", dep)
    outcomes = {dict(k)["outcome"]: int(v) for k, v in after["rfm_events_total"].items()}
    # each record sent is counted once as applied, duplicate or dead letter; "replayed" counts records read
    # again (the worker re-reads a partition it sought back, a retried batch, a rebalance), so it comes on top
    assert outcomes["applied"] + outcomes["duplicate"] + outcomes["dead_letter"] == sent, outcomes
    assert events_total(after) == sent + outcomes["replayed"]
    assert outcomes["applied"] == sent and outcomes["dead_letter"] == 0  # Online Retail has no repeated event
    assert after["rfm_assigned_partitions"][()] == 4
    assert after["rfm_retrying"][()] == 0
    assert after["rfm_event_to_redis_seconds_count"][()] >= sent
    changes = sum(after["rfm_segment_changes_total"].values())
    assert changes >= customers  # every scored customer had at least its first change
    sizes = segments_cli(dep)
    assert sum(sizes.values()) == customers
    wait_for(lambda: segment_gauges(scrape(port)) == sizes, 20, "rfm_segment_customers == segments", dep)

    status = dep.cli("status").stdout
    for p in range(4):
        assert re.search(rf"^\s+{p}\s+[\d,]+\s+[\d,]+\s+0\s+v\d+$", status, re.M), status
    assert "total lag 0" in status and "partitions 0, 1, 2, 3" in status, status
    assert "every partition rescored to it" in status, status

    html = dom(chromium, tmp_path, base + "/")
    shown = page_figures(html)
    assert {k: v for k, v in shown["segments"].items() if v} == sizes
    assert shown["customers"] == customers and shown["events"] >= sent
    screenshot(chromium, tmp_path, base + "/", "dashboard_after_sync.png")

    # the same page from `rfm-stream dashboard`, which reads Redis only
    dash_port = free_port()
    proc = subprocess.Popen([*dep.command, "dashboard", "--port", str(dash_port)], env=dep.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        state = wait_for(lambda: json.loads(get(f"http://127.0.0.1:{dash_port}/api/state")[1]), 30,
                         "rfm-stream dashboard")
        assert {k: v for k, v in state["segments"].items() if v} == sizes
        assert sum(map(sum, state["rf_counts"])) == customers
        assert state["events"] >= sent and state["boundaries"]["version"] >= 1
        assert len(state["recent_changes"]) > 0
    finally:
        proc.terminate()
        proc.wait(10)


def start_redis(port: int, folder: Path) -> subprocess.Popen:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    wait_for(lambda: client.ping(), 20, f"private redis-server on {port}")
    client.close()
    return proc


def test_readyz_follows_a_private_redis_stopped_and_restarted(deployment, tmp_path):
    dep = deployment
    redis_port = free_port()
    server = start_redis(redis_port, tmp_path)
    try:
        dep.env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        w, web = ready_worker(dep, "w1", "--loglevel", "warning", timeout=90)
        readyz = f"http://127.0.0.1:{web}/readyz"
        assert get(f"http://127.0.0.1:{web}/healthz")[0] == 200

        server.terminate()
        server.wait(10)
        stopped = time.monotonic()
        wait_for(lambda: get(readyz)[0] == 503, 10, "/readyz 503 after Redis stopped", dep, every=0.2)
        assert time.monotonic() - stopped <= 10
        status, body = get(readyz)
        assert status == 503 and any("Redis" in r for r in json.loads(body)["reasons"]), body
        assert get(f"http://127.0.0.1:{web}/healthz")[0] == 200  # alive, just not ready

        server = start_redis(redis_port, tmp_path)
        wait_for(lambda: get(readyz)[0] == 200, 30, "/readyz 200 after Redis restarted", dep, every=0.2)
        assert w.proc.poll() is None
        # --loglevel warning: the routine INFO lines (counters every 10 s, start-up) are not written
        time.sleep(max(0.0, 11 - (time.monotonic() - stopped)))
        text = w.log.read_text()
        assert "] events " not in text and "[INFO]" not in text, w.tail()
        assert "[WARNING]" in text or "[ERROR]" in text  # Redis going away is a problem, and says so
    finally:
        server.terminate()
        server.wait(10)


def test_json_logs_carry_the_counters_and_sync_shows_progress_on_a_terminal(deployment, harness):
    import pty

    dep, h = deployment, harness
    dep.env["RFM_LOG_FORMAT"] = "json"
    w = dep.worker("w1", "--loglevel", "info")
    dep.replay(h.FLO, "flo", "--limit", "2000")

    leader, follower = pty.openpty()  # sync's stdout is a terminal: it shows progress on stderr
    try:
        done = subprocess.run([*dep.command, "sync", "--timeout", "150"], env=dep.env, stdout=follower,
                              stderr=subprocess.PIPE, timeout=200)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 0, done.stderr.decode()
    assert "\rsync: " in done.stderr.decode() or "\r\x1b[Ksync: " in done.stderr.decode()
    plain = dep.cli("sync", "--timeout", "60")  # not a terminal: no progress line
    assert "sync:" not in plain.stderr and "in sync" in plain.stdout

    def counters_line():
        docs = [json.loads(line) for line in w.log.read_text().splitlines() if line.strip()]
        return next((d for d in reversed(docs) if d.get("events") == 2000), None)

    doc = wait_for(counters_line, 30, "a JSON counters line with every event", dep)
    assert doc["level"] == "INFO" and doc["logger"] == "rfm_stream.worker"
    assert doc["applied"] + doc["duplicates"] + doc["dead"] == 2000 and doc["boundaries_version"] >= 1
