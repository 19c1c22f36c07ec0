"""What a changed customer's new scoring does: the Redis write, the events, and what its state records.

Pure (no I/O): the worker reads the profile Redis holds, calls :func:`decide`,
then sends and writes what the decision says (worker/checkpoint.py). Events
are decided against what subscribers last saw, not against the state: a
worker that died after its Redis write and before its changelog left Redis
ahead of the state the replay starts from. What subscribers last saw is the
Redis profile (events are delivered before it is written), or, when a worker
died between the two, the announcement it left (core/profile.py's
``Announced``), whose events are delivered again first. Whether the write is
stale, the same, kept or new is :func:`~stream_app.core.profile.judge`'s one
rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from stream_app.core.model import Scores, Totals
from stream_app.core.profile import Announced, ProfileWrite, StoredProfile, WriteStatus, judge, profile_fields
from stream_app.core.scoring import RankValues, rank_aov
from stream_app.core.stored import Scoring, Stored
from stream_app.core.timeutil import format_us

#: the rank values of a profile that leaves the index (no longer scored)
UNRANKED = (0, 0, 0, 0)

# The messages of a decision are built for every changed customer and never changed afterwards, but are not
# frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, three times the cost of a
# plain one, and a rescored customer's decision builds about 70 fields (unfrozen, deciding it takes a fifth
# less time).


@dataclass(slots=True)
class Scored:
    """A customer's scoring under the current boundaries and rules, and what caused it.

    ``scores`` (and ``ranks``) None: the customer has no order to be ranked on.
    """

    customer_id: str
    seq: int
    boundaries_version: int
    totals: Totals
    ranks: RankValues | None
    scores: Scores | None
    segment: str
    audiences: tuple[str, ...]
    rules_fp: str
    cause: str  # order, return, snapshot or rescore
    occurred_us: int  # when the causing event happened (a rescore: when the boundaries were computed)
    updated_us: int  # wall-clock time of the write, shown as updated_at


@dataclass(slots=True)
class SegmentChange:
    """A change event (schemas/segment_change.schema.json): scores or segment moved from what subscribers saw."""

    customer_id: str
    previous_segment: str | None
    segment: str
    scores: Scores
    totals: Totals
    cause: str
    boundaries_version: int
    version: int
    occurred_us: int


@dataclass(slots=True)
class AudienceMove:
    """An audience event (schemas/audience_event.schema.json): the customer entered or left ``audience``."""

    customer_id: str
    audience: str
    action: str  # 'enter' or 'exit'
    segment: str | None
    scores: Scores | None
    monetary_cents: int | None
    aov_cents: int | None
    boundaries_version: int
    version: int
    occurred_us: int


@dataclass(slots=True)
class Decision:
    """What to do for one changed customer.

    ``status`` None: nothing to write (never scored and still not scored). STALE: Redis holds a newer profile;
    nothing is written or sent and the state keeps its scoring. Otherwise ``resend`` (an announcement in
    doubt) is delivered again, then ``change`` and ``moves`` (announced first when there are any), then
    ``write`` goes to Redis, and the state records ``scoring``.
    """

    status: WriteStatus | None
    write: ProfileWrite | None = None
    change: SegmentChange | None = None
    moves: tuple[AudienceMove, ...] = ()
    scoring: Scoring | None = None
    resend: Announced | None = None


NOTHING = Decision(None)


def decide(stored: Stored, scored: Scored, redis_profile: StoredProfile | None) -> Decision:
    """The decision for a customer whose state changed (``stored``, before it records ``scored``)."""
    write = profile_write(stored, scored)
    if write is None:
        return NOTHING
    status = judge(write, redis_profile)
    if status is WriteStatus.STALE:  # Redis holds a newer state (a replay still catching up): keep it
        return Decision(status)
    if status is WriteStatus.KEPT:  # same profile under newer boundaries: it keeps its version
        write = dataclasses.replace(write, boundaries_version=redis_profile.boundaries_version)  # type: ignore[union-attr]
    version = write.seq + write.boundaries_version
    # against what subscribers may last have seen: the announcement in doubt (re-delivered first), else Redis
    seen = redis_profile.published() if redis_profile is not None else None
    seen_segment = seen.segment if seen is not None else None
    seen_audiences = seen.audiences if seen is not None else ()
    change = None
    if scored.scores is not None and (scored.scores != seen_scores(seen) or write.segment != seen_segment):
        change = SegmentChange(
            customer_id=scored.customer_id, previous_segment=seen_segment, segment=write.segment,
            scores=scored.scores, totals=scored.totals, cause=scored.cause,
            boundaries_version=write.boundaries_version, version=version, occurred_us=scored.occurred_us)
    ranked = scored.scores is not None
    moves = tuple(
        AudienceMove(
            customer_id=scored.customer_id, audience=audience, action=action, segment=write.segment or None,
            scores=scored.scores, monetary_cents=scored.totals.monetary_cents if ranked else None,
            aov_cents=rank_aov(write.ranks) if ranked else None, boundaries_version=write.boundaries_version,
            version=version, occurred_us=scored.occurred_us)
        for audience, action in audience_diff(seen_audiences, write.audiences))
    return Decision(status, write, change, moves, recorded(write, scored),
                    redis_profile.pending if redis_profile is not None else None)


def recorded(write: ProfileWrite, scored: Scored) -> Scoring:
    """What the customer's state records once ``write`` (of ``scored``) is decided: one definition for
    :func:`decide` and for a bulk load, which writes into an empty Redis and so needs no decision."""
    return Scoring(scores=scored.scores, segment=write.segment or None,
                   boundaries_version=write.boundaries_version,
                   ranks=write.ranks if scored.scores is not None else None, audiences=write.audiences,
                   rules_fp=scored.rules_fp)


def profile_write(stored: Stored, scored: Scored) -> ProfileWrite | None:
    """The profile ``scored`` makes, built once; None when the customer was never scored and still is not."""
    if scored.scores is None or scored.ranks is None:
        if stored.segment is None:
            return None
        # it was scored and no longer is (every order returned): the profile leaves its segment and the index
        return ProfileWrite(customer_id=scored.customer_id, seq=scored.seq,
                            boundaries_version=scored.boundaries_version, segment="", ranks=UNRANKED,
                            fields=("updated_at", format_us(scored.updated_us)))
    return ProfileWrite(customer_id=scored.customer_id, seq=scored.seq, boundaries_version=scored.boundaries_version,
                        segment=scored.segment, ranks=scored.ranks,
                        fields=profile_fields(scored.scores, scored.totals, scored.ranks, scored.updated_us),
                        audiences=scored.audiences)


def seen_scores(profile: StoredProfile | None) -> Scores | None:
    """The scores a Redis profile holds (None: not scored, or not readable as four scores, so any differ)."""
    if profile is None or profile.scores is None:
        return None
    try:
        return _scores_of_texts(profile.scores)
    except TypeError:  # not hashable: not four texts either
        return None


@lru_cache(maxsize=1024)  # 625 combinations of four scores 1-5 (and whatever else a hash held)
def _scores_of_texts(texts: tuple) -> Scores | None:
    """The scores of four stored texts, parsed once per combination (callers only compare the result)."""
    try:
        r, f, m, aov = texts
        return Scores(int(r), int(f), int(m), int(aov))
    except (TypeError, ValueError):
        return None


def audience_diff(old: Iterable[str], new: Iterable[str]) -> list[tuple[str, str]]:
    """(audience, 'enter'|'exit') for each membership that changed, exits first, by name."""
    if old == new:  # most decisions, and equal sequences hold equal sets
        return []
    before, after = set(old), set(new)
    return [(a, "exit") for a in sorted(before - after)] + [(a, "enter") for a in sorted(after - before)]
