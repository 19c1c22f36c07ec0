"""What the processor needs from the Faust Table and from Redis and Kafka, and what it counts.

Protocols, so that the unit tests drive the processor with a dict and an in-memory twin of Redis, and the
worker with the Faust Table and the real clients (worker/app.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from stream_app.core.movers import Interval
from stream_app.core.profile import Announced, ProfileWrite, StoredProfile
from stream_app.core.scoring import Boundaries
from stream_app.kafka.partitioner import partitions_of
from stream_app.worker.boundaries import Published
from stream_app.worker.messages import Msg


class StateTable(Protocol):
    """The Faust Table as the processor sees it (a dict in unit tests)."""

    def get(self, key: bytes, msg: Msg) -> bytes | None: ...
    def set(self, key: bytes, value: bytes, msg: Msg) -> None: ...
    def partition_items(self, partition: int) -> Iterable[tuple[bytes, bytes]]: ...
    async def drain(self) -> None: ...


class Sinks(Protocol):
    """Redis and Kafka as the processor sees them."""

    async def write_profiles(self, writes: list[ProfileWrite]) -> list[tuple[int, int]]: ...
    async def read_profiles(self, customer_ids: list[str]) -> list[StoredProfile | None]: ...
    async def announce(self, announced: list[tuple[str, Announced]]) -> None: ...
    async def publish(self, changes: list[tuple[bytes, bytes]], dead: list[tuple[bytes | None, bytes]],
                      audience: list[tuple[bytes, bytes]]) -> None: ...
    async def latest_boundaries(self) -> Boundaries: ...
    async def latest_published(self) -> Published: ...
    async def mark_rescored(self, partition: int, version: int, rules_fp: str) -> None: ...
    async def movers(self, spans: dict[str, list[Interval]]) -> set[str]: ...
    async def last_rescore(self, partition: int) -> tuple[int, str] | None: ...
    async def published_between(self, lo: int, hi: int) -> list[Published] | None: ...


@dataclass
class Counters:
    events: int = 0
    applied: int = 0
    duplicates: int = 0
    replayed: int = 0
    dead: int = 0
    changes: int = 0
    audience_moves: int = 0
    stale: int = 0
    rescored: int = 0
    repaired: int = 0  # rescored because Redis differed from the state (a dead worker's last writes)
    controls: int = 0
    batches: int = 0
    failed: int = 0  # customers a rescore could not score (logged; their state and profile are left as they were)
    narrow_rescores: int = 0  # partition rescores that looked only at the customers the cut move touches
    full_rescores: int = 0  # partition rescores that scanned every customer of the partition
    takeover_rescores: int = 0  # of the narrow ones, first rescores after an assignment (rescore.since_last_rescore)
    compared: int = 0  # profiles rescores read from Redis to compare with unchanged customers



def iter_partition(items: Iterator[tuple[bytes, bytes]], partition: int, partitions: int,
                   block: int = 100_000) -> Iterator[tuple[bytes, bytes]]:
    """Only the keys the producer's partitioner puts in ``partition`` (a store may hold standby or stale keys),
    hashed ``block`` keys at a time."""
    while chunk := list(itertools.islice(items, block)):
        for (key, value), p in zip(chunk, partitions_of([key for key, _ in chunk], partitions)):
            if p == partition:
                yield key, value
