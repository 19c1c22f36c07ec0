"""`rfm-stream sync`: wait until the worker group has caught up and Redis reflects a recompute covering it.

Three conditions, in order (each implies the writes before it, because the
worker writes Redis before its offsets can be committed):
1. the group's committed offsets (group = RFM_APP_ID) reach the orders
   topic's end offsets as they were when sync started;
2. ``{prefix}:boundaries`` covers the current ``{prefix}:index_changes``;
3. every partition's ``{prefix}:rescored`` has reached that boundaries version.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kafka import TopicPartition

from stream_app import connect

from stream_app.errors import RfmError
from stream_app.settings import Settings
from stream_app.redis.keys import boundaries_key, index_changes_key, rescored_key
from stream_app.worker.boundaries import Published


class SyncTimeout(RfmError):
    """The worker group did not catch up in time."""


@dataclass
class SyncState:
    lag: int = -1
    index_changes: int = 0
    covered: int = 0
    version: int = 0
    customers: int = 0
    rescored: dict[int, int] | None = None

    def describe(self) -> str:
        return (f"consumer lag {self.lag}, index changes {self.index_changes} (boundaries cover {self.covered}), "
                f"boundaries v{self.version} over {self.customers} customers, rescored {self.rescored}")


def end_offsets(settings: Settings) -> dict[TopicPartition, int]:
    consumer = connect.kafka_consumer(settings)
    try:
        parts = consumer.partitions_for_topic(settings.orders_topic)
        if not parts:
            raise RfmError(f"topic {settings.orders_topic} does not exist")
        tps = [TopicPartition(settings.orders_topic, p) for p in sorted(parts)]
        return consumer.end_offsets(tps)
    finally:
        consumer.close()


def sync(settings: Settings, timeout: float = 120.0, poll: float = 0.25,
         progress: Callable[[SyncState], None] | None = None) -> SyncState:
    """Wait for the three conditions; ``progress`` sees the state after each poll."""
    deadline = time.monotonic() + timeout
    state = SyncState()
    connect.probe_redis(settings)  # a wrong REDIS_URL is told now, not after the consumer lag reaches 0
    ends = end_offsets(settings)
    admin = connect.kafka_admin(settings, client_id="rfm-stream-sync")
    client = connect.redis_client(settings)
    p = settings.redis_prefix
    try:
        while True:
            committed = connect.committed_offsets(admin, settings.app_id) or {}  # None: not known yet, all to do
            state.lag = sum(max(0, end - (committed[tp].offset if tp in committed else 0)) for tp, end in ends.items())
            if progress is not None:
                progress(state)
            if state.lag == 0:
                break
            _wait(deadline, state, poll)
        while True:
            pipe = client.pipeline(transaction=True)
            pipe.get(index_changes_key(p))
            pipe.get(boundaries_key(p))
            pipe.hgetall(rescored_key(p))
            with connect.redis_errors(settings):
                changes, raw, rescored = pipe.execute()
            pub = Published.from_bytes(raw)
            state.index_changes, state.covered = int(changes or 0), pub.index_changes
            state.version, state.customers = pub.boundaries.version, pub.boundaries.customers
            state.rescored = {int(k): int(v) for k, v in rescored.items()}
            caught_up = state.covered >= state.index_changes and (
                state.version == 0 or all(state.rescored.get(tp.partition, 0) >= state.version for tp in ends))
            if progress is not None:
                progress(state)
            if caught_up:
                return state
            _wait(deadline, state, poll)
    finally:
        admin.close()
        client.close()


def _wait(deadline: float, state: SyncState, poll: float) -> None:
    if time.monotonic() > deadline:
        raise SyncTimeout(f"not in sync before the timeout: {state.describe()}")
    time.sleep(poll)
