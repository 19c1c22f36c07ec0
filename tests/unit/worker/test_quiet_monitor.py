"""The worker's Faust app keeps no figures per event, and still the ones per commit."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

from faust.sensors.monitor import Monitor
from faust.types import TP

from stream_app.settings import Settings
from stream_app.worker.app import build_app
from stream_app.worker.quiet_monitor import QuietMonitor

TP0 = TP("orders", 0)
SILENCED = ("on_message_in", "on_stream_event_in", "on_stream_event_out", "on_message_out", "on_table_get",
            "on_table_set")


class Task:
    pass


class Stream:
    """What Faust's Monitor reads of a stream (it keeps weak references to streams and their tasks)."""

    def __init__(self) -> None:
        self.task_owner = Task()


def test_the_worker_app_uses_the_quiet_monitor(tmp_path):
    app = build_app(Settings(data_dir=tmp_path, store="memory://"), 2)
    assert isinstance(app.monitor, QuietMonitor)


def test_each_silenced_hook_replaces_faust_s_own_with_its_parameters():
    # a Faust release that renamed a hook would call its own again: this fails instead of silently costing
    for name in SILENCED:
        ours, faust_s = getattr(QuietMonitor, name), getattr(Monitor, name)
        assert ours is not faust_s
        assert list(inspect.signature(ours).parameters) == list(inspect.signature(faust_s).parameters), name


def test_events_leave_no_figures_and_commits_still_do():
    m, plain = QuietMonitor(), Monitor()
    message = SimpleNamespace(time_in=None, time_out=None, time_total=None)
    stream = Stream()
    table = SimpleNamespace(name="customers")
    for monitor in (m, plain):
        monitor.on_message_in(TP0, 5, message)
        state = monitor.on_stream_event_in(TP0, 5, stream, None)
        monitor.on_stream_event_out(TP0, 5, stream, None, state)
        monitor.on_message_out(TP0, 5, message)
        monitor.on_table_get(table, b"c1")
        monitor.on_table_set(table, b"c1", b"v")
        monitor.on_tp_commit({TP0: 6})
    assert plain.messages_received_total == 1 and plain.events_total == 1 and plain.tables  # what Faust counts
    assert m.messages_received_total == 0 and m.events_total == 0 and not m.tables and m.events_active == 0
    assert m.tp_committed_offsets == {TP0: 6} == plain.tp_committed_offsets
