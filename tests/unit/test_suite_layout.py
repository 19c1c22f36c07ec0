"""`make test` runs tests/unit and tests/integration as two pytest runs: a test module anywhere else in
tests/ would never run in CI, so this fails instead."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_is_under_unit_or_integration():
    modules = [p.relative_to(TESTS) for p in TESTS.rglob("test_*.py")] + \
        [p.relative_to(TESTS) for p in TESTS.rglob("*_test.py")]
    assert modules, "no test module found: the layout this test guards has changed"
    stray = [str(p) for p in modules if p.parts[0] not in ("unit", "integration")]
    assert not stray, f"outside tests/unit and tests/integration, so `make test` never runs them: {stray}"
