"""Every use of a private faust-streaming name, in one place, and the start-up check that they all exist.

rfm-stream needs a few things Faust has no public API for; each was read in
faust-streaming 0.15.3 and is used only through a function of this module:

- ``faust.streams._current_event``: the context variable a Table read or
  write takes its partition from. ``take_events`` leaves the batch's last
  event current, so each read and write first makes its customer's own event
  current (else customers of other partitions land in the wrong changelog
  partition and are restored on the wrong worker after a rebalance);
- the aiokafka producer under Faust's (``Producer._ensure_producer``): the
  Table's changelog records are sent to it in batches (kafka/batches.py),
  which Faust's producer has no API for;
- the aiokafka fetcher's ``_fetch_max_wait_ms`` (Faust fixes it at 1.5 s), set
  to 100 ms once the consumer runs;
- the RocksDB store's ``_dbs``, ``_db_for_partition``, ``offset_key`` and
  ``rocksdb_options``: one partition's customers for a rescore, without Faust's
  offset record, and a newly assigned partition's changelog loaded in bulk
  (worker/bulk_restore.py);
- the consumer's ``_committed_offset`` (the group's offset when a partition
  was assigned), ``_new_offset`` (what a commit proposes; replaced for the
  orders topic by the offset guard's ``done``) and the ``_acked``,
  ``_acked_index`` and ``_gap`` bookkeeping it consumed (emptied, since
  nothing reads them any more).

:func:`check` runs when the worker starts: a Faust release that moved one of
them stops the worker with one error naming what is missing, rather than
letting it commit offsets it never processed.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import faust.streams

from stream_app.errors import RfmError

#: the consumer internals the commit of the orders topic relies on
CONSUMER_NAMES = ("_new_offset", "_committed_offset", "_acked", "_acked_index", "_gap")
#: the RocksDB store internals a rescore reads one partition through, and a bulk restore writes one through
ROCKSDB_NAMES = ("_dbs", "_db_for_partition", "offset_key", "rocksdb_options")


class FaustInternalsMissing(RfmError):
    """The installed faust-streaming lacks a private name rfm-stream relies on."""


def missing(app: Any, table: Any | None = None) -> list[str]:
    """The private names ``app`` (and ``table``, its customers Table) lack, as ``owner.name``."""
    out = [f"faust.streams.{n}" for n in ("_current_event",) if not hasattr(faust.streams, n)]
    out += [f"consumer.{n}" for n in CONSUMER_NAMES if not hasattr(app.consumer, n)]
    if not callable(getattr(getattr(app, "producer", None), "_ensure_producer", None)):
        out.append("producer._ensure_producer")
    if table is not None:
        store = table.data
        if not _is_memory(store):
            kind = f"{type(store).__module__}.{type(store).__qualname__}"
            out += [f"{kind}.{n}" for n in ROCKSDB_NAMES if not hasattr(store, n)]
    return out


def check(app: Any, table: Any | None = None) -> None:
    """Raise FaustInternalsMissing naming every private name the installed faust-streaming lacks."""
    gone = missing(app, table)
    if gone:
        raise _refusal(gone)


def _refusal(gone: list[str]) -> FaustInternalsMissing:
    """The one error for private names the installed faust-streaming lacks."""
    return FaustInternalsMissing(
        f"the installed faust-streaming {getattr(faust, '__version__', '?')} lacks {', '.join(gone)}; "
        "rfm-stream needs faust-streaming 0.15.x")


def make_current(handle: Any) -> None:
    """Make ``handle`` (a Faust event) the current event: the next Table read or write uses its partition."""
    faust.streams._current_event.set(weakref.ref(handle))


def aiokafka_producer(app: Any) -> Any:
    """The started aiokafka producer under Faust's, for sending whole batches (kafka/batches.py)."""
    return app.producer._ensure_producer()


