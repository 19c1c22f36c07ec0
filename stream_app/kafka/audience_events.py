"""Audience enter/exit events (schemas/audience_event.schema.json): decided by core/decide.py, encoded here.

Like segment changes they come from the stored state and the new scoring
only, so an event re-published after a crash is the same event with the same
``version``: subscribers drop repeats by (customer_id, audience, version).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from stream_app.core.decide import AudienceMove
from stream_app.core.money import format_cents
from stream_app.core.timeutil import format_us


def records(moves: Iterable[AudienceMove]) -> list[tuple[bytes, bytes]]:
    """Keyed, encoded audience events of a decision (key: the customer id)."""
    return [(m.customer_id.encode(), orjson.dumps({
        "customer_id": m.customer_id,
        "audience": m.audience,
        "action": m.action,
        "segment": m.segment or None,
        "rfm_score": m.scores.rfm_score if m.scores else None,
        "aov": format_cents(m.aov_cents) if m.aov_cents is not None else None,
        "monetary": format_cents(m.monetary_cents) if m.monetary_cents is not None else None,
        "boundaries_version": m.boundaries_version,
        "version": m.version,
        "occurred_at": format_us(m.occurred_us),
    })) for m in moves]
