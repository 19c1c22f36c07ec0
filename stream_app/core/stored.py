"""A customer's stored state: the fold's fact set plus what the worker last published for it.

The Table value is compact orjson (a list, not an object, so field names are
not repeated a million times). Besides the facts of
:class:`~stream_app.core.fold.CustomerState` it keeps

- ``last_offset``: the highest source offset applied, so a replayed offset is
  skipped before it is even folded (the fold would also ignore it);
- the scoring last written to Redis (scores, segment, boundaries version), so
  that a change event is emitted only when scores or segment really change and
  ``previous_segment`` is reproducible on replay;
- the rank values of the customer's current totals, so a rescore after a
  boundary recompute needs no fold: it compares four integers with the cuts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import orjson

from stream_app.core.fold import CustomerState, cap_categories, order_key
from stream_app.core.model import Scores
from stream_app.core.profile import StoredProfile
from stream_app.core.scoring import RankValues

#: 2: orders and returns keyed by order_key() and categories capped (core/fold.py); 1 kept raw order ids
FORMAT = 2



@dataclass(slots=True)
class Stored:
    """One customer's Table value."""

    state: CustomerState
    last_offset: int = -1
    #: scores and segment last written to Redis (None: never scored)
    scores: Scores | None = None
    segment: str | None = None
    boundaries_version: int = 0
    #: rank values of the totals at the last write (None: not scored)
    ranks: RankValues | None = None
    #: audiences written to Redis with the last write, and the fingerprint of the rules that chose them
    audiences: tuple[str, ...] = ()
    rules_fp: str = ""

    @property
    def version(self) -> int:
        """The published version: seq + boundaries version, both non-decreasing, reproduced on replay."""
        return self.state.seq + self.boundaries_version


def encode(stored: Stored) -> bytes:
    """The Table value, as bytes of its own length.

    orjson returns its bytes in a buffer of at least 4 KB whatever their length (``sys.getsizeof`` shows
    the length, the allocation stays). A Table kept in memory (``RFM_STORE=memory://``) holds every value
    the worker wrote, so it holds a copy the size of the value instead: 4 GB less at 1M customers.
    """
    s = stored.state
    sc = stored.scores
    return memoryview(orjson.dumps(
        [
            FORMAT,
            s.orders,
            s.returns,
            s.snapshot,
            sorted(s.categories),
            s.seq,
            stored.last_offset,
            None if sc is None else [sc.r, sc.f, sc.m, sc.aov],
            stored.segment,
            stored.boundaries_version,
            stored.ranks,
            stored.audiences,
            stored.rules_fp,
        ]
    )).tobytes()


def parse(raw: bytes) -> list:
    """A Table value's fields, not yet a :class:`Stored`: a rescore reads what :func:`scoring_of` needs from
    them and builds the state (:func:`from_fields`) only for the customers it changes."""
    return orjson.loads(raw)


def decode(customer_id: str, raw: bytes) -> Stored:
    return from_fields(customer_id, orjson.loads(raw))


def from_fields(customer_id: str, v: list) -> Stored:
    """The state of a parsed Table value (:func:`parse`)."""
    if v[0] == FORMAT:  # today's keys are strings already: no call per fact
        orders = {k: tuple(f) for k, f in v[1].items()}
        returns = {k: tuple(f) for k, f in v[2].items()}
    elif v[0] == 1:  # a format 1 state is read into today's keys
        orders = {order_key(k): tuple(f) for k, f in v[1].items()}
        returns = {order_key(k): tuple(f) for k, f in v[2].items()}
    else:
        raise ValueError(f"unknown state format {v[0]!r} for customer {customer_id}")
    state = CustomerState(
        customer_id,
        orders=orders,  # type: ignore[arg-type]
        returns=returns,  # type: ignore[arg-type]
        snapshot=tuple(v[3]) if v[3] is not None else None,  # type: ignore[arg-type]
        categories=cap_categories(set(v[4])),
        seq=v[5],
    )
    sc = v[7]
    return Stored(
        state=state,
        last_offset=v[6],
        scores=Scores(*sc) if sc is not None else None,
        segment=v[8],
        boundaries_version=v[9],
        ranks=tuple(v[10]) if v[10] is not None else None,  # type: ignore[arg-type]
        audiences=tuple(v[11]) if len(v) > 11 else (),
        rules_fp=v[12] if len(v) > 12 else "",
    )


def as_written(stored: Stored) -> StoredProfile:
    """The profile Redis holds for this state once the write that recorded its scoring landed: the same
    seq, boundaries version, segment, scores and audiences, and no announcement left in doubt."""
    sc = stored.scores
    scores = None if sc is None else _score_texts(sc.r, sc.f, sc.m, sc.aov)
    return StoredProfile(stored.state.seq, stored.boundaries_version, stored.segment, scores, stored.audiences)


@lru_cache(maxsize=1024)  # 625 combinations of four scores 1-5
def _score_texts(r: int, f: int, m: int, aov: int) -> tuple[str, str, str, str]:
    """The four scores as the profile hash stores them, built once per combination."""
    return str(r), str(f), str(m), str(aov)


def scoring_of(v: list) -> tuple[Scores | None, str | None, int, RankValues | None, str]:
    """Only what a rescore needs of a parsed Table value: scores, segment, boundaries version, rank values,
    rules fingerprint."""
    sc = v[7]
    ranks = tuple(v[10]) if v[10] is not None else None
    return (Scores(*sc) if sc is not None else None, v[8], v[9], ranks, v[12] if len(v) > 12 else "")  # type: ignore[return-value]


@dataclass(slots=True)  # not frozen, as core/decide.py's messages: built for every decided customer
class Scoring:
    """What a customer's state records of the profile it last wrote to Redis (a rescore compares against it)."""

    scores: Scores | None
    segment: str | None
    boundaries_version: int
    ranks: RankValues | None
    audiences: tuple[str, ...]
    rules_fp: str


def remember(stored: Stored, scoring: Scoring) -> None:
    """Record ``scoring`` in ``stored``: done once the profile's write is decided and its events encoded."""
    stored.scores, stored.segment = scoring.scores, scoring.segment
    stored.boundaries_version, stored.ranks = scoring.boundaries_version, scoring.ranks
    stored.audiences, stored.rules_fp = scoring.audiences, scoring.rules_fp
