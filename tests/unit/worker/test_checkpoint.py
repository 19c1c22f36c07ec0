"""The checkpoint writes a batch's effects in its numbered order, and a failed step stops the ones after it."""

from __future__ import annotations

import asyncio

import pytest

from stream_app.core.fold import CustomerState
from stream_app.core.profile import Announced, ProfileWrite, WriteStatus
from stream_app.core.stored import Stored
from stream_app.worker.checkpoint import Checkpoint, Effects
from stream_app.worker.messages import Msg


class Recorder:
    """Table, sinks and offsets in one, noting each call in order; ``fail`` names a step to raise in."""

    def __init__(self, fail: str | None = None):
        self.calls: list[str] = []
        self.fail = fail

    def _note(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail:
            raise ConnectionError(name)

    async def announce(self, announced):
        self._note("announce")

    async def publish(self, changes, dead, audience):
        self._note("events")

    async def write_profiles(self, writes):
        self._note("redis")
        return [(WriteStatus.STALE, 3) for _ in writes]

    def set(self, key, value, msg):
        self._note(f"table {key.decode()}")

    async def drain(self):
        self._note("changelog")

    async def after(self, batch):
        self._note("offsets")


def effects() -> Effects:
    write = ProfileWrite("c1", 1, 0, "loyal", (1, 1, 1, 1), ())
    return Effects(changes=[(b"c1", b"{}")], profiles=[write],
                   announced=[("c1", Announced(1, 0, "loyal", ("1", "1", "1", "1"), (), (b"{}",)))],
                   states=[(Stored(CustomerState("c1")), Msg(0, 5, b"c1", b"")),
                           (Stored(CustomerState("c2")), Msg(0, 6, b"c2", b""))])


def test_announce_then_events_then_redis_then_the_table_and_its_changelog_then_the_offsets():
    r = Recorder()
    cp = Checkpoint(r, r, r)  # type: ignore[arg-type]

    async def run():
        statuses = await cp.flush(effects())
        await cp.commit(object())  # type: ignore[arg-type]
        return statuses

    assert asyncio.run(run()) == [WriteStatus.STALE]
    assert r.calls == ["announce", "events", "redis", "table c1", "table c2", "changelog", "offsets"]


@pytest.mark.parametrize("step, done", [("announce", ["announce"]), ("events", ["announce", "events"]),
                                        ("redis", ["announce", "events", "redis"])])
def test_a_failed_step_writes_nothing_after_it(step, done):
    r = Recorder(fail=step)
    with pytest.raises(ConnectionError):
        asyncio.run(Checkpoint(r, r, r).flush(effects()))  # type: ignore[arg-type]
    assert r.calls == done
