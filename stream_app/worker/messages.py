"""The consumed record as the worker's modules pass it around (the processor, the offsets, the checkpoint)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Msg:
    """A consumed record; ``handle`` is the Faust event the Table needs as context (None in tests)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    handle: Any = None
