"""Control messages on the orders topic: how a boundary recompute reaches every partition's owner.

Timers cannot write Faust tables, and a rescore must write customers' states,
so the leader does not rescore: it sends one control message per partition of
the orders topic (explicit partition), and whichever worker owns that
partition rescores it inside stream iteration, in order with the partition's
events. A control message is never a dead letter: it is recognised by its
first bytes and its key before any event validation.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from kafka.partitioner.default import murmur2

from stream_app.core.scoring import Boundaries

CONTROL_KEY = b"__rfm_control__"
_PREFIX = b'{"control":'


@dataclass(frozen=True, slots=True)
class Rescore:
    """Rescore your partition against these boundaries (computed at ``computed_us``)."""

    boundaries: Boundaries
    computed_us: int


def encode_rescore(boundaries: Boundaries, computed_us: int) -> bytes:
    return orjson.dumps({"control": "rescore", "computed_us": computed_us, "boundaries": boundaries.to_json()})


def parse(key: bytes | None, raw: bytes | None) -> Rescore | None:
    """The control message in a record, or None when it is an ordinary (maybe malformed) event."""
    if key != CONTROL_KEY or raw is None or not raw.startswith(_PREFIX):
        return None
    try:
        obj = orjson.loads(raw)
        if obj.get("control") != "rescore":
            return None
        return Rescore(Boundaries.from_json(obj["boundaries"]), int(obj["computed_us"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java, kafka-python, aiokafka alike) gives a key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions
