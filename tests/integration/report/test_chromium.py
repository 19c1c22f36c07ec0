"""The report as a person sees it: opened in headless Chromium (Debian `chromium`), screenshot and page text.

With CI=true a missing chromium fails the test: a report nobody has rendered is not tested.
The screenshot is written under the test's tmp_path and copied to out/test-artifacts/ for a person to look at.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from stream_app import batch
from stream_app.adapters import online_retail
from stream_app.cli import main

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DATA = PROJECT_ROOT.parent / "shared" / "data"
RETAIL = DATA / "online_retail.csv.gz"
ARTIFACTS = PROJECT_ROOT / "out" / "test-artifacts"
WIDTH, HEIGHT = 1400, 3000



def run_chromium(chromium: list[str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([*chromium, f"--user-data-dir={profile}", *args], capture_output=True, timeout=120)


def screenshot(chromium: list[str], page: Path, png: Path, tmp_path: Path) -> None:
    done = run_chromium(chromium, tmp_path, f"--screenshot={png}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri())
    assert png.exists(), done.stderr.decode(errors="replace")[-2000:]


def dom_text(chromium: list[str], page: Path, tmp_path: Path) -> str:
    done = run_chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode()


def assert_not_blank(png: Path) -> None:
    import numpy as np
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (WIDTH, HEIGHT)
        rgb = np.asarray(im.convert("RGB").resize((WIDTH // 4, HEIGHT // 4)))
    dark = float((rgb.mean(axis=2) < 200).mean())
    assert dark > 0.03, f"only {dark:.1%} of the screenshot is drawn on"
    colours = len(np.unique(rgb.reshape(-1, 3), axis=0))
    assert colours > 200, f"{colours} colours: a flat page, not charts"


def top_spender(dom: str) -> list[str]:
    """The first row of the top-10 table, as cell texts."""
    section = dom.split("Top 10 customers by monetary", 1)[1]
    first_row = re.search(r"<tbody><tr>(.*?)</tr>", section).group(1)
    return re.findall(r"<td[^>]*>(.*?)</td>", first_row)


def test_online_retail_report_in_chromium(chromium, tmp_path):
    page = tmp_path / "report.html"
    assert main(["report", str(RETAIL), "--format", "online-retail", "--out", str(page)]) == 0
    png = tmp_path / "report_online_retail.png"
    screenshot(chromium, page, png, tmp_path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, ARTIFACTS / png.name)
    assert_not_blank(png)
    dom = dom_text(chromium, page, tmp_path)
    assert top_spender(dom)[:5] == ["1", "14646", "74", "279,489.02", "3,776.88"]
    for title in ("Segments", "Recency by frequency", "RFM-sum distribution and value bands",
                  "Frequency against monetary and AOV", "Top 10 customers by monetary", "Audiences"):
        assert f"<h2>{title}</h2>" in dom


@pytest.mark.integration
def test_report_from_redis_profile_hashes(chromium, redis_client, redis_url, redis_prefix, tmp_path, monkeypatch):
    """Profiles written to Redis in the worker's hash contract are read back with SCAN + HGETALL and drawn."""
    from tests.unit.report.test_html import as_hash

    scored = batch.score(online_retail.read(str(RETAIL)))
    prefix = redis_prefix.rstrip(":")
    pipe = redis_client.pipeline(transaction=False)
    for row in scored.to_dict("records"):
        pipe.hset(f"{prefix}:customer:{row['customer_id']}", mapping=as_hash(row))
    pipe.set(f"{prefix}:customer-count", len(scored))  # a key of another shape next to the hashes: ignored
    pipe.execute()
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("RFM_REDIS_PREFIX", prefix)

    page = tmp_path / "live.html"
    assert main(["report", "--from-redis", "--out", str(page)]) == 0
    text = page.read_text()
    assert "<b>4,339</b><span>customers</span>" in text
    png = tmp_path / "report_redis.png"
    screenshot(chromium, page, png, tmp_path)
    assert_not_blank(png)
    assert top_spender(dom_text(chromium, page, tmp_path))[:5] == ["1", "14646", "74", "279,489.02", "3,776.88"]
