"""One batch of the orders topic: fold, score and decide; the checkpoint then writes the effects.

The worker runs at-least-once, so any batch may be processed again from an
older state. Per batch, in this order:

1. fold each event into its customer's state (a fact set: a duplicate or a
   replayed offset changes nothing);
2. score every changed customer against the current boundaries, and read the
   profiles Redis holds for them (one round trip);
3. decide each one's Redis write, change and audience events against the
   Redis profile (core/decide.py, pure), and encode the events;
4. hand the effects to the checkpoint (worker/checkpoint.py), which delivers
   the events, writes Redis, then the Table, in its numbered order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from stream_app.audiences.rules import AudienceRules
from stream_app.core import stored as codec
from stream_app.core.decide import Decision, Scored, decide, profile_write, recorded, seen_scores
from stream_app.core.fold import CustomerState, apply
from stream_app.core.model import OrderEvent, Scores, Totals
from stream_app.core.movers import Interval
from stream_app.core.profile import Announced, ProfileWrite, StoredProfile, WriteStatus
from stream_app.core.scoring import Boundaries, RankValues
from stream_app.core.segments import SegmentMap
from stream_app.core.stored import Stored, remember
from stream_app.core.validate import decode as decode_event
from stream_app.errors import BadEvent
from stream_app.kafka import audience_events
from stream_app.kafka import changes as kafka_changes
from stream_app.kafka.dead_letter import dead_letter, dead_letter_key
from stream_app.worker import control
from stream_app.worker.checkpoint import Checkpoint, Effects, Record
from stream_app.worker.messages import Msg
from stream_app.worker.ports import Counters, Sinks, StateTable
from stream_app.worker.rescore import (RESCORE_CHUNK, RESCORE_DEPTH, InFlight, RescoreJob, RescoreLedger, RescorePace,
                                       by_partition, since_last_rescore, slice_after, sort_out)
from stream_app.worker.scorer import Scorer

log = logging.getLogger("rfm_stream.worker")
#: customers decided between two turns of the event loop: a rescore chunk's writes (announce, deliver,
#: write) run while the next chunk is decided, and each step starts only when the loop gets a turn
YIELD_EVERY = 50
#: unexpected failures logged with their traceback; after that only counted (a hostile stream must not flood the log)
TRACEBACKS_LOGGED = 10


@dataclass(slots=True)
class Pending:
    """A customer touched in this batch."""

    stored: Stored
    msg: Msg
    changed: bool = False
    cause: str = "order"
    occurred_us: int = 0
    #: the records folded into ``stored`` in this batch: to find the one to blame if the customer cannot be scored
    events: list[tuple[Msg, OrderEvent]] = field(default_factory=list)
    #: a rescore's scoring of the state's recorded rank values (``sort_out``): reused when the customer is
    #: scored with the same boundaries and its totals still rank so
    known: tuple[Boundaries, RankValues, Scores] | None = None


@dataclass(slots=True)
class Planned:
    """A changed customer's decision with its events encoded (encoding can fail: before the state records it)."""

    decision: Decision
    change: Record | None
    moves: list[Record]
    #: the change and audience events as recorded in Redis before they are delivered (None: no event)
    announce: Announced | None = None


