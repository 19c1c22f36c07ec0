"""A customer's profile as Redis holds it, and the one rule that judges a write against it.

The processor must decide before Redis does (a batch's change events are sent
before its profiles are written, so that a profile in Redis implies its events
were delivered); the Lua script then applies the same rule atomically. Both
follow :func:`judge`; ``tests/cases/write_rule.py`` is the one table of cases
fed to this function and, through a real Redis, to the script.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

import orjson

from stream_app.core.model import Scores, Totals
from stream_app.core.money import format_cents
from stream_app.core.scoring import RankValues
from stream_app.core.segments import value_band
from stream_app.core.timeutil import format_us


class WriteStatus(IntEnum):
    """What a profile write did; the Lua scripts get these names from here (stream_app/redis/scripts.py)."""

    #: refused: Redis holds a newer seq or boundaries version (a replay still catching up, a replaced worker)
    STALE = -1
    #: Redis already holds this (seq, boundaries version): a batch re-run after a crash
    SAME = 0
    WRITTEN = 1
    #: the same events (seq) scored identically under older boundaries: the stored profile and its version
    #: stay, so a change event re-published for it carries the version it was first published with
    KEPT = 2


@dataclass(slots=True)  # not frozen, as core/decide.py's messages: built for every decided customer
class Announced:
    """A customer's events in doubt: recorded in Redis before they are delivered, dropped by the profile
    write that follows them (same Lua call).

    Events go out before the profile is written, so a worker that dies between the two (or whose Redis
    write fails) leaves subscribers possibly holding a newer scoring than Redis. Deciding the replay
    against Redis alone then loses an event whenever the replay scores under newer boundaries back to
    what Redis holds. With the announcement found, the customer's next decision re-delivers these events
    (same bytes, same version: a repeat subscribers drop) and then decides against them.
    """

    seq: int
    boundaries_version: int
    segment: str | None
    scores: tuple[str, str, str, str] | None
    audiences: tuple[str, ...]
    #: the encoded change event (if any) and audience events, as delivered
    changes: tuple[bytes, ...] = ()
    audience_events: tuple[bytes, ...] = ()

    def body(self) -> bytes:
        """Everything but (seq, boundaries_version), which Redis keeps beside it for the scripts' rules."""
        return orjson.dumps([self.segment, self.scores, list(self.audiences),
                             [c.decode() for c in self.changes], [a.decode() for a in self.audience_events]])

    @classmethod
    def from_body(cls, seq: int, boundaries_version: int, body: bytes | str) -> Announced:
        segment, scores, audiences, changes, moves = orjson.loads(body)
        return cls(seq, boundaries_version, segment, tuple(scores) if scores is not None else None,
                   tuple(audiences), tuple(c.encode() for c in changes), tuple(a.encode() for a in moves))


@dataclass(slots=True)  # not frozen, as core/decide.py's messages: built for every decided customer
class StoredProfile:
    """What Redis holds for a customer: the last profile written and, if a worker died between delivering
    a decision's events and writing its profile, that decision's announcement.

    No profile but an announcement: seq and boundaries version 0, nothing scored (the same as none).
    """

    seq: int
    boundaries_version: int
    segment: str | None
    scores: tuple[str, str, str, str] | None  # r, f, m, aov scores as stored (None: not scored)
    audiences: tuple[str, ...]
    pending: Announced | None = None

    def published(self) -> StoredProfile:
        """What subscribers may last have seen: the announced scoring when one is in doubt, else this profile."""
        p = self.pending
        if p is None:
            return self
        return StoredProfile(p.seq, p.boundaries_version, p.segment, p.scores, p.audiences)