def consumer_fetch_wait(app: Any, ms: int) -> None:
    """Make the broker hold the worker's fetch requests at most ``ms`` when it has no new records.

    Faust builds its aiokafka consumer with ``fetch_max_wait_ms=1500`` and no setting to change it.
    aiokafka fetches only partitions whose fetched records the app has taken; after a slow batch all the
    orders partitions still held records, so the fetch went out for the others (the leader topic, which
    never has records) and the broker held it 1.5 s before the orders partitions were fetched again:
    batches then waited 0.8-1.1 s for a handful of events. At 100 ms an idle worker sends ten empty
    fetches a second.
    """
    thread = getattr(app.consumer, "_thread", None)
    consumer = thread._ensure_consumer() if thread is not None else None
    fetcher = getattr(consumer, "_fetcher", None)
    if not isinstance(getattr(fetcher, "_fetch_max_wait_ms", None), int):
        raise _refusal(["consumer._thread._ensure_consumer()._fetcher._fetch_max_wait_ms"])
    fetcher._fetch_max_wait_ms = ms


def store_partition_items(store: Any, partition: int) -> Iterable[tuple[bytes, bytes]] | None:
    """A RocksDB store's items of one partition (one database each, less Faust's offset record);
    None for the memory store, which keeps every partition in one dict (the caller filters it)."""
    if _is_memory(store):
        return None
    skip = store.offset_key
    return ((k, v) for k, v in store._db_for_partition(partition).items() if k != skip)


def memory_items(store: Any) -> Iterator[tuple[bytes, bytes]]:
    """A snapshot of the memory store's items (a rescore awaits while the batch path writes)."""
    return iter(list(store.data.items()))


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The group's committed offset of ``tp`` as the consumer read it at assignment (None: none, or 0)."""
    return consumer._committed_offset.get(tp)


def replace_commit_offset(consumer: Any, topic: str, offset_of: Callable[[Any], int | None]) -> None:
    """A commit of ``topic`` proposes ``offset_of(tp)``, nothing else; other topics keep Faust's bookkeeping.

    Faust's acks of ``topic`` are dropped as the commit reads them: the offset guard replaced them.
    """
    original = consumer._new_offset

    def new_offset(tp: Any) -> int | None:
        if tp.topic != topic:
            return original(tp)
        consumer._acked[tp].clear()
        consumer._acked_index[tp].clear()
        consumer._gap.pop(tp, None)
        return offset_of(tp)

    consumer._new_offset = new_offset


#: RocksDB's own memory, as its properties name it (bytes; summed over the partitions' databases)
ROCKSDB_MEMORY = ("rocksdb.cur-size-all-mem-tables", "rocksdb.block-cache-usage", "rocksdb.estimate-table-readers-mem")


def rocksdb_memory(store: Any) -> dict[str, int]:
    """What RocksDB holds in memory across the store's open databases (empty for the memory store)."""
    if _is_memory(store):
        return {}
    totals = dict.fromkeys(ROCKSDB_MEMORY, 0)
    for db in list(store._dbs.values()):
        for name in ROCKSDB_MEMORY:
            totals[name] += db.property_int_value(name) or 0
    return totals


def _is_memory(store: Any) -> bool:
    """The memory store keeps every partition in one dict, ``data``; RocksDB has no such attribute."""
    return isinstance(getattr(store, "data", None), dict)


def store_database(store: Any, partition: int) -> Any:
    """The RocksDB store's database of ``partition``, opened with Faust's own options if it was not yet."""
    return store._db_for_partition(partition)


def bulk_loadable(store: Any) -> bool:
    """True for a RocksDB store on rocksdict (rfm-stream's binding), whose databases take write batches."""
    return not _is_memory(store) and bool(getattr(store.rocksdb_options, "use_rocksdict", False))


def store_write_batch(store: Any) -> Any:
    """An empty write batch of the store's databases, as its ``apply_changelog_batch`` makes one."""
    import rocksdict

    return rocksdict.WriteBatch(raw_mode=True)
