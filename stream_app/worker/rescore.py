"""What a worker knows about each partition's last rescore, and so whom the next rescore must look at.

A rescore to new boundaries rewrites the customers whose scores they change. Which those are depends on
what the worker can vouch for:

- a partition it has not rescored since its assignment may hold profiles a dead worker left ahead of the
  state (written to Redis, lost from the changelog): its first rescore looks at every customer and
  compares the unchanged ones with Redis;
- after that, the worker's own writes keep Redis and the state in step, and every customer's stored scores
  are those of one of the boundaries the worker scored the partition with since its last rescore. Only
  customers whose rank key lies where one of those and the new boundaries score differently can change
  (core/movers.since): a few contiguous runs of the Redis rank index, whatever the population.

A write Redis refused as stale (another writer holds a newer profile) withdraws the partition's trust.

The same argument spares a trusted partition's rescore the read of its movers' profiles: Redis holds what
each state records as last written (``core.stored.as_written``), so the decision is taken against that. The
exceptions are customers whose last write failed midway (announced, delivered, or applied by Redis with its
reply lost): they stay in doubt until a write of theirs succeeds, and are read and compared with Redis like
the customers of an untrusted partition. The worker retries a failed batch in the same process, so its
customers are still queued, or are the retried batch's, when that happens.

The first rescore after an assignment need not look at everyone either (:func:`since_last_rescore`): Redis
can be ahead of the restored state only by the writes of batches whose offsets were never committed, which
the new owner replays. A replayed batch of events is judged by the write rule like any other; a replayed
rescore wrote customers whose scores differ between versions of the chain from the partition's last drained
rescore (``{prefix}:rescored``) to now, so only the candidates of ``core.movers.chain_intervals`` over that
chain are looked at, and those that come out unchanged are compared with Redis.

The candidates are queued in a :class:`RescoreJob` and rescored a chunk at a time between batches
(``Processor.rescore_step``), so events never wait for a whole rescore.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stream_app.core import movers
from stream_app.core.movers import Interval
from stream_app.core import stored as codec
from stream_app.core.model import Scores
from stream_app.core.scoring import Boundaries, RankValues
from stream_app.core.stored import Stored
from stream_app.kafka.partitioner import partitions_of
from stream_app.worker.messages import Msg

if TYPE_CHECKING:
    from stream_app.worker.boundaries import Published
    from stream_app.worker.ports import Sinks


class RescoreLedger:
    """Per partition: trusted or not, the version last rescored to, the boundaries scored with since."""

    def __init__(self) -> None:
        self._trusted: set[int] = set()
        self._rescored_to: dict[int, int] = {}
        self._scored_with: dict[int, dict[int, Boundaries]] = {}
        #: partitions where another writer was seen ahead since their last full scan: the chain argument
        #: (since_last_rescore) is about owners that died, so these are compared in full
        self._doubted: set[int] = set()

    def trusted(self, partition: int) -> bool:
        """Whether this worker rescored the partition since its assignment and nobody else wrote it since."""
        return partition in self._trusted

    def repeated(self, partition: int, version: int) -> bool:
        """A control for a version this trusted partition was already rescored to (a resend, or forged)."""
        return partition in self._trusted and self._rescored_to.get(partition, -1) >= version

    def scored(self, partition: int, bounds: Boundaries) -> None:
        """A customer of the partition was just scored with ``bounds``."""
        self._scored_with.setdefault(partition, {})[bounds.version] = bounds

    def distrust(self, partition: int) -> None:
        """Another writer holds a newer profile of this partition: the next rescore compares everyone."""
        self._trusted.discard(partition)
        self._doubted.add(partition)

    def doubted(self, partition: int) -> bool:
        """Whether another writer was seen ahead on this partition since its last full scan."""
        return partition in self._doubted

    def scanning(self, partition: int) -> None:
        """A rescore is about to look at every customer of the partition (and compare with Redis if untrusted)."""
        self._doubted.discard(partition)

    def starting(self, partition: int, bounds: Boundaries) -> None:
        """A rescore to ``bounds`` is about to write: its customers now hold these scores (its flush adds
        any newer boundaries it scores with)."""
        self._scored_with[partition] = {bounds.version: bounds}

    def rescored(self, partition: int, version: int) -> None:
        self._trusted.add(partition)
        self._rescored_to[partition] = version

    def reassigned(self) -> None:
        """A rebalance: no partition is trusted until its next rescore compares it with Redis."""
        self._trusted.clear()

    def spans(self, partition: int, bounds: Boundaries) -> dict[str, list[Interval]] | None:
        """The rank-key intervals a rescore of this partition to ``bounds`` must look in; None: everyone."""
        if partition not in self._trusted or partition not in self._scored_with:
            return None
        return movers.since(list(self._scored_with[partition].values()), bounds)


async def since_last_rescore(sinks: "Sinks", partition: int, bounds: Boundaries, rules_fp: str
                             ) -> dict[str, list[Interval]] | None:
    """Where a new owner's first rescore of ``partition`` to ``bounds`` must look; None: at everyone.

    Every customer of the partition holds in its restored state the scores of its last drained rescore
    ``R`` or of a later version (``mark_rescored`` runs after the changelog drain), and a dead owner's
    writes that the state lacks scored customers with versions from ``R`` to ``bounds``. So the customers
    whose keys lie in the chain's intervals are all that can differ, in the state or in Redis. Everyone is
    looked at when ``R`` is unknown, was marked by a worker with other audience rules (its customers hold
    those), a version of the chain is no longer kept or was published under other rules than this worker's,
    or the cut keys cannot say who moved.
    """
    last = await sinks.last_rescore(partition)
    if last is None or last[1] != rules_fp:
        return None
    chain = await sinks.published_between(last[0], bounds.version)
    return chain_spans(chain, bounds, rules_fp)


def chain_spans(chain: "list[Published] | None", bounds: Boundaries, rules_fp: str) -> dict[str, list[Interval]] | None:
    """The intervals of a chain of published versions ending at ``bounds``; None: look at everyone."""
    if not chain or chain[-1].boundaries != bounds or any(p.audiences_fp != rules_fp for p in chain):
        return None
    spans = movers.chain_intervals([p.boundaries for p in chain])
    if any(s.lo is None or s.hi is None for ss in spans.values() for s in ss):
        return None  # rescores_everyone for some step: the local scan is cheaper than the whole index
    return spans


def by_partition(ids: set[str], partitions: int) -> dict[int, list[bytes]]:
    """The keys of ``ids`` by the partition the producer's partitioner puts each in, in a stable order."""
    out: dict[int, list[bytes]] = {}
    keys = [cid.encode() for cid in sorted(ids)]
    for key, p in zip(keys, partitions_of(keys, partitions)):
        out.setdefault(p, []).append(key)
    return out


