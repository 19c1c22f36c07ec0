"""What users run is the installed package: the wheel, installed outside the checkout, equals the checkout.

The wheel is built the way the Dockerfile builds it (the files its build stage copies, `pip wheel --no-deps`)
and installed into a fresh venv in a temporary folder. The venv sees the interpreter's site-packages for
the dependencies (installing pandas, pyarrow, Faust... again would take minutes and the network); the
package itself comes from the wheel alone, which the tests assert, and `pip check` proves that every
dependency the wheel declares is satisfied. That each import is declared is tests/unit/test_packaging.py's
job. Every command runs from a folder outside the checkout, without PYTHONPATH, with a HOME of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from stream_app.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
ONLINE_RETAIL = ROOT.parent / "shared" / "data" / "online_retail.csv.gz"
#: the streaming part replays the first events of Online Retail: every code path, a fraction of the time
STREAM_EVENTS = 6000


@dataclass
class Installed:
    wheel: Path
    venv: Path
    home: Path  # HOME of every command: the XDG default folders land here
    elsewhere: Path  # the working folder of every command: outside the checkout
    durations: dict[str, float]

    @property
    def rfm_stream(self) -> str:
        return str(self.venv / "bin" / "rfm-stream")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def env(self, **extra: str) -> dict[str, str]:
        """The test's environment bar anything that would point back at the checkout or its settings."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP") and not k.startswith(("RFM_", "XDG_"))}
        return {**env, "HOME": str(self.home), "PYTHONNOUSERSITE": "1", **extra}

    def run(self, *argv: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), env=self.env(**extra), cwd=self.elsewhere, capture_output=True, text=True,
                              timeout=timeout)


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def _build_context(dockerfile, target: Path) -> None:
    """Copy what the Dockerfile's build stage copies (and nothing else) into target."""
    (build,) = [stage for stage in dockerfile if stage.name == "build"]
    for args in build.args("COPY"):
        *sources, dest = args.split()
        for source in sources:
            into = target / dest / Path(source).name if dest.endswith("/") or len(sources) > 1 else target / dest
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, into, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, into)


@pytest.fixture(scope="module")
def installed(tmp_path_factory, dockerfile) -> Installed:
    base = tmp_path_factory.mktemp("installed")
    assert not base.resolve().is_relative_to(ROOT)
    durations: dict[str, float] = {}
    started = time.monotonic()
    src = base / "src"
    _build_context(dockerfile, src)
    # build isolation, as in the image: setuptools and wheel from PyPI (or pip's cache)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(base / "dist"), "."],
         cwd=src, timeout=300)
    (wheel,) = (base / "dist").glob("rfm_stream-*.whl")
    durations["build"] = time.monotonic() - started

    started = time.monotonic()
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    # --force-reinstall: the interpreter's site-packages may hold an editable rfm-stream, which must not count
    _run([*pip, "install", "--quiet", "--no-deps", "--force-reinstall", str(wheel)], cwd=base, timeout=300)
    _run([*pip, "check"], cwd=base, timeout=120)
    durations["install"] = time.monotonic() - started
    home, elsewhere = base / "home", base / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    return Installed(wheel, venv, home, elsewhere, durations)


def test_the_wheel_ships_the_top_level_schemas_and_the_config(installed):
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
        schemas = sorted((ROOT / "schemas").glob("*.json"))
        assert len(schemas) >= 5
        shipped = {n.rsplit("/", 1)[1] for n in names if n.startswith("stream_app/schemas/") and n.endswith(".json")}
        assert shipped == {p.name for p in schemas}
        for path in schemas:
            assert wheel.read(f"stream_app/schemas/{path.name}") == path.read_bytes(), path.name
        for path in sorted((ROOT / "stream_app" / "config").iterdir()):
            assert wheel.read(f"stream_app/config/{path.name}") == path.read_bytes(), path.name
        page = ROOT / "stream_app" / "monitor" / "dashboard.html"  # the live dashboard, read as package data
        assert wheel.read("stream_app/monitor/dashboard.html") == page.read_bytes()
    print(f"\nwheel built in {installed.durations['build']:.1f}s, venv + install + pip check in "
          f"{installed.durations['install']:.1f}s")


