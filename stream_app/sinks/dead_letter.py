"""Dead letters (schemas/dead_letter.schema.json): a refused event, with why and where it came from.

The original bytes travel as text when they are valid UTF-8 (readable in any
console consumer) and as base64 otherwise, so nothing is lost or mangled.
"""

from __future__ import annotations

import base64
import time

import orjson

from stream_app.core.timeutil import format_us


def _text(raw: bytes | None) -> tuple[str | None, str]:
    if raw is None:
        return None, "none"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


def dead_letter(raw: bytes | None, key: bytes | None, reason: str, field: str | None,
                topic: str, partition: int, offset: int, now_us: int | None = None) -> bytes:
    value, encoding = _text(raw)
    key_text = None if key is None else key.decode("utf-8", errors="replace")
    return orjson.dumps({
        "value": value,
        "encoding": encoding,
        "key": key_text,
        "reason": reason,
        "field": field,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "received_at": format_us(now_us if now_us is not None else int(time.time() * 1_000_000)),
    })
