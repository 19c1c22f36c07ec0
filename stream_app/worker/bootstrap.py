"""`rfm-stream bootstrap`: load a history into an empty deployment at batch speed, not at the worker's pace.

Replaying years of orders through the worker costs its full per-event path
(Kafka, a Redis round trip per batch, a changelog record per batch). Since a
history's result does not depend on how it arrives, this folds it in memory
with the same core (:func:`stream_app.core.fold.apply`, in the order `replay`
would send it), scores every customer against the boundaries of the whole
population, and writes what the worker group would have left behind (a shard of
customers at a time when there are more than fit in memory at once:
:mod:`stream_app.worker.population`):

- each customer's Table value (:mod:`stream_app.core.stored`), with the key
  bytes and raw value the Table writes, to the Table's changelog topic
  (compacted, one partition per orders partition) in the partition Kafka's
  partitioner gives the customer id on the orders topic, so a worker restores
  each customer where its events arrive;
- the Redis profiles, segment and audience sets and rank index through a bulk
  script that leaves what the worker's own script leaves in an empty deployment
  (:meth:`~stream_app.redis.profiles.ProfileWriter.load`);
- the boundaries, published by the leader's own code from that rank index
  (version 1), and every partition marked rescored to them.

The stored states keep ``last_offset = -1``: the history is not in the orders
topic, so workers read that topic from its first offset, and anything sent
later, the history again included, folds on top (order ids deduplicate).
No segment-change or audience events are published for the history.

Killed midway: ``{prefix}:bootstrap`` says "in progress" from before the first
write until after the last one, and a worker refuses to start while it does.
Running the same command again redoes the load: every write is idempotent
(changelog records are compacted by key and identical, a profile loaded again
is written with the same values, the boundaries are the same).
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from stream_app import connect
from stream_app.audiences import rules as audience_rules
from stream_app.core.fold import CustomerState, apply
from stream_app.core.model import Totals
from stream_app.core.profile import ProfileWrite
from stream_app.core.scoring import Boundaries
from stream_app.core.segments import SegmentMap
from stream_app.errors import BadEvent, RfmError, StackError
from stream_app.redis.keys import any_pattern, bootstrap_key
from stream_app.settings import Settings
from stream_app.core.stored import Stored
from stream_app.kafka.topics import changelog_topic, ensure_topics
from stream_app.worker.bulk_writes import Budget, IndexEntries, Loader, publish_boundaries

IN_PROGRESS, DONE = "in progress", "done"


class BootstrapRefused(RfmError):
    """The deployment is not one a history can be loaded into (not empty, workers running, another load)."""


@dataclass
class BootstrapResult:
    events: int = 0
    customers: int = 0
    scored: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    partitions: int = 0
    boundaries_version: int = 0
    resumed: bool = False
    seconds: float = 0.0
    #: every customer's stored value as loaded (what the changelog holds), kept for the caller: the command
    #: ends its process without freeing them (cli/bootstrap.py)
    loaded: list[Stored] = field(default_factory=list, repr=False)


def read_marker(client, prefix: str) -> dict | None:
    """The bootstrap marker of a deployment, or None when no bootstrap ever started there."""
    raw = client.get(bootstrap_key(prefix))
    if raw is None:
        return None
    try:
        doc = orjson.loads(raw)
        return doc if isinstance(doc, dict) else {"state": str(doc)}
    except orjson.JSONDecodeError:
        return {"state": raw.decode(errors="replace")}


def check_not_in_progress(settings: Settings) -> None:
    """Refuse (one line) to run a worker on a half-loaded deployment: it would take the partial load as whole."""
    client = connect.redis_client(settings)
    try:
        with connect.redis_errors(settings):
            marker = read_marker(client, settings.redis_prefix)
    finally:
        client.close()
    if marker is not None and marker.get("state") != DONE:
        raise BootstrapRefused(
            f"a bootstrap of this deployment (Redis prefix {settings.redis_prefix!r}) has not finished "
            f"({bootstrap_key(settings.redis_prefix)} says {marker.get('state')!r}): run the same "
            "`rfm-stream bootstrap` again to complete it before starting workers")


def fingerprint(path: str, fmt: str) -> str:
    """What identifies the input, so an interrupted load is only ever finished with the same history."""
    digest = hashlib.sha256(fmt.encode() + b"\0")
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_empty(settings: Settings, client, consumer) -> None:
    """Refuse when the deployment holds anything: Redis keys under its prefix, or changelog records."""
    p = settings.redis_prefix
    with connect.redis_errors(settings):
        for key in client.scan_iter(match=any_pattern(p), count=10_000):
            raise BootstrapRefused(f"the deployment is not empty: Redis holds {key.decode(errors='replace')!r} "
                                   f"under the prefix {p!r} (bootstrap only loads into an empty deployment)")
    topic = changelog_topic(settings)
    parts = consumer.partitions_for_topic(topic) if topic in consumer.topics() else None
    if parts:
        from kafka import TopicPartition

        ends = consumer.end_offsets([TopicPartition(topic, q) for q in parts])
        if any(ends.values()):
            raise BootstrapRefused(f"the deployment is not empty: the changelog topic {topic} holds "
                                   f"{sum(ends.values()):,} records (bootstrap only loads into an empty deployment)")


def check_no_workers(settings: Settings, admin, wait: float = 30.0) -> None:
    """A running worker restored its Table before the load and would never read the loaded changelog.

    A broker that has just started answers "coordinator not available" until it has created its offsets
    topic; that is retried for ``wait`` seconds, and any other Kafka error is one line.
    """
    from kafka.errors import KafkaError

    deadline = time.monotonic() + wait
    while True:
        try:
            group = admin.describe_groups([settings.app_id]).get(settings.app_id) or {}
            break
        except KafkaError as exc:
            if not getattr(exc, "retriable", False) or time.monotonic() >= deadline:
                raise StackError(f"{connect.kafka_server(settings)} cannot describe the consumer group "
                                 f"{settings.app_id}: {type(exc).__name__}") from None
            time.sleep(0.5)
    if group.get("members"):
        raise BootstrapRefused(f"{len(group['members'])} worker(s) of app id {settings.app_id} are running: "
                               "stop them before a bootstrap")


def fold_history(events: Iterable, result: BootstrapResult) -> dict[str, CustomerState]:
    """Every customer's state after its events in the given order; an event the worker would dead-letter
    (one more distinct order than a customer may hold) is refused and counted, as the worker would."""
    states: dict[str, CustomerState] = {}
    get = states.get
    for ev in events:
        result.events += 1
        try:
            states[ev.customer_id], _ = apply(get(ev.customer_id), ev)
        except BadEvent as exc:
            result.refused[exc.reason] = result.refused.get(exc.reason, 0) + 1
    return states


def fold_frame(frame, result: BootstrapResult, totals: dict[str, Totals] | None = None,
               factorized: tuple | None = None) -> dict[str, CustomerState]:
    """:func:`fold_history` of a frame in time order, with the same states, counts and refusals, at column speed.

    Most customers of a history are plain: orders and returns only, each order id once, short enough to be
    kept as it is, no categories, within MAX_FACTS. For them :func:`apply` inserts every event as a new fact
    in arrival order and counts it in ``seq``, so their state is built from the columns directly. Every
    other customer (a snapshot, a repeated or long order id, categories, a refusal) is folded event by event
    with :func:`apply` itself, in the frame's order.

    ``totals``: a dict to receive the plain customers' totals, taken from the columns (worker/column_totals.py).
    ``factorized``: ``pd.factorize`` of the frame's customer ids, when the caller has it (2 s at 10M events).
    """
    import numpy as np  # here, not at the top: the worker imports this module at start for one Redis check
    import pandas as pd

    from stream_app.adapters.frame import frame_to_events
    from stream_app.core.fold import MAX_FACTS, ORDER_KEY_CHARS
    from stream_app.core.model import ORDER, RETURN

    df = frame.df
    n = len(df)
    result.events += n
    if not n:
        return {}
    codes, customers = factorized if factorized is not None else pd.factorize(df["customer_id"], sort=False)
    kind = df["type"].to_numpy(dtype=object)
    is_return = kind == RETURN
    plain_row = (kind == ORDER) | is_return
    plain_row &= (df["order_id"].str.len() <= ORDER_KEY_CHARS).to_numpy(dtype=bool, na_value=False)
    plain_row &= np.fromiter((not c for c in df["categories"]), bool, n)
    plain_row &= ~maybe_repeated(codes, is_return, df["order_id"].to_numpy(dtype=object))
    events_of = np.bincount(codes, minlength=len(customers))
    plain = (np.bincount(codes, weights=~plain_row, minlength=len(customers)) == 0) & (events_of <= MAX_FACTS)

    # plain customers: rows grouped by customer, orders before returns, each in the frame's (time) order
    rows = np.flatnonzero(plain[codes])
    rows = rows[np.lexsort((is_return[rows], codes[rows]))]
    ids = df["order_id"].to_numpy(dtype=object)[rows].tolist()
    times, cents = df["occurred_us"].to_numpy()[rows], df["amount_cents"].to_numpy()[rows]
    channels = df["channel"].to_numpy(dtype=object)[rows]
    if totals is not None:
        from stream_app.worker.column_totals import plain_totals

        totals.update(plain_totals(customers[plain].tolist(), events_of[plain], ~is_return[rows], times, cents,
                                   channels, ids))
    facts = list(zip(times.tolist(), cents.tolist(), channels.tolist()))
    del times, cents, channels  # not held while the states are built from them
    returns_of = np.bincount(codes[rows], weights=is_return[rows], minlength=len(customers)).astype(np.int64)

    # the others: apply() on their events, in the frame's order
    others = BootstrapResult()
    folded = fold_history(frame_to_events(df.iloc[np.flatnonzero(~plain[codes])]), others)
    for reason, count in others.refused.items():
        result.refused[reason] = result.refused.get(reason, 0) + count

    states: dict[str, CustomerState] = {}
    start = 0
    counts = events_of.tolist()
    returns = returns_of.tolist()
    for code, (cid, is_plain) in enumerate(zip(customers.tolist(), plain.tolist())):
        if not is_plain:
            states[cid] = folded[cid]
            continue
        end = start + counts[code]
        split = end - returns[code]
        states[cid] = CustomerState(cid, orders=dict(zip(ids[start:split], facts[start:split])),
                                    returns=dict(zip(ids[split:end], facts[split:end])), seq=counts[code])
        start = end
    return states


def maybe_repeated(customer_codes, is_return, order_ids):
    """Rows whose (customer, order or return, order id) may occur more than once in the frame.

    Every row that does repeat is found; a row that does not can be found too when two 64-bit hashes collide,
    which only sends its customer to :func:`apply`, the exact fold, instead of the column-built state. So
    the hash decides speed, never a state. (pandas' ``duplicated`` over the three columns hashed the order
    ids through a table of 10M strings: 6.3 s at 10M events; this takes 2 s.)
    """
    import numpy as np
    import pandas as pd

    key = pd.util.hash_array(order_ids, categorize=False) * np.uint64(0x9E3779B97F4A7C15)
    key += customer_codes.astype(np.uint64) * np.uint64(2) + is_return.astype(np.uint64)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    same = ordered[1:] == ordered[:-1]
    repeated = np.zeros(len(key), bool)
    repeated[order[1:][same]] = True
    repeated[order[:-1][same]] = True
    return repeated


class Settler:
    """Scores customers against the boundaries of the whole population (version 1), as the worker's
    processor would (Processor.settle), a chunk at a time so the writes of one chunk overlap the scoring
    of the next."""

    def __init__(self, settings: Settings, bounds: Boundaries):
        from stream_app.worker.processor import Processor

        segments = SegmentMap.load(settings.segments_file)
        rules = audience_rules.load(settings.audiences_file, segments.names)
        self.processor = Processor(None, None, segments, settings.orders_topic,  # type: ignore[arg-type]
                                   rules=rules, rules_fp=rules.fingerprint)
        if bounds.customers:
            self.processor.offer(bounds)

    @property
    def bounds(self) -> Boundaries:
        return self.processor.bounds

    def settle(self, states: Iterable[CustomerState], totals: dict[str, Totals] | None = None
               ) -> tuple[list[Stored], list[ProfileWrite]]:
        """The stored values and Redis writes of these customers (``totals``: theirs, when already taken)."""
        stored: list[Stored] = []
        writes: list[ProfileWrite] = []
        updated_us = int(time.time() * 1_000_000)  # a chunk's profiles are one write: one updated_at, formatted once
        for state in states:
            st = Stored(state)
            w = self.processor.settle(st, totals[state.customer_id] if totals is not None else None, updated_us)
            if w is not None:
                writes.append(w)
            stored.append(st)
        return stored, writes


def settle_all(states: dict[str, CustomerState], settings: Settings
               ) -> tuple[list[Stored], list[ProfileWrite], Boundaries]:
    """Every customer's stored value and Redis write, and the boundaries they were scored with."""
    from stream_app.worker.population import Ranked

    ranked = Ranked()
    totals = ranked.add(states)
    settler = Settler(settings, ranked.boundaries(version=1))
    stored, writes = settler.settle((states[cid] for cid in sorted(states)), totals)
    return stored, writes, settler.bounds


