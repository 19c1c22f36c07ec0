"""Segment-change events (schemas/segment_change.schema.json): decided by core/decide.py, encoded here.

Built from the stored state and the new scoring only, never from wall-clock
or Redis reads, so a change re-published after a crash is byte-for-byte the
same event with the same ``version``: subscribers drop repeats by
(customer_id, version).
"""

from __future__ import annotations

import orjson

from stream_app.core.decide import SegmentChange
from stream_app.core.model import Scores, Totals
from stream_app.core.money import format_cents
from stream_app.core.segments import value_band
from stream_app.core.timeutil import format_us

def change_event(
    customer_id: str,
    previous_segment: str | None,
    segment: str,
    scores: Scores,
    totals: Totals,
    cause: str,
    boundaries_version: int,
    version: int,
    occurred_us: int,
) -> dict:
    return {
        "customer_id": customer_id,
        "previous_segment": previous_segment,
        "segment": segment,
        "r_score": scores.r,
        "f_score": scores.f,
        "m_score": scores.m,
        "aov_score": scores.aov,
        "rfm_score": scores.rfm_score,
        "rfm_sum": scores.rfm_sum,
        "value_band": value_band(scores.rfm_sum),
        "frequency": totals.frequency,
        "monetary": format_cents(totals.monetary_cents),
        "cause": cause,
        "boundaries_version": boundaries_version,
        "version": version,
        "occurred_at": format_us(occurred_us),
    }


def encode(event: dict) -> bytes:
    return orjson.dumps(event)


def record(change: SegmentChange) -> tuple[bytes, bytes]:
    """The keyed, encoded change event of a decision (key: the customer id, so a customer's events stay in order)."""
    c = change
    event = change_event(customer_id=c.customer_id, previous_segment=c.previous_segment, segment=c.segment,
                         scores=c.scores, totals=c.totals, cause=c.cause, boundaries_version=c.boundaries_version,
                         version=c.version, occurred_us=c.occurred_us)
    return c.customer_id.encode(), encode(event)
