"""The one table of cases for the profile write rule (stream_app/core/profile.py).

Each case: a name, what Redis holds before (None: nothing), the write, and the status both the Python
rule and the Lua script must give. With ``pending``, Redis also holds that customer's announcement of
(seq, boundaries version) (core/profile.py's Announced): ``settled`` says whether the write drops it.
ANNOUNCE_CASES: whether the announce script records an announcement, given what Redis holds. tests/unit/core/test_profile_rule.py feeds it to ``judge``;
tests/integration/redis/test_profile_script.py feeds it to the script on a real Redis.
"""

from __future__ import annotations

from dataclasses import dataclass

from stream_app.core.profile import Announced, ProfileWrite, WriteStatus

SCORED = ("r_score", "3", "f_score", "2", "m_score", "4", "aov_score", "1", "rfm_score", "324", "rfm_sum", "9")
RESCORED = ("r_score", "4", "f_score", "2", "m_score", "4", "aov_score", "1", "rfm_score", "424", "rfm_sum", "10")
RANKS = (1_700_000_000_000_000, 3, 12_345, 4_115)


@dataclass(frozen=True)
class Case:
    name: str
    before: ProfileWrite | None
    write: ProfileWrite
    status: WriteStatus
    pending: tuple[int, int] | None = None
    settled: bool = False


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

P = WriteStatus
CASES += [
    Case("an announcement newer than the write: stale", pw(1, 0), pw(2, 0), P.STALE, (3, 0), False),
    Case("an announcement of newer boundaries than the write: stale", pw(1, 0), pw(5, 1), P.STALE, (2, 3), False),
    Case("a write at the announced versions settles it", pw(1, 0), pw(2, 1), P.WRITTEN, (2, 1), True),
    Case("a write newer than the announcement settles it", pw(1, 0), pw(2, 3), P.WRITTEN, (2, 1), True),
    Case("same events, newer boundaries, same scoring, an announcement in doubt: written, not kept",
         pw(2, 1), pw(2, 4), P.WRITTEN, (2, 2), True),
    Case("an announcement and no profile, the write older", None, pw(1, 1), P.STALE, (2, 1), False),
    Case("an announcement and no profile, the write at it", None, pw(2, 1), P.WRITTEN, (2, 1), True),
    Case("a stale write leaves a newer announcement", pw(3, 1), pw(2, 1), P.STALE, (4, 1), False),
]


@dataclass(frozen=True)
class AnnounceCase:
    name: str
    before: ProfileWrite | None
    pending: tuple[int, int] | None
    announced: tuple[int, int]
    kept: bool


def announced(seq: int, bv: int) -> Announced:
    return Announced(seq, bv, "champions", ("5", "5", "5", "5"), ("vip",), (b'{"e":1}',), (b'{"a":1}',))


ANNOUNCE_CASES = [
    AnnounceCase("nothing stored", None, None, (1, 0), True),
    AnnounceCase("newer than the profile", pw(1, 0), None, (2, 0), True),
    AnnounceCase("the profile's own versions", pw(2, 1), None, (2, 1), True),
    AnnounceCase("older seq than the profile", pw(3, 1), None, (2, 1), False),
    AnnounceCase("older boundaries than the profile", pw(2, 3), None, (5, 1), False),
    AnnounceCase("newer than the announcement there", pw(1, 0), (2, 0), (2, 1), True),
    AnnounceCase("older than the announcement there", pw(1, 0), (3, 1), (2, 1), False),
    AnnounceCase("only an announcement there, older", None, (3, 1), (3, 0), False),
]
