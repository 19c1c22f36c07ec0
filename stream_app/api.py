"""Score a file from Python as `rfm-stream batch`, `audiences` and `report` do: one call, the same result.

    >>> from stream_app.api import score_file
    >>> scored = score_file("online_retail.csv.gz", "online-retail", as_of="2011-12-10")
    >>> scored.table          # the rows `rfm-stream batch` writes
    >>> scored.customers      # the same rows with the exact inputs (cents, microseconds, categories)

The commands are thin layers over these functions, so a notebook and the command line cannot drift apart.
Settings (RFM_SEGMENTS, RFM_AUDIENCES) come from :func:`stream_app.settings.load` unless given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from stream_app import audiences as audience_rules
from stream_app import batch
from stream_app.adapters import registry
from stream_app.core.segments import SegmentMap
from stream_app.core.timeutil import parse_rfc3339, to_us
from stream_app.errors import BadInput
from stream_app.settings import Settings, load

FORMATS = registry.FORMATS
TIES = batch.TIES


@dataclass(frozen=True)
class ScoredFile:
    """The scores of every customer of one file, with what the audience lists and the report need besides."""

    #: batch.score's frame: the published columns plus the exact inputs (monetary_cents, last_order_us, ...)
    customers: pd.DataFrame
    #: the audience rules the ``audiences`` column was computed with (the lists and the report apply them again)
    rules: audience_rules.AudienceRules
    #: lines the reader skipped, by reason ("lines without a customer id": 135080); never an error
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """The published columns, in the order `rfm-stream batch` writes them."""
        return batch.to_output(self.customers)


def parse_as_of(value: str | datetime | None, *, source: str = "as_of") -> int | None:
    """An as-of time as epoch microseconds: a date (midnight UTC), an RFC 3339 date-time or an aware datetime.

    A bad value is a BadInput naming ``source`` (the command line names its option), not a traceback.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise BadInput(f"date-time without an offset: {value.isoformat()!r}", source=source)
        return to_us(value)
    if not value:
        return None
    try:
        return parse_rfc3339(value if len(value) > 10 else f"{value}T00:00:00Z")
    except ValueError as exc:
        raise BadInput(str(exc), source=source) from None


def load_audiences(audiences: str | os.PathLike | None = None, *, settings: Settings | None = None,
                   segments: SegmentMap | None = None) -> audience_rules.AudienceRules:
    """The audience rules of a file, else of RFM_AUDIENCES, else the packaged ones; checked against the segment map."""
    settings = settings or load()
    segments = segments or SegmentMap.load(settings.segments_file)
    return audience_rules.load(audiences or settings.audiences_file, segment_names=segments.names)


def score_file(path: str | os.PathLike, format: str, *, as_of: str | datetime | None = None,  # noqa: A002
               ties: str = "first", audiences: str | os.PathLike | None = None,
               settings: Settings | None = None) -> ScoredFile:
    """Read a dataset file and score every customer with an order, as `rfm-stream batch` does.

    ``format`` is one of :data:`FORMATS`; ``as_of`` (default: the latest event) is what recency is measured
    to; ``ties`` is one of :data:`TIES`; ``audiences`` is a rules file (default: RFM_AUDIENCES, else the
    packaged rules). Bad input raises :class:`stream_app.errors.RfmError` with a one-line message.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {format!r}")
    if ties not in TIES:
        raise ValueError(f"ties must be one of {TIES}, not {ties!r}")
    as_of_us = parse_as_of(as_of)
    settings = settings or load()
    segments = SegmentMap.load(settings.segments_file)
    rules = load_audiences(audiences, settings=settings, segments=segments)
    frame = registry.read(os.fspath(path), format)
    scored = batch.score(frame, as_of_us=as_of_us, ties=ties, segments=segments, audiences=rules)
    return ScoredFile(customers=scored, rules=rules, skipped=dict(frame.skipped))


__all__ = ["FORMATS", "TIES", "ScoredFile", "load_audiences", "parse_as_of", "score_file"]