class Progress:
    """A line per stage on stderr; a tqdm bar for the long loops when stderr is a terminal."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.tty = sys.stderr.isatty() and not quiet
        self.t0 = time.perf_counter()

    def stage(self, text: str) -> None:
        if not self.quiet:
            print(f"bootstrap [{time.perf_counter() - self.t0:6.1f}s] {text}", file=sys.stderr, flush=True)

    def bar(self, items, total: int, unit: str):
        if not self.tty:
            return items
        from tqdm import tqdm

        return tqdm(items, total=total, unit=unit, file=sys.stderr, leave=False)


def bootstrap(settings: Settings, path: str, fmt: str, progress: Progress | None = None,
              stop_after: int | None = None, shard_customers: int | None = None) -> BootstrapResult:
    """Load the history in ``path`` into the (empty) deployment of ``settings``; see the module docstring.

    ``stop_after``: end the process abruptly (exit status 137, as kill -9) after that many writes, each
    shard's profiles, then its changelog records: how the tests interrupt a load at a known point.
    ``shard_customers``: the most customers whose states are held at once (default: SHARD_CUSTOMERS of
    worker/population.py, imported when a load starts: the worker imports this module without pandas).

    Python's cycle collector is off meanwhile: the load holds millions of long-lived objects (facts, states,
    writes), none of them cyclic garbage, and each full collection walked them all (16 s of the 178 s that
    10M events took).
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _bootstrap(settings, path, fmt, progress, stop_after, shard_customers)
    finally:
        if collecting:
            gc.enable()


