"""Dead letters (schemas/dead_letter.schema.json): a refused event, with why and where it came from.

The original bytes travel as text when they are valid UTF-8 (readable in any
console consumer) and as base64 otherwise. A dead letter is bounded in size
whatever the record it describes: it keeps the first ``VALUE_LIMIT`` bytes of
the value (and ``KEY_LIMIT`` of the key, ``REASON_LIMIT`` characters of the
reason), with the original length and sha256 of the whole value, so a refused
record is identified exactly and the dead letter always fits under the
producer's 1,000,000-byte limit (the worst case, a kept value of control
characters that JSON escapes as six characters each, is under 400 KB).
"""

from __future__ import annotations

import base64
import hashlib
import time

import orjson

from stream_app.core.timeutil import format_us

VALUE_LIMIT = 64 * 1024
KEY_LIMIT = 256
REASON_LIMIT = 1000


def _text(raw: bytes | None) -> tuple[str | None, str]:
    if raw is None:
        return None, "none"
    kept = raw[:VALUE_LIMIT]
    try:
        return kept.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if len(raw) > VALUE_LIMIT and exc.start >= len(kept) - 3 and exc.reason == "unexpected end of data":
            return kept[: exc.start].decode("utf-8"), "utf-8"  # the cut split a character: keep the text whole
        return base64.b64encode(kept).decode("ascii"), "base64"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The dead letter's own record key: the refused record's key, cut to KEY_LIMIT bytes."""
    return None if key is None else key[:KEY_LIMIT]


def dead_letter(raw: bytes | None, key: bytes | None, reason: str, field: str | None,
                topic: str, partition: int, offset: int, now_us: int | None = None) -> bytes:
    value, encoding = _text(raw)
    key_text = None if key is None else key[:KEY_LIMIT].decode("utf-8", errors="replace")
    return orjson.dumps({
        "value": value,
        "encoding": encoding,
        "value_bytes": None if raw is None else len(raw),
        "value_sha256": None if raw is None else hashlib.sha256(raw).hexdigest(),
        "truncated": raw is not None and len(raw) > VALUE_LIMIT,
        "key": key_text,
        "key_bytes": None if key is None else len(key),
        "reason": _clip(reason or "refused", REASON_LIMIT),
        "field": None if field is None else _clip(field, 128),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "received_at": format_us(now_us if now_us is not None else int(time.time() * 1_000_000)),
    })
