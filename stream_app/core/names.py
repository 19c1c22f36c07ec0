"""The one rule for names that become file names, Redis keys and labels: audience and segment names.

An audience name becomes ``NAME.csv`` and ``{prefix}:audience:{name}``; a
segment name becomes ``{prefix}:segment:{name}`` and a label on the report's
pictures. Lower-case letters, digits and underscores, starting with a letter,
1-64 characters: nothing a file system, a Redis key pattern, a CSV cell,
HTML or matplotlib's math text reads specially. Checked with ``fullmatch``:
with ``re.search`` a pattern ending in ``$`` also accepts a trailing newline.
"""

from __future__ import annotations

import re

#: the pattern without anchors; schemas/audiences.schema.json anchors the same text (a test holds them equal)
NAME_PATTERN = r"[a-z][a-z0-9_]{0,63}"
NAME_RULE = "lower-case letters, digits and _, starting with a letter, at most 64 characters"
_NAME = re.compile(NAME_PATTERN)


def is_name(text: object) -> bool:
    """True for a valid audience or segment name."""
    return isinstance(text, str) and _NAME.fullmatch(text) is not None


def shown(value: object, limit: int = 60) -> str:
    """``repr`` of a value for a one-line message, cut to ``limit`` characters (a hostile file can hold megabytes)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