class Processor:
    """Processes batches; owns the worker's current boundaries (the newest version seen)."""

    def __init__(self, table: StateTable, sinks: Sinks, segments: SegmentMap, topic: str,
                 now_us: Callable[[], int] = lambda: int(time.time() * 1_000_000),
                 rules: AudienceRules | None = None, rules_fp: str = "", checkpoint: Checkpoint | None = None,
                 partitions: int | None = None):
        self.table = table
        self.checkpoint = checkpoint or Checkpoint(table, sinks)
        self.scorer = Scorer(segments, rules, rules_fp, now_us)
        self.rules_fp = rules_fp
        self.sinks = sinks
        self.segments = segments
        self.topic = topic
        self.now_us = now_us
        self.bounds = Boundaries()
        self.counters = Counters()
        self.ledger = RescoreLedger()
        #: the orders topic's partition count: a rescore keeps its own customers of a mover set (None: every
        #: rescore scans its whole partition)
        self.partitions = partitions
        self._failures_logged = 0
        #: called with each partition rescore's duration in seconds (the worker's metrics)
        self.on_rescore: Callable[[float], None] | None = None
        #: seconds of rescoring after each batch (``rescore.slice_after``: more after a full batch, less while
        #: the stream is behind); None: a control's rescore runs whole before ``process`` returns (events
        #: behind it wait for all of it)
        self.rescore_slice: float | None = None
        #: True when records wait on the broker past the batch just done (the worker's consumer lag)
        self.behind: Callable[[], bool] = lambda: False
        self.rescore_chunk = RESCORE_CHUNK
        self.rescore_pace = RescorePace()
        #: a batch this long is a backlog (the worker's ``batch_size``): its rescore slice is a share of it
        self.full_batch = 5000
        #: perf_counter() at the end of the last batch that held events (the worker's idle rescore waits for quiet)
        self.last_batch_at = 0.0
        #: the movers queries by (version, spans), each answer by partition: the controls of one version, one
        #: per partition, ask for the same spans
        self._movers: dict[tuple, asyncio.Task] = {}
        self.jobs: dict[int, RescoreJob] = {}
        #: called with (partition, control offset) when a rescore job starts and (partition, None) when it is
        #: done: the worker keeps the partition's commit at that offset meanwhile
        self.on_pin: Callable[[int, int | None], None] | None = None
        #: the rescore chunks being written while the next one is scored, oldest first (``_rescore_chunk``)
        self._in_flight: deque[InFlight] = deque()
        self.rescore_depth = RESCORE_DEPTH
        #: customers whose last write failed midway: their decisions read Redis, even in a trusted partition
        self._in_doubt: set[str] = set()

    def offer(self, bounds: Boundaries) -> None:
        if bounds.version > self.bounds.version:
            self.bounds = bounds

    async def refresh(self) -> None:
        self.offer(await self.sinks.latest_boundaries())

    async def process(self, msgs: list[Msg]) -> None:
        """One batch; control messages split it so a rescore sees every event before it.

        Whatever fails on one record (decoding, validation, folding, and in ``_flush`` scoring and formatting)
        makes that record a dead letter with the reason; only a server fault (an I/O error) leaves this method.
        """
        started = time.perf_counter()
        if msgs:
            self.counters.batches += 1
        if self._in_flight:
            await self._land_for(msgs)
        pending: dict[str, Pending] = {}
        dead: list[tuple[bytes | None, bytes]] = []
        for m in msgs:
            if control.is_control(m.key):
                await self._flush(pending, dead)
                pending, dead = {}, []
                t_control = time.perf_counter()
                await self._control(m)
                started += time.perf_counter() - t_control  # a rescore's share is of the events' time
                continue
            self.counters.events += 1
            try:
                ev = decode_event(m.value if m.value is not None else b"")
                if m.key is None or m.key != ev.customer_id.encode():
                    raise BadEvent("the record key must be the customer_id (a customer lives in one partition)",
                                   "customer_id")
            except Exception as exc:
                dead.append(self._dead(m, exc))
                continue
            p = pending.get(ev.customer_id)
            if p is None:
                raw = self.table.get(m.key, m)
                try:
                    stored = (codec.decode(ev.customer_id, raw) if raw is not None
                              else Stored(CustomerState(ev.customer_id)))
                except Exception as exc:
                    dead.append(self._dead(m, exc, "the customer's stored state cannot be read"))
                    continue
                p = pending[ev.customer_id] = Pending(stored, m)
            if m.offset <= p.stored.last_offset:
                self.counters.replayed += 1
                continue
            try:
                _, changed = apply(p.stored.state, ev)
            except Exception as exc:
                dead.append(self._dead(m, exc))
                continue
            p.stored.last_offset = m.offset
            p.events.append((m, ev))
            if changed:
                self.counters.applied += 1
                p.changed, p.cause, p.occurred_us, p.msg = True, ev.type, ev.occurred_us, m
            else:
                self.counters.duplicates += 1
        await self._flush(pending, dead)
        if self.rescore_slice is not None:
            await self.rescore_step(slice_after(len(msgs), time.perf_counter() - started, full_batch=self.full_batch,
                                                rescore_slice=self.rescore_slice, behind=self.behind))
        if msgs:
            self.last_batch_at = time.perf_counter()

    async def _land_for(self, msgs: list[Msg]) -> None:
        """Before a batch, wait for the rescore chunks still being written if it holds an event of one of their
        customers (its fold must start from the state the chunk writes to the Table, not be overwritten by
        it) or a control record (a new rescore must not queue behind customers that leave the queue rescored
        to older boundaries). Other batches go on while they are written: the writes are 20-40 ms of round
        trips whatever the chunk's size, which the events and the rescore would otherwise both wait for."""
        flying: set[bytes] = set()
        for flight in self._in_flight:
            flying |= flight.keys
        if any(m.key in flying or control.is_control(m.key) for m in msgs):
            async with self._stopping_flights_on_failure():
                await self._land()

    async def _flush(self, pending: dict[str, Pending], dead: list[tuple[bytes | None, bytes]]) -> None:
        planned = await self._plan(pending, dead)
        if planned is not None:
            await self._write(*planned)

    async def _plan(self, pending: dict[str, Pending], dead: list[tuple[bytes | None, bytes]], trusted: bool = False
                    ) -> tuple[Effects, list[int]] | None:
        """Steps 2 and 3 of the module docstring: the effects of a flush, and the partition of each profile
        write in order; None: nothing to write. ``trusted``: a rescore chunk of a trusted partition
        (``_profiles``)."""
        changed = [p for p in pending.values() if p.changed]
        if not changed and not dead:
            return None
        profiles = await self._profiles(changed, trusted)
        if any(r is not None and max(r.boundaries_version, r.pending.boundaries_version if r.pending else 0)
               > self.bounds.version for r in profiles):
            await self.refresh()  # a profile scored with boundaries this worker has not seen yet: catch up
        effects = Effects(dead=dead)
        written_in: list[int] = []  # the partition of each profile write, in order
        updated_us = self.now_us()  # one write, one time: its customers' updated_at is formatted once
        for i, (p, r) in enumerate(zip(changed, profiles)):
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)  # a rescore chunk being written moves on to its next step meanwhile
            try:
                planned = self._decide(p, r, updated_us)
            except Exception as exc:
                p, planned = self._isolate(p, r, dead, exc)
                if p is None:
                    continue
            effects.states.append((p.stored, p.msg))
            if planned is None:
                continue
            self.ledger.scored(p.msg.partition, self.bounds)
            decision = planned.decision
            if decision.status is WriteStatus.STALE:
                self.counters.stale += 1  # Redis holds a newer state (a replay still catching up): keep it
                self.ledger.distrust(p.msg.partition)
            if decision.write is None:
                continue
            written_in.append(p.msg.partition)
            if decision.resend is not None:  # a dead worker's events, maybe never delivered: before this one's
                key = p.stored.state.customer_id.encode()
                effects.changes.extend((key, v) for v in decision.resend.changes)
                effects.audience.extend((key, v) for v in decision.resend.audience_events)
            if planned.announce is not None:
                effects.announced.append((p.stored.state.customer_id, planned.announce))
            if planned.change is not None:
                effects.changes.append(planned.change)
            effects.audience.extend(planned.moves)
            effects.profiles.append(decision.write)
        self.counters.dead += len(dead)
        self.counters.changes += len(effects.changes)
        self.counters.audience_moves += len(effects.audience)
        return effects, written_in

    async def _profiles(self, changed: list[Pending], trusted: bool) -> list[StoredProfile | None]:
        """What Redis holds for each changed customer, read in one round trip and refreshing the boundaries
        first. A rescore chunk of a trusted partition reads only its customers in doubt: Redis holds what
        the others' states record as last written (rescore.py), and the read waited behind the last chunk's
        writes in Redis, so the next chunk could not be decided while they ran."""
        ids = [p.stored.state.customer_id for p in changed]
        if not trusted:
            await self.refresh()
            return await self.sinks.read_profiles(ids)
        doubt = [cid for cid in ids if cid in self._in_doubt]
        read = dict(zip(doubt, await self.sinks.read_profiles(doubt))) if doubt else {}
        return [read[cid] if cid in read else codec.as_written(p.stored) for cid, p in zip(ids, changed)]

    async def _write(self, effects: Effects, written_in: list[int]) -> None:
        """Step 4: the checkpoint writes the effects; a write Redis refused as stale withdraws its partition's
        trust. A write that fails midway leaves its customers in doubt (announced, delivered or written in
        part) until a write of theirs succeeds."""
        try:
            statuses = await self.checkpoint.flush(effects)
        except BaseException:
            self._in_doubt.update(w.customer_id for w in effects.profiles)
            raise
        if self._in_doubt:  # almost always empty: a flush pays nothing for it
            self._in_doubt.difference_update(w.customer_id for w in effects.profiles)
        for status, partition in zip(statuses, written_in):
            if status == WriteStatus.STALE:  # another writer got there first (a worker the group already replaced)
                self.counters.stale += 1
                self.ledger.distrust(partition)

    def _decide(self, p: Pending, r: StoredProfile | None, updated_us: int | None = None) -> Planned:
        """A changed customer's decision, its events encoded, then recorded in its state.

        Everything that can fail (scoring, formatting) runs before the state records the new scoring.
        """
        decision = decide(p.stored, self._score(p, updated_us=updated_us), r)
        change = kafka_changes.record(decision.change) if decision.change is not None else None
        moves = audience_events.records(decision.moves)
        announce = None
        if (change or moves) and decision.write is not None:
            w = decision.write
            announce = Announced(w.seq, w.boundaries_version, w.segment or None, w.scores(), w.audiences,
                                 (change[1],) if change else (), tuple(v for _, v in moves))
        if decision.scoring is not None:
            remember(p.stored, decision.scoring)
        return Planned(decision, change, moves, announce)

    def _isolate(self, p: Pending, r: StoredProfile | None, dead: list[tuple[bytes | None, bytes]], exc: Exception
                 ) -> tuple[Pending | None, Planned | None]:
        """A customer that cannot be scored: fold this batch's records again, one at a time from the stored
        state, and make each record after which it cannot be scored a dead letter. Returns the customer
        without them and its decision, or (None, None) when no record is to blame (a rescore): then the
        state and the profile stay as they were and the failure is logged."""
        cid = p.stored.state.customer_id
        if not p.events:
            self.counters.failed += 1
            self._log_failure(f"customer {cid} cannot be scored", exc)
            return None, None
        raw = self.table.get(cid.encode(), p.msg)
        good = Pending(codec.decode(cid, raw) if raw is not None else Stored(CustomerState(cid)), p.msg)
        for m, ev in p.events:
            trial = _clone(good)
            try:
                _, changed = apply(trial.stored.state, ev)
                trial.stored.last_offset = m.offset
                if changed:
                    trial.changed, trial.cause, trial.occurred_us, trial.msg = True, ev.type, ev.occurred_us, m
                    self._decide(_clone(trial), r)
            except Exception as failure:
                dead.append(self._dead(m, failure))
                continue
            trial.events.append((m, ev))
            good = trial
        if not good.changed:
            return good, None
        try:
            return good, self._decide(good, r)
        except Exception as failure:
            self.counters.failed += 1
            self._log_failure(f"customer {cid} cannot be scored", failure)
            return None, None

    def _dead(self, m: Msg, exc: Exception, context: str = "") -> tuple[bytes | None, bytes]:
        """The dead letter of a record refused with ``exc``: a BadEvent's reason, else the exception named."""
        if isinstance(exc, BadEvent):
            reason, field_name = exc.reason, exc.field
        else:
            reason, field_name = f"{context or 'cannot be processed'}: {type(exc).__name__}: {exc}", None
            self._log_failure(f"record {m.partition}/{m.offset} refused", exc)
        return dead_letter_key(m.key), dead_letter(raw=m.value, key=m.key, reason=reason, field=field_name,
                                                   topic=self.topic, partition=m.partition, offset=m.offset,
                                                   now_us=self.now_us())

    def _log_failure(self, what: str, exc: Exception) -> None:
        self._failures_logged += 1
        if self._failures_logged <= TRACEBACKS_LOGGED:
            log.warning("%s: %s: %s", what, type(exc).__name__, exc, exc_info=exc)

    def _score(self, p: Pending, updated_us: int | None = None) -> Scored:
        return self.scorer.score(p.stored.state, self.bounds, p.cause, p.occurred_us, updated_us=updated_us,
                                 known=p.known)

    def settle(self, stored: Stored, totals: Totals | None = None, updated_us: int | None = None
               ) -> ProfileWrite | None:
        """A customer's profile under the current boundaries, recorded in its state, with no event published.

        How a bulk load of history (worker/bootstrap.py) leaves each customer: the state and the profile a
        flush would have left, so later events fold, score and compare exactly as in a replay. None: the
        customer has no order, so no profile. ``totals``: the state's, when the caller already has them;
        ``updated_us``: the write's time, when the caller read the clock once for many customers.

        Redis holds nothing for the customer, so :func:`decide` would write ``profile_write``'s profile as it
        is and build the events of a first scoring, which nobody publishes: this takes the write and what
        the state records (``recorded``) without them (at 200k customers the scoring took 3.2 s, not 5.7 s).
        """
        scored = self.scorer.score(stored.state, self.bounds, "order", 0, totals, updated_us)
        write = profile_write(stored, scored)
        if write is not None:
            remember(stored, recorded(write, scored))
        return write

    async def _control(self, m: Msg) -> None:
        """A control record: a trigger naming a boundaries version. The boundaries come from the record the
        leader wrote in Redis, never from the control record (anyone can write to the orders topic)."""
        self.counters.controls += 1
        try:
            ctl = control.parse(m.value)
            published = await self.sinks.latest_published()
            if published.boundaries.version < ctl.version:
                raise BadEvent(f"names boundaries version {ctl.version}, which Redis does not hold (the leader's "
                               f"latest is {published.boundaries.version})", "version")
        except BadEvent as exc:
            await self._flush({}, [self._dead(m, exc)])
            return
        self.offer(published.boundaries)
        if self.ledger.repeated(m.partition, self.bounds.version):
            # Already rescored to these boundaries, and every event since was scored with them: a repeated
            # control (a new leader's resend, or a forged one) costs a Redis read, not a scan of the partition.
            await self.sinks.mark_rescored(m.partition, self.bounds.version, self.rules_fp)
            return
        await self._rescore(m, published.computed_us)

    async def _rescore(self, m: Msg, computed_us: int) -> None:
        """Queue the customers of this message's partition whose scores the new boundaries may change.

        They join the partition's job (a newer control adds its own candidates to what is left), which runs
        whole now when ``rescore_slice`` is None, else a slice after each batch (``rescore_step``). A
        narrow rescore's candidates come from a query of the rank index that runs meanwhile (0.6 s at 45k
        movers: the batch behind the control record waited for all of it).
        """
        bounds = self.bounds
        keys, spans = await self._rescore_candidates(m, bounds)
        job = self.jobs.get(m.partition)
        if job is None:
            job = self.jobs[m.partition] = RescoreJob(m, bounds, computed_us)
            if self.on_pin is not None:
                self.on_pin(m.partition, m.offset)
        else:
            job.bounds, job.computed_us = bounds, computed_us
        job.add(keys)
        if spans is not None:
            job.queries.append((bounds, spans))
            self._movers_task(bounds, spans)  # started now: the query runs while batches go on
        # from here every customer holds these boundaries' scores or is queued (or is scored by its events)
        self.ledger.starting(m.partition, bounds)
        if self.rescore_slice is None:
            async with self._stopping_flights_on_failure():
                while m.partition in self.jobs:
                    await self._collect(self.jobs[m.partition], m.partition, wait=True)
                    await self._rescore_chunk(m.partition, self.rescore_chunk)

    async def rescore_step(self, seconds: float) -> None:
        """Rescore for about ``seconds``, a chunk of customers at a time, oldest job first.

        Chunks are sized to what fits the time left (from the cost per customer measured so far, at least
        ``MIN_CHUNK``): a fixed chunk of 500 took about 0.1 s, twice the default slice, and events behind the
        slice waited for all of it. A job whose candidates are still being read waits for them at most
        until the slice ends.

        The cost per customer is the slice's chunks, each counting its wait for the older chunks' writes
        when more than ``rescore_depth`` would be in flight. A slice does not wait for its own last writes:
        the batches after it go on meanwhile unless they touch the customers being written (``_land_for``).
        Waiting for them cost each slice its chunk's round trips (the announcement in Redis, the delivery
        to Kafka, the write, the changelog), 20-40 ms whatever the chunk's size, so the pace shrank the
        chunks and a live worker rescored about 1,400 customers a second, a sixth of its speed in a whole
        rescore.
        """
        deadline = time.perf_counter() + seconds
        busy, looked_at = 0.0, 0
        async with self._stopping_flights_on_failure():
            while self.jobs:
                partition = await self._next_ready(deadline)
                if partition is None:
                    break
                n = self.rescore_pace.chunk(deadline - time.perf_counter(), self.rescore_chunk)
                t0 = time.perf_counter()
                looked_at += await self._rescore_chunk(partition, n)
                busy += time.perf_counter() - t0
                if time.perf_counter() >= deadline:
                    break
            # the last chunks are still being written: the next batch waits for them only if it touches
            # their customers (_land_for), and the next slice's chunk when more than the depth would fly
            self.rescore_pace.took(busy, looked_at)

    async def _next_ready(self, deadline: float) -> int | None:
        """The oldest job with customers queued or nothing left to wait for, after waiting for the queries
        until ``deadline`` if none is; None: none is ready."""
        while True:
            for partition, job in self.jobs.items():
                await self._collect(job, partition, wait=False)
                if len(job.keys) > self._writing(job) or not job.queries:
                    return partition
            running = [t for t in self._movers.values() if not t.done()]
            left = deadline - time.perf_counter()
            if not running or left <= 0:
                await asyncio.sleep(0)  # at least one turn of the loop for a query started in this batch
                return None
            await asyncio.wait(running, timeout=left)

    async def _collect(self, job: RescoreJob, partition: int, wait: bool) -> None:
        """Queue the job's candidates from the queries that are done (all of them with ``wait``).

        A query that failed (a server fault) raises here, where the batch is retried, and runs again then.
        """
        still = []
        for bounds, spans in job.queries:
            task = self._movers_task(bounds, spans)
            if wait:
                await asyncio.wait([task])
            if task.done() and (task.cancelled() or task.exception() is not None):
                self._movers.pop(self._movers_key(bounds, spans), None)  # the retry asks again
                if not task.cancelled():
                    raise task.exception()  # type: ignore[misc]
            if not task.done() or task.cancelled():
                still.append((bounds, spans))
                continue
            job.add(task.result().get(partition, []))
        job.queries = still

    async def _rescore_chunk(self, partition: int, n: int) -> int:
        """Score the next ``n`` queued customers of ``partition``'s job and start writing them; returns how many
        customers it looked at.

        A chunk's writes run while the next chunks are scored: Redis spent about 65 us per changed customer
        running the announce and write scripts, and with one chunk in flight the worker still waited a third
        of a rescore for it (each chunk's writes are three round trips in a row, each begun only when the
        decisions yield). Up to ``rescore_depth`` chunks are written at once; their customers are others, and
        chunks leave the queue only once written, in order: a server fault retries every chunk not landed (a
        replay, harmless). The job finishes when no customer is left.
        """
        t0 = time.perf_counter()
        job = self.jobs[partition]
        skip = self._writing(job)
        chunk = list(itertools.islice(job.keys, skip, skip + n))
        planned = (await self._plan(await self._rescored(partition, job, chunk), [], self.ledger.trusted(partition))
                   if chunk else None)
        job.busy_s += time.perf_counter() - t0
        await self._land(keep=self.rescore_depth - 1)
        if planned is None:  # nothing to write (an empty chunk has no plan either): it leaves the queue now
            self._in_flight.append(InFlight(partition, job, frozenset(chunk), 0, None))
            await self._land()  # and the job may be done
        else:
            self._in_flight.append(InFlight(partition, job, frozenset(chunk), len(planned[0].states),
                                            asyncio.ensure_future(self._write(*planned))))
        return len(chunk)

    async def _rescored(self, partition: int, job: RescoreJob, chunk: list[bytes]) -> dict[str, Pending]:
        """The customers of a chunk a rescore changes, and (in an untrusted partition) those Redis holds
        otherwise than their state says."""
        m, bounds, computed_us = job.msg, job.bounds, job.computed_us
        sorted_out = sort_out(((key, self.table.get(key, m)) for key in chunk), bounds, self.segments.segment,
                              self.rules_fp)
        for key, exc in sorted_out.failed:  # one unreadable state must not stop the partition's rescore
            self.counters.failed += 1
            self._log_failure(f"customer {key!r} cannot be rescored", exc)
        pending = {cid: Pending(stored, m, changed=True, cause="rescore", occurred_us=computed_us,
                                known=(bounds, ranks, new)) for cid, stored, ranks, new in sorted_out.changed}
        # unchanged by the boundaries, but Redis may differ: anyone's in an untrusted partition (rescore.py), a
        # customer in doubt in a trusted one (its write failed midway, maybe after Redis applied it)
        trusted = self.ledger.trusted(partition)
        unchanged = [u for u in sorted_out.unchanged if not trusted or u[0] in self._in_doubt]
        ids = [u[0] for u in unchanged]
        self.counters.compared += len(ids)
        for (cid, fields, new, segment), r in zip(unchanged, await self.sinks.read_profiles(ids) if ids else []):
            # a dead worker's announcement in doubt is repaired too: its events are delivered again
            seen = r.published() if r is not None else None
            if seen is not None and (r.pending is not None or (seen.segment, seen_scores(seen)) != (segment, new)):
                pending[cid] = Pending(codec.from_fields(cid, fields), m, changed=True, cause="rescore",
                                       occurred_us=computed_us)
                self.counters.repaired += 1
            else:
                self._in_doubt.discard(cid)  # Redis holds what its state says: nothing was left half done
        return pending

    def _writing(self, job: RescoreJob) -> int:
        """How many of the job's queued customers are in the chunks being written (the head of its queue)."""
        return sum(flight.size for flight in self._in_flight if flight.job is job)

    @contextlib.asynccontextmanager
    async def _stopping_flights_on_failure(self) -> AsyncIterator[None]:
        """Whatever raises inside (a server fault, a cancellation) stops every chunk being written, as a
        crash would, and leaves their customers queued for the retry (``_land(failed=True)``)."""
        try:
            yield
        except BaseException:
            await self._land(failed=True)
            raise

    async def _land(self, failed: bool = False, keep: int = 0) -> None:
        """Wait for the chunks being written, oldest first, until ``keep`` are left; then each one's customers
        leave the queue, and a job with none left finishes. ``failed``: the rescore is failing (a server
        fault), so every chunk's writes are stopped as a crash would stop them and its customers stay queued
        for the retry."""
        if failed:
            flights = list(self._in_flight)
            self._in_flight.clear()
            for flight in flights:
                if flight.writes is not None:
                    flight.writes.cancel()
                    with contextlib.suppress(BaseException):
                        await flight.writes
            return
        while len(self._in_flight) > keep:
            flight = self._in_flight[0]
            t0 = time.perf_counter()
            if flight.writes is not None:
                await flight.writes  # a failure leaves it queued: the caller's failed landing stops the rest
            self._in_flight.popleft()
            job = flight.job
            job.done(flight.size)
            self.counters.rescored += flight.rescored
            job.busy_s += time.perf_counter() - t0
            if self.jobs.get(flight.partition) is job and not job.keys and not job.queries:
                await self._finish(flight.partition)  # (a rebalance meanwhile dropped the job: nothing to finish)

    async def _finish(self, partition: int) -> None:
        """Every queued customer is rescored: record it (the ledger, then Redis) and release the commit."""
        job = self.jobs[partition]
        self.ledger.rescored(partition, job.bounds.version)
        await self.sinks.mark_rescored(partition, job.bounds.version, self.rules_fp)
        del self.jobs[partition]
        if self.on_pin is not None:
            self.on_pin(partition, None)
        if self.on_rescore is not None:
            self.on_rescore(job.busy_s)

    async def _rescore_candidates(self, m: Msg, bounds: Boundaries
                                  ) -> tuple[list[bytes], dict[str, list[Interval]] | None]:
        """What a rescore of the partition to ``bounds`` must look at (rescore.py): every key of the
        partition, or the rank-key spans whose customers the movers query finds."""
        spans = None
        if self.partitions is not None and self.ledger.trusted(m.partition):
            spans = self.ledger.spans(m.partition, bounds)
        elif self.partitions is not None and not self.ledger.doubted(m.partition):
            spans = await since_last_rescore(self.sinks, m.partition, bounds, self.rules_fp)
            if spans is not None:
                self.counters.takeover_rescores += 1
        if spans is None:
            self.counters.full_rescores += 1
            self.ledger.scanning(m.partition)
            return [key for key, _ in self.table.partition_items(m.partition)], None
        self.counters.narrow_rescores += 1
        return [], spans

    @staticmethod
    def _movers_key(bounds: Boundaries, spans: dict[str, list[Interval]]) -> tuple:
        return bounds.version, tuple(sorted((d, tuple(ss)) for d, ss in spans.items()))

    def _movers_task(self, bounds: Boundaries, spans: dict[str, list[Interval]]) -> asyncio.Task:
        """The customers in ``spans``, by partition: a query of Redis started once per (spans, version).

        A recompute sends one control per partition, and a worker owning several asks for the same spans
        each time (0.4 s and 0.2 s of sorting them out at 45k movers). Reusing the answer is exact while the
        assignment holds (``reassigned`` drops it): it is read after this worker took ``bounds`` (or newer:
        ``self.bounds`` only grows), so a customer of its partitions whose rank key moved since was written
        by an event this worker scored with those boundaries, and needs no rescore.
        """
        key = self._movers_key(bounds, spans)
        task = self._movers.get(key)
        if task is None:
            wanted = {self._movers_key(b, ss) for job in self.jobs.values() for b, ss in job.queries}
            for old in [k for k, t in self._movers.items() if t.done() and k not in wanted]:
                del self._movers[old]  # answers no job waits for
            task = self._movers[key] = asyncio.ensure_future(self._query_movers(spans))
        return task

    async def _query_movers(self, spans: dict[str, list[Interval]]) -> dict[int, list[bytes]]:
        return by_partition(await self.sinks.movers(spans), self.partitions)  # type: ignore[arg-type]

    def reassigned(self) -> None:
        """The worker's partitions were assigned again (a rebalance): each one's next rescore checks Redis.

        Unfinished rescores are dropped: their partitions' commits stayed at the control records, which the
        owners (this worker or another) read and rescore again. The shared movers answer is dropped too: it
        is exact only for partitions this worker owned since it was read.
        """
        self.ledger.reassigned()
        self.jobs.clear()
        for task in self._movers.values():
            task.cancel()
        self._movers.clear()


def _clone(p: Pending) -> Pending:
    """A copy of a pending customer whose state can be changed without touching the original's."""
    stored = codec.decode(p.stored.state.customer_id, codec.encode(p.stored))
    return Pending(stored, p.msg, changed=p.changed, cause=p.cause, occurred_us=p.occurred_us, events=list(p.events))
