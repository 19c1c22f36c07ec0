"""Reading a configuration file (segment map, audience rules) as bounded, strictly decoded text.

Configuration is small and written by people; a file of megabytes, or bytes
that are not UTF-8, is a mistake to name with its line rather than something
to parse and fail on later with a traceback.
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path

from stream_app.errors import ConfigError

#: largest configuration file read: the packaged audience rules are 2.5 KB, and parsing time grows with size
MAX_CONFIG_BYTES = 256 * 1024


def read_config_text(path: Path | Traversable, what: str, limit: int = MAX_CONFIG_BYTES) -> str:
    """The file's text; ConfigError (``FILE: ...`` or ``FILE, line N: ...``) when unreadable, too big or not UTF-8.

    ``path`` is a file path or a package resource (the packaged defaults).
    """
    source = str(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise ConfigError(f"{source}: the {what} file is larger than {limit:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"{source}, line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {column})") from None


def nesting_depth_exceeds(data: object, limit: int) -> bool:
    """True when lists/dicts nest deeper than ``limit``; iterative, so any depth is measured without recursion."""
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False
