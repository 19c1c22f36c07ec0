"""The one table of cases for the profile write rule (stream_app/core/profile.py).

Each case: a name, what Redis holds before (None: nothing), the write, and the status both the Python
rule and the Lua script must give. tests/unit/core/test_profile_rule.py feeds it to ``judge``;
tests/integration/redis/test_profile_script.py feeds it to the script on a real Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from stream_app.core.profile import ProfileWrite, WriteStatus

SCORED = ("r_score", "3", "f_score", "2", "m_score", "4", "aov_score", "1", "rfm_score", "324", "rfm_sum", "9")
RESCORED = ("r_score", "4", "f_score", "2", "m_score", "4", "aov_score", "1", "rfm_score", "424", "rfm_sum", "10")
RANKS = (1_700_000_000_000_000, 3, 12_345, 4_115)


@dataclass(frozen=True)
class Case:
    name: str
    before: ProfileWrite | None
    write: ProfileWrite
    status: WriteStatus


def pw(seq: int, bv: int, segment: str = "loyal_customers", fields: tuple[str, ...] = SCORED,
       audiences: tuple[str, ...] = ()) -> ProfileWrite:
    if segment == "":
        return ProfileWrite("c1", seq, bv, "", (0, 0, 0, 0), ("updated_at", "2026-01-01T00:00:00+00:00"))
    return ProfileWrite("c1", seq, bv, segment, RANKS, fields, audiences)


CASES = [
    Case("first write", None, pw(1, 0), WriteStatus.WRITTEN),
    Case("newer seq", pw(1, 0), pw(2, 0), WriteStatus.WRITTEN),
    Case("newer seq and boundaries", pw(1, 0), pw(2, 3), WriteStatus.WRITTEN),
    Case("same pair is done", pw(2, 1), pw(2, 1), WriteStatus.SAME),
    Case("same pair, other content, still done", pw(2, 1), pw(2, 1, "champions"), WriteStatus.SAME),
    Case("older seq", pw(3, 1), pw(2, 1), WriteStatus.STALE),
    Case("older boundaries", pw(2, 3), pw(2, 1), WriteStatus.STALE),
    Case("older boundaries, newer seq", pw(2, 3), pw(5, 1), WriteStatus.STALE),
    Case("newer seq, older boundaries", pw(5, 3), pw(6, 2), WriteStatus.STALE),
    Case("same events, newer boundaries, same scoring", pw(2, 1), pw(2, 4), WriteStatus.KEPT),
    Case("same events, newer boundaries, same scoring and audiences", pw(2, 1, audiences=("vip",)),
         pw(2, 4, audiences=("vip",)), WriteStatus.KEPT),
    Case("same events, newer boundaries, other scores", pw(2, 1), pw(2, 4, fields=RESCORED), WriteStatus.WRITTEN),
    Case("same events, newer boundaries, other segment", pw(2, 1), pw(2, 4, "champions"), WriteStatus.WRITTEN),
    Case("same events, newer boundaries, an audience entered", pw(2, 1), pw(2, 4, audiences=("vip",)),
         WriteStatus.WRITTEN),
    Case("same events, newer boundaries, an audience left", pw(2, 1, audiences=("a", "b")),
         pw(2, 4, audiences=("a",)), WriteStatus.WRITTEN),
    Case("unscored stays unscored under newer boundaries", pw(2, 1, ""), pw(2, 4, ""), WriteStatus.KEPT),
    Case("scored becomes unscored", pw(2, 1), pw(3, 1, ""), WriteStatus.WRITTEN),
    Case("unscored becomes scored", pw(2, 1, ""), pw(3, 1), WriteStatus.WRITTEN),
    Case("unscored, same events, newer boundaries, now scored", pw(2, 1, ""), pw(2, 4), WriteStatus.WRITTEN),
]
