"""The write rule in Python, case by case from the table the Lua script is also tested with."""

from __future__ import annotations

import pytest

from stream_app.core.profile import Announced, ProfileWrite, StoredProfile, WriteStatus, announcement_kept, judge, settles
from tests.cases.write_rule import ANNOUNCE_CASES, CASES, announced


def stored(w: ProfileWrite | None, pending: Announced | None = None) -> StoredProfile | None:
    """What Redis holds after ``w`` was written (as the read script returns it), with an announcement."""
    if w is None:
        return StoredProfile(0, 0, None, None, (), pending) if pending is not None else None
    return StoredProfile(w.seq, w.boundaries_version, w.segment or None, w.scores(), w.audiences, pending)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_judge_follows_the_rule_table(case):
    pending = announced(*case.pending) if case.pending else None
    assert judge(case.write, stored(case.before, pending)) is case.status
    if pending is not None:
        after = case.write if case.status is WriteStatus.WRITTEN else case.before
        assert (after is not None and settles(after.seq, after.boundaries_version, pending)) is case.settled


@pytest.mark.parametrize("case", ANNOUNCE_CASES, ids=[c.name for c in ANNOUNCE_CASES])
def test_an_announcement_is_kept_by_the_rule_table(case):
    there = announced(*case.pending) if case.pending else None
    assert announcement_kept(announced(*case.announced), stored(case.before, there)) is case.kept


def test_the_table_covers_every_status():
    assert {c.status for c in CASES} == set(type(CASES[0].status))