#: the most customers a rescore looks at between two checks of its time slice
RESCORE_CHUNK = 500
#: rescore chunks written at once while the next is scored. A chunk of 500 costs the worker about 24 ms and
#: its four writes in a row about 35 ms, so with two in flight the worker waited a sixth of a rescore: three
#: rescored 19k movers at 1M customers in 1.01-1.09 s against 1.20-1.31 s, while the live p99 at 1,000
#: orders/s with recomputes went from 355-376 to 396-406 ms. Four crowded out the events' writes on a machine
#: that could not keep up (docs/streaming.md, 2 December 17:50 and 3 December 18:05 UTC)
RESCORE_DEPTH = 3
#: rescoring after a full batch (a backlog) lasts at least this share of the batch's own time: a replay
#: leaves rescores a third of the worker, as the slices between batches did before events came first
RESCORE_SHARE = 0.5
#: the fewest: below this a chunk's round trips (Redis read and write, Kafka delivery) outweigh its customers
MIN_CHUNK = 20
#: records waiting on the broker past the batch just done (the consumer's lag) from which the stream is behind
BEHIND_RECORDS = 250
#: rescoring after a batch of a stream that is behind lasts this share of the batch's own time
BEHIND_SHARE = 0.1


def slice_after(events: int, took: float, *, full_batch: int, rescore_slice: float,
                behind: Callable[[], bool]) -> float:
    """Seconds of rescoring after a batch of ``events`` that took ``took`` seconds.

    While the stream keeps up, a slice of ``rescore_slice``: it bounds how long the next events wait behind a
    rescore. A full batch is a backlog (a replay), with no latency left to keep: the rescore gets its share.
    A batch short of full while records wait on the broker is a live stream falling behind: a recompute's
    movers had taken a slice after every batch of about 100 events, the worker fell to 450-650 events a
    second at 1,000 orders/s, and the probes' latency grew by a second every two seconds until the rescore
    ended. Then the rescore gets a tenth of the batch's time, at least a chunk: the events catch up, the
    lag drops under ``BEHIND_RECORDS`` and the full slices resume, so the rescore takes what the events leave.
    ``behind`` (the consumer's lag) is asked only for such a batch.
    """
    if events >= full_batch:
        return max(rescore_slice, RESCORE_SHARE * took)
    if events and behind():
        return BEHIND_SHARE * took
    return rescore_slice


