"""The write rule in Python, case by case from the table the Lua script is also tested with."""

from __future__ import annotations

import pytest

from stream_app.core.profile import ProfileWrite, StoredProfile, judge
from tests.cases.write_rule import CASES


def stored(w: ProfileWrite | None) -> StoredProfile | None:
    """What Redis holds after ``w`` was written (as the read script returns it)."""
    if w is None:
        return None
    return StoredProfile(w.seq, w.boundaries_version, w.segment or None, w.scores(), w.audiences)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_judge_follows_the_rule_table(case):
    assert judge(case.write, stored(case.before)) is case.status


def test_the_table_covers_every_status():
    assert {c.status for c in CASES} == set(type(CASES[0].status))