@dataclass(slots=True)  # not frozen, as core/decide.py's messages: built for every decided customer
class ProfileWrite:
    """One customer's new profile; ``segment`` '' means "no longer scored" (leaves the index)."""

    customer_id: str
    seq: int
    boundaries_version: int
    segment: str
    #: (last_order_us, frequency, monetary_cents, aov_cents)
    ranks: tuple[int, int, int, int]
    #: the remaining hash fields, flattened name, value, ...
    fields: tuple[str, ...]
    #: sorted audience names ('' segment: none)
    audiences: tuple[str, ...] = ()

    def row(self) -> list[str]:
        """The write as the script reads it: all strings (Lua numbers would round 16-digit microseconds)."""
        return [
            self.customer_id,
            str(self.seq),
            str(self.boundaries_version),
            str(self.seq + self.boundaries_version),
            self.segment,
            *map(str, self.ranks),
            ";".join(self.audiences),
            *self.fields,
        ]

    def scores(self) -> tuple[str, str, str, str] | None:
        """The four scores as the hash stores them (None: not scored)."""
        t = self.fields
        if t[:1] == ("r_score",) and t[2:7:2] == ("f_score", "m_score", "aov_score"):  # profile_fields' layout
            return t[1], t[3], t[5], t[7]
        f = dict(zip(self.fields[::2], self.fields[1::2]))
        if "r_score" not in f:
            return None
        return f["r_score"], f.get("f_score", ""), f.get("m_score", ""), f.get("aov_score", "")


def judge(write: ProfileWrite, stored: StoredProfile | None) -> WriteStatus:
    """What Redis does with ``write`` when it holds ``stored``.

    Versions never go back: an older seq or boundaries version than the profile's, or than an announcement's
    (subscribers may have seen it), is STALE. An equal pair is SAME (done already). The same events under
    newer boundaries with the same segment, scores and audiences are KEPT (the stored version stays), unless
    an announcement is in doubt: then the write takes its own, newer version. Anything else is WRITTEN.
    """
    if stored is None:
        return WriteStatus.WRITTEN
    if older(write.seq, write.boundaries_version, stored.seq, stored.boundaries_version):
        return WriteStatus.STALE
    pending = stored.pending
    if pending is not None and older(write.seq, write.boundaries_version, pending.seq, pending.boundaries_version):
        return WriteStatus.STALE
    if write.seq == stored.seq and write.boundaries_version == stored.boundaries_version:
        return WriteStatus.SAME
    if pending is None and write.seq == stored.seq and (write.segment or None, write.scores(), write.audiences) == (
            stored.segment, stored.scores, stored.audiences):
        return WriteStatus.KEPT
    return WriteStatus.WRITTEN


def older(seq: int, boundaries_version: int, than_seq: int, than_boundaries_version: int) -> bool:
    """(seq, boundaries version) is older than the other pair: either one is smaller."""
    return seq < than_seq or boundaries_version < than_boundaries_version


def announcement_kept(announced: Announced, stored: StoredProfile | None) -> bool:
    """Whether Redis records ``announced`` when it holds ``stored``: not when older than the profile or than
    the announcement already there (a replay or a replaced worker, whose profile write is refused too)."""
    if stored is None:
        return True
    a = (announced.seq, announced.boundaries_version)
    if older(*a, stored.seq, stored.boundaries_version):  # (0, 0) when only an announcement is stored
        return False
    p = stored.pending
    return p is None or not older(*a, p.seq, p.boundaries_version)


def settles(seq: int, boundaries_version: int, pending: Announced) -> bool:
    """A profile stored at (seq, boundaries version) settles the announcement: it is not older, so its write
    followed the announced events (the write script then drops the announcement)."""
    return not older(seq, boundaries_version, pending.seq, pending.boundaries_version)


def profile_fields(scores: Scores, totals: Totals, ranks: RankValues, updated_us: int) -> tuple[str, ...]:
    """The hash fields of a scored profile besides the script's own (seq, versions, segment, audiences), flattened
    name, value, ...: one definition for the processor's writes and for rewriting a profile Redis lost."""
    return (
        *score_fields(scores.r, scores.f, scores.m, scores.aov), "frequency", str(totals.frequency),
        "monetary", format_cents(totals.monetary_cents), "aov", format_cents(ranks[3]),
        "last_order_at", format_us(ranks[0]), "updated_at", format_us(updated_us),
        "channel", totals.channel or "", "categories", ",".join(totals.categories),
    )  # fmt: skip


@lru_cache(maxsize=1024)  # 625 combinations of four scores 1-5
def score_fields(r: int, f: int, m: int, aov: int) -> tuple[str, ...]:
    """The hash fields that follow from the four scores alone, flattened name, value, ...: built once per
    combination, where building them per decided customer took 40% of :func:`profile_fields`."""
    scores = Scores(r, f, m, aov)
    return ("r_score", str(r), "f_score", str(f), "m_score", str(m), "aov_score", str(aov),
            "rfm_score", scores.rfm_score, "rfm_sum", str(scores.rfm_sum), "value_band", value_band(scores.rfm_sum))