def test_the_venv_runs_its_own_package_with_defaults_outside_it(installed):
    code = ("import stream_app, stream_app.settings as s\n"
            "print(stream_app.__file__)\n"
            "for n in ('RFM_DATA_DIR', 'RFM_RUN_DIR', 'RFM_CACHE_DIR'): print(s.ENV[n][0])")
    out = installed.run(installed.python, "-c", code)
    assert out.returncode == 0, out.stderr
    package, *folders = out.stdout.split()
    assert Path(package).is_relative_to(installed.venv), package
    for folder in folders:
        assert Path(folder).is_relative_to(installed.home) and not Path(folder).is_relative_to(installed.venv), folder
    version = installed.run(installed.rfm_stream, "--version")
    assert version.returncode == 0 and "0.1.0" in version.stdout, version.stderr


def test_installed_batch_on_online_retail_equals_the_checkout(installed, tmp_path):
    out = installed.elsewhere / "batch.csv"
    started = time.monotonic()
    proc = installed.run(installed.rfm_stream, "batch", str(ONLINE_RETAIL), "--format", "online-retail",
                         "--out", out.name)
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    checkout = tmp_path / "checkout.csv"
    assert main(["batch", str(ONLINE_RETAIL), "--format", "online-retail", "--out", str(checkout)]) == 0
    got = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("customer_id")
    want = pd.read_csv(checkout, dtype=str, keep_default_na=False).set_index("customer_id")
    assert len(want) == 4339
    assert list(got.columns) == list(want.columns)
    assert list(got.index) == list(want.index)
    differ = got.ne(want).any(axis=1)
    assert not differ.any(), f"{differ.sum()} customers differ, e.g.\n{got[differ].head()}\n{want[differ].head()}"
    assert out.read_bytes() == checkout.read_bytes()
    print(f"\ninstalled batch on Online Retail: {elapsed:.1f}s")


def test_installed_worker_replay_and_sync_equal_batch(installed, deployment, harness):
    """A worker, replay, sync, customer and segments, all from the venv, on the real stack."""
    events = installed.elsewhere / "online_retail.jsonl"
    proc = installed.run(installed.rfm_stream, "events", str(ONLINE_RETAIL), "--format", "online-retail",
                         "--out", events.name)
    assert proc.returncode == 0, proc.stderr
    first = installed.elsewhere / "first.jsonl"
    with events.open() as src, first.open("w") as dst:
        for _, line in zip(range(STREAM_EVENTS), src):
            dst.write(line)

    dep = deployment
    dep.env = installed.env(**{k: v for k, v in dep.env.items() if k.startswith("RFM_")},
                            KAFKA_BOOTSTRAP=dep.env["KAFKA_BOOTSTRAP"], REDIS_URL=dep.env["REDIS_URL"], PYTHONUNBUFFERED="1")
    dep.command, dep.cwd = [installed.rfm_stream], installed.elsewhere
    started = time.monotonic()
    dep.worker("w1")
    out = dep.replay(str(first), "events")
    assert f"sent {STREAM_EVENTS:,} events" in out, out
    dep.sync()
    elapsed = time.monotonic() - started
    exp = harness.expected(str(first), "events")
    assert len(exp) > 500
    harness.assert_redis_equals_batch(dep, exp)
    cid = exp.index[0]
    assert exp.loc[cid].segment in dep.cli("customer", cid).stdout
    assert f"{len(exp):,}" in dep.cli("segments").stdout
    print(f"\ninstalled worker + replay of {STREAM_EVENTS:,} events + sync: {elapsed:.1f}s")


def test_installed_health_check_answers_for_the_stack(installed, kafka_bootstrap, redis_url):
    """The image's HEALTHCHECK command: 0 with both servers up, 1 naming the one that does not answer."""
    ok = installed.run(installed.rfm_stream, "health", KAFKA_BOOTSTRAP=kafka_bootstrap, REDIS_URL=redis_url)
    assert ok.returncode == 0, ok.stderr
    bad = installed.run(installed.rfm_stream, "health", "--timeout", "2", KAFKA_BOOTSTRAP=kafka_bootstrap,
                        REDIS_URL="redis://user:s3cret-pw@127.0.0.1:1/0")
    assert bad.returncode == 1
    assert bad.stderr.strip() == "unhealthy: Redis does not answer at 127.0.0.1:1"
    assert "s3cret-pw" not in bad.stdout + bad.stderr
