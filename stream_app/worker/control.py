"""Control messages on the orders topic: how a boundary recompute reaches every partition's owner.

Timers cannot write Faust tables, and a rescore must write customers' states,
so the leader does not rescore: it sends one control message per partition of
the orders topic (explicit partition), and whichever worker owns that
partition rescores it inside stream iteration, in order with the partition's
events. A record keyed ``__rfm_control__`` (a key the customer id pattern
cannot produce) is always handled as a control message, never as an event.

Anyone who can write to the orders topic can write such a record, so a
control message carries no boundaries: it is only a trigger that names the
version the leader published. The worker takes the boundaries themselves from
``{prefix}:boundaries`` in Redis, the record the leader wrote, and refuses (as
a dead letter) a control message that names a version Redis does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from stream_app.errors import BadEvent

CONTROL_KEY = b"__rfm_control__"
#: a version beyond this is not a version a leader could have published (it also keeps Lua's doubles exact)
MAX_VERSION = 2**53


@dataclass(frozen=True, slots=True)
class Rescore:
    """Rescore your partition once Redis holds boundaries of at least ``version``."""

    version: int


def encode_rescore(version: int) -> bytes:
    return orjson.dumps({"control": "rescore", "version": version})


def is_control(key: bytes | None) -> bool:
    return key == CONTROL_KEY


def parse(raw: bytes | None) -> Rescore:
    """The trigger in a control record, or BadEvent saying why it is not one.

    An older leader's message also carried the boundaries; only its version is read.
    """
    try:
        obj = orjson.loads(raw if raw is not None else b"")
    except orjson.JSONDecodeError as exc:
        raise BadEvent(f"malformed control record: {exc}") from None
    if not isinstance(obj, dict) or obj.get("control") != "rescore":
        raise BadEvent("a control record must be a JSON object with control: rescore", "control")
    version = obj.get("version")
    if version is None and isinstance(obj.get("boundaries"), dict):
        version = obj["boundaries"].get("version")
    if type(version) is not int or not 0 < version <= MAX_VERSION:
        raise BadEvent(f"a control record must name a boundaries version from 1 to {MAX_VERSION}", "version")
    return Rescore(version)