@dataclass(slots=True)
class RescorePace:
    """The cost of rescoring one customer, measured chunk by chunk: how many fit in a time slice."""

    per_customer_s: float = 0.0  # a moving average; 0: nothing measured yet

    def chunk(self, seconds: float, most: int) -> int:
        if self.per_customer_s <= 0:
            return min(most, 4 * MIN_CHUNK)  # a first, small chunk measures the cost
        return min(most, max(MIN_CHUNK, int(seconds / self.per_customer_s)))

    def took(self, seconds: float, customers: int) -> None:
        if customers <= 0:
            return
        per = seconds / customers
        self.per_customer_s = per if self.per_customer_s <= 0 else 0.8 * self.per_customer_s + 0.2 * per


@dataclass(slots=True)
class RescoreJob:
    """A partition's rescore in progress: the customers left to look at, in the order they were queued.

    ``msg`` is the first control record of the job: its offset is where the partition's commit stays until
    the job is done (``Processor.on_pin``), so a crash or a rebalance midway replays it and the rescore.
    """

    msg: Msg
    bounds: Boundaries
    computed_us: int
    keys: deque[bytes] = field(default_factory=deque)
    queued: set[bytes] = field(default_factory=set)
    #: movers queries whose customers are not queued yet: (boundaries, rank-key spans) each
    queries: list[tuple[Boundaries, dict[str, list[Interval]]]] = field(default_factory=list)
    busy_s: float = 0.0  # time spent in its chunks

    def add(self, keys: Iterable[bytes]) -> None:
        for key in keys:
            if key not in self.queued:
                self.queued.add(key)
                self.keys.append(key)

    def done(self, n: int) -> None:
        for _ in range(n):
            self.queued.discard(self.keys.popleft())


@dataclass(slots=True)
class InFlight:
    """A rescore chunk being written (announced, published, written to Redis and the Table) while the next
    one is scored, or events are: the ``size`` customers at the head of ``job``'s queue (``keys``), of whom
    ``rescored`` changed."""

    partition: int
    job: RescoreJob
    keys: frozenset[bytes]
    rescored: int
    writes: "asyncio.Task[None] | None"

    @property
    def size(self) -> int:
        return len(self.keys)  # a job queues each key once, so a chunk's keys are distinct


@dataclass(slots=True)
class SortedOut:
    """A chunk of a rescore: who the new boundaries change, who they leave as they are, who cannot be read."""

    #: id, state, and the rank values it records with their scores under the rescore's boundaries
    changed: list[tuple[str, Stored, RankValues, Scores]] = field(default_factory=list)
    unchanged: list[tuple[str, list, Scores, str | None]] = field(default_factory=list)  # id, parsed state, scores, segment
    failed: list[tuple[bytes, Exception]] = field(default_factory=list)


def sort_out(states: Iterable[tuple[bytes, bytes | None]], bounds: Boundaries, segment_of: Callable[[int, int], str],
             rules_fp: str) -> SortedOut:
    """Sort a chunk's stored states: changed by ``bounds`` (or scored under other rules), or unchanged.

    Customers with no order, and those already scored with ``bounds`` or newer (by their own events while
    they waited in the queue), are neither: nothing to do.
    """
    out = SortedOut()
    for key, raw in states:
        try:
            if raw is None:
                continue
            v = codec.parse(raw)  # parsed once: a changed customer's state is built from the same fields
            scores, segment, bv, ranks, fp = codec.scoring_of(v)
            if ranks is None or bv >= bounds.version:
                continue
            cid = key.decode()
            new = bounds.score_values(cid, ranks)
            if new == scores and segment_of(new.r, new.f) == segment and fp == rules_fp:
                out.unchanged.append((cid, v, new, segment))  # audiences depend on the profile and rules only
            else:
                out.changed.append((cid, codec.from_fields(cid, v), ranks, new))  # inside the guard: it can fail
        except Exception as exc:
            out.failed.append((key, exc))
    return out