def _bootstrap(settings: Settings, path: str, fmt: str, progress: Progress | None,
               stop_after: int | None, shard_customers: int | None) -> BootstrapResult:
    progress = progress or Progress(quiet=True)
    result = BootstrapResult()
    t0 = time.perf_counter()
    connect.probe_redis(settings)
    connect.probe_kafka(settings)
    from stream_app.adapters.textfile import check_file

    check_file(path)
    print_ = progress.stage
    input_fp = fingerprint(path, fmt)
    client = connect.redis_client(settings)
    admin = connect.kafka_admin(settings, client_id="rfm-stream-bootstrap")
    consumer = connect.kafka_consumer(settings)
    p = settings.redis_prefix
    try:
        check_no_workers(settings, admin)
        with connect.redis_errors(settings):
            marker = read_marker(client, p)
        if marker is not None and marker.get("state") == DONE:
            raise BootstrapRefused(f"the deployment was already bootstrapped ({bootstrap_key(p)} says done); "
                                   "bootstrap only loads into an empty deployment")
        if marker is not None:
            if marker.get("input") != input_fp:
                raise BootstrapRefused(f"an unfinished bootstrap of another input is recorded in {bootstrap_key(p)}: "
                                       "finish it with that input (the same file and --format)")
            result.resumed = True
            print_("an interrupted bootstrap of this input is recorded: loading it again")
        else:
            check_empty(settings, client, consumer)
        import pandas as pd

        from stream_app.adapters import registry
        from stream_app.worker.population import SHARD_CUSTOMERS, Ranked, part, shard_rows

        # read and fold before the first write: a bad file leaves the deployment as it was
        frame = registry.read(path, fmt).in_time_order()
        result.skipped = dict(frame.skipped)
        if not len(frame):
            raise BootstrapRefused(f"{path}: no events to load")
        print_(f"read {len(frame):,} events from {path}")
        factorized = pd.factorize(frame.df["customer_id"], sort=False)  # once, for the shards and a whole fold
        shards = shard_rows(frame, shard_customers or SHARD_CUSTOMERS, factorized)
        ranked, held = Ranked(), None
        if shards is None:
            known: dict[str, Totals] = {}
            states = fold_frame(frame, result, known, factorized)
            held = (states, ranked.add(states, known))
            del frame, states, known
        else:
            for i, rows in enumerate(shards, 1):
                known = {}
                ranked.add(fold_frame(part(frame, rows), result, known), known)
                print_(f"folded shard {i} of {len(shards)}: {ranked.customers:,} customers so far")
        del factorized
        result.customers = ranked.customers
        print_(f"folded {result.events:,} events into {result.customers:,} customers")
        settler = Settler(settings, ranked.boundaries(version=1))
        index: list[IndexEntries | None] = [IndexEntries(ids, columns) for ids, columns in ranked.parts()]
        del ranked
        version = result.boundaries_version = settler.bounds.version
        print_(f"cut boundaries v{version} from {settler.bounds.customers:,} customers")

        with connect.redis_errors(settings):
            doc = {"state": IN_PROGRESS, "input": input_fp, "format": fmt, "started_us": int(time.time() * 1e6)}
            # a fresh load claims the deployment only if no other load claimed it since the checks above
            if not client.set(bootstrap_key(p), orjson.dumps(doc), nx=not result.resumed):
                raise BootstrapRefused(f"another bootstrap of this deployment started meanwhile ({bootstrap_key(p)})")
            partitions = ensure_topics(settings)
            result.partitions = partitions
            _ensure_changelog(settings, admin, consumer, partitions)
            if held is not None:
                batches: Iterable = [held]
            else:
                batches = ((fold_frame(part(frame, rows), BootstrapResult()), None) for rows in shards)  # type: ignore[union-attr]
            loader = Loader(settings, settler, result, progress, Budget(stop_after), partitions)
            loader.load(batches, index)
            bounds, rules_fp = settler.bounds, settler.processor.rules_fp
            del settler
            asyncio.run(publish_boundaries(settings, bounds, rules_fp, partitions))
            print_(f"published boundaries v{version} from the rank index in Redis")
            client.set(bootstrap_key(p), orjson.dumps({**doc, "state": DONE, "customers": result.customers,
                                                    "finished_us": int(time.time() * 1e6)}))
    finally:
        consumer.close()
        admin.close()
        client.close()
    result.seconds = time.perf_counter() - t0
    return result


def _ensure_changelog(settings: Settings, admin, consumer, partitions: int) -> None:
    """The Table's changelog topic as Faust creates it: compacted, as many partitions as the orders topic."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    from stream_app.kafka.topics import wait_partitions

    topic = changelog_topic(settings)
    if topic not in consumer.topics():
        try:
            admin.create_topics([NewTopic(topic, num_partitions=partitions,
                                          replication_factor=settings.replication_factor,
                                          topic_configs={"cleanup.policy": "compact"})])
        except TopicAlreadyExistsError:
            pass
    have = wait_partitions(settings, topic)
    if have != partitions:
        raise BootstrapRefused(f"the changelog topic {topic} has {have} partitions, the orders topic "
                               f"{settings.orders_topic} {partitions}: they must match")


__all__ = ["bootstrap", "check_not_in_progress", "BootstrapResult", "BootstrapRefused", "Progress",
           "IN_PROGRESS", "DONE"]
