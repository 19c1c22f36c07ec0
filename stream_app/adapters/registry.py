"""Format name -> reader; the one place the CLI and the replay tool look formats up."""

from __future__ import annotations

from collections.abc import Callable

from stream_app.adapters import events, flo, online_retail, textfile
from stream_app.adapters.frame import EventFrame

READERS: dict[str, Callable[[str], EventFrame]] = {
    "online-retail": online_retail.read,
    "flo": flo.read,
    "events": events.read,
}
FORMATS = tuple(READERS)


def read(path: str, fmt: str) -> EventFrame:
    """Events of a dataset file in the named format, each one meeting the order-event contract.

    The contract check is the worker's (frame.check asks core.validate), so a
    file refuses what the topic would dead-letter, and `events` never writes
    what `--format events` would refuse.
    """
    textfile.check_file(path)
    return READERS[fmt](path).check()
