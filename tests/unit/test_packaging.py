"""What `pip install .` produces: every import declared, every resource shipped, no default inside the code.

The wheel itself is built and installed by tests/integration/test_installed_package.py; these checks read
pyproject.toml and the sources, so they catch the same mistakes in a second, without a build.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

import stream_app
from stream_app.core.validate import SCHEMA_DIR, load_schema
from stream_app.settings import ENV

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(stream_app.__file__).resolve().parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    """'faust-streaming>=0.15.3,<0.16' -> 'faust-streaming' (PEP 503 normalised)."""
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", requirement).group()).lower()


def _declared(*extras: str) -> set[str]:
    project = PYPROJECT["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return {_name(r) for r in reqs}


def _imported(folder: Path) -> set[str]:
    """Top-level names of the absolute imports of every .py file under folder, bar the stdlib and our own."""
    local = {p.stem for p in folder.rglob("*.py")} | {"stream_app", "tests"}
    names: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in local and n != "__future__"}


@pytest.mark.parametrize(("folder", "extras"), [("stream_app", ()), ("tests", ("test",)), ("benchmarks", ("bench",))])
def test_every_imported_distribution_is_declared(folder, extras):
    """An import that works only because another package happens to bring its distribution along is a bug
    waiting for that package's next release (numpy and aiokafka were such imports)."""
    providers = packages_distributions()
    declared = _declared(*extras)
    imported = _imported(ROOT / folder)
    assert imported, folder
    missing = {m: providers.get(m) for m in imported if not {_name(d) for d in providers.get(m, [])} & declared}
    assert not missing, f"{folder} imports distributions pyproject.toml does not declare: {missing}"


def test_the_top_level_schemas_are_the_packaged_ones():
    """schemas/ is the documented contract and stream_app/schemas what the wheel ships: one copy, linked."""
    top = ROOT / "schemas"
    assert top.is_symlink() and top.resolve() == PACKAGE / "schemas", "schemas/ must link to stream_app/schemas"
    names = sorted(p.name for p in top.glob("*.schema.json"))
    assert len(names) >= 5
    assert sorted(p.name for p in SCHEMA_DIR.iterdir() if p.name.endswith(".schema.json")) == names
    for name in names:
        assert load_schema(name)["$schema"].startswith("https://json-schema.org/"), name


def test_package_data_covers_every_resource_file():
    """A data file added to stream_app/ but matched by no package-data pattern would be missing from the wheel."""
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["stream_app"]
    files = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*")
             if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert files
    unshipped = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert not unshipped, f"not in [tool.setuptools.package-data]: {unshipped} (patterns {patterns})"


def _defaults(**env: str) -> dict[str, str]:
    """ENV's folder defaults as a fresh interpreter computes them under the given environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "RFM_"))}
    code = "from stream_app.settings import ENV\nfor n in ('RFM_DATA_DIR', 'RFM_RUN_DIR', 'RFM_CACHE_DIR'): print(ENV[n][0])"
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True)
    return dict(zip(("RFM_DATA_DIR", "RFM_RUN_DIR", "RFM_CACHE_DIR"), out.stdout.split("\n")))


def test_folder_defaults_are_the_xdg_folders_never_the_code(tmp_path):
    home = tmp_path / "home"
    assert _defaults(HOME=str(home)) == {
        "RFM_DATA_DIR": str(home / ".local/state/rfm-stream/worker"),
        "RFM_RUN_DIR": str(home / ".local/state/rfm-stream"),
        "RFM_CACHE_DIR": str(home / ".cache/rfm-stream"),
    }
    state, cache = tmp_path / "state", tmp_path / "cache"
    got = _defaults(HOME=str(home), XDG_STATE_HOME=str(state), XDG_CACHE_HOME=str(cache))
    assert got == {"RFM_DATA_DIR": str(state / "rfm-stream/worker"), "RFM_RUN_DIR": str(state / "rfm-stream"),
                   "RFM_CACHE_DIR": str(cache / "rfm-stream")}
    # the XDG spec: a relative base folder is invalid and ignored
    assert _defaults(HOME=str(home), XDG_STATE_HOME="state")["RFM_RUN_DIR"] == str(home / ".local/state/rfm-stream")
    for name in ("RFM_DATA_DIR", "RFM_RUN_DIR", "RFM_CACHE_DIR"):
        assert not Path(ENV[name][0]).is_relative_to(PACKAGE.parent), name
