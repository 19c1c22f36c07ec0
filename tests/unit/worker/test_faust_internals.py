"""The start-up check of the private Faust names rfm-stream relies on, against the installed faust-streaming."""

from __future__ import annotations

from types import SimpleNamespace

import faust
import pytest
from faust.types import TP

from stream_app.worker import faust_internals
from stream_app.worker.faust_internals import FaustInternalsMissing


PRODUCER = SimpleNamespace(_ensure_producer=lambda: None)


def app_and_table(tmp_path, store: str) -> tuple[faust.App, faust.Table]:
    app = faust.App(f"check-{store[:6]}", broker="kafka://127.0.0.1:1", store=store, datadir=str(tmp_path),
                    web_enabled=False)
    table = app.Table("customers", key_type=bytes, value_type=bytes, partitions=2, default=None)
    return app, table


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_the_installed_faust_has_every_name(tmp_path, store):
    app, table = app_and_table(tmp_path, store)
    assert faust_internals.missing(app, table) == []
    faust_internals.check(app, table)


def test_a_consumer_lacking_one_is_refused_naming_it():
    consumer = SimpleNamespace(_new_offset=None, _committed_offset={}, _acked={}, _acked_index={})  # no _gap
    with pytest.raises(FaustInternalsMissing, match=r"lacks consumer\._gap; rfm-stream needs faust-streaming 0\.15"):
        faust_internals.check(SimpleNamespace(consumer=consumer, producer=PRODUCER))


def test_a_producer_without_its_aiokafka_producer_is_refused():
    consumer = SimpleNamespace(_new_offset=None, _committed_offset={}, _acked={}, _acked_index={}, _gap={})
    app = SimpleNamespace(consumer=consumer, producer=SimpleNamespace(buffer=SimpleNamespace()))
    assert faust_internals.missing(app) == ["producer._ensure_producer"]


def test_a_rocksdb_store_lacking_its_partition_databases_is_refused(tmp_path):
    app, _ = app_and_table(tmp_path, "memory://")
    store = SimpleNamespace(offset_key=b"o", _db_for_partition=lambda p: {})  # neither _dbs nor a dict ``data``
    table = SimpleNamespace(data=store)
    assert faust_internals.missing(app, table) == ["types.SimpleNamespace._dbs",
                                                   "types.SimpleNamespace.rocksdb_options"]


def test_the_commit_offset_of_the_topic_is_replaced_and_faust_acks_dropped():
    ours, other = TP("orders", 0), TP("changelog", 0)
    calls = []
    consumer = SimpleNamespace(_acked={ours: [1, 2]}, _acked_index={ours: {1, 2}}, _gap={ours: object()},
                               _new_offset=lambda tp: calls.append(tp) or 999)
    faust_internals.replace_commit_offset(consumer, "orders", lambda tp: 7)
    assert consumer._new_offset(ours) == 7 and calls == []
    assert consumer._acked[ours] == [] and consumer._acked_index[ours] == set() and ours not in consumer._gap
    assert consumer._new_offset(other) == 999 and calls == [other], "other topics keep Faust's bookkeeping"


def test_the_fetch_wait_is_set_on_the_aiokafka_fetcher():
    fetcher = SimpleNamespace(_fetch_max_wait_ms=1500)
    thread = SimpleNamespace(_ensure_consumer=lambda: SimpleNamespace(_fetcher=fetcher))
    faust_internals.consumer_fetch_wait(SimpleNamespace(consumer=SimpleNamespace(_thread=thread)), 100)
    assert fetcher._fetch_max_wait_ms == 100


def test_a_consumer_without_the_fetcher_is_refused_naming_it():
    thread = SimpleNamespace(_ensure_consumer=lambda: SimpleNamespace())
    with pytest.raises(FaustInternalsMissing, match=r"_fetcher\._fetch_max_wait_ms"):
        faust_internals.consumer_fetch_wait(SimpleNamespace(consumer=SimpleNamespace(_thread=thread)), 100)
