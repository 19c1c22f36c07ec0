"""Audience enter/exit events (schemas/audience_event.schema.json): built here, sent by the worker.

Like segment changes they come from the stored state and the new scoring
only, so an event re-published after a crash is the same event with the same
``version``: subscribers drop repeats by (customer_id, audience, version).
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from stream_app.core.model import Scores
from stream_app.core.money import format_cents
from stream_app.core.timeutil import format_us


def diff(old: Iterable[str], new: Iterable[str]) -> list[tuple[str, str]]:
    """(audience, 'enter'|'exit') for each membership that changed, exits first, by name."""
    before, after = set(old), set(new)
    return [(a, "exit") for a in sorted(before - after)] + [(a, "enter") for a in sorted(after - before)]


def events(customer_id: str, moves: list[tuple[str, str]], segment: str | None, scores: Scores | None,
           monetary_cents: int | None, aov_cents: int | None, boundaries_version: int, version: int,
           occurred_us: int) -> list[tuple[bytes, bytes]]:
    """Keyed, encoded audience events of one customer's write."""
    key = customer_id.encode()
    common = {
        "segment": segment or None,
        "rfm_score": scores.rfm_score if scores else None,
        "aov": format_cents(aov_cents) if aov_cents is not None else None,
        "monetary": format_cents(monetary_cents) if monetary_cents is not None else None,
        "boundaries_version": boundaries_version,
        "version": version,
        "occurred_at": format_us(occurred_us),
    }
    return [(key, orjson.dumps({"customer_id": customer_id, "audience": a, "action": act, **common}))
            for a, act in moves]
