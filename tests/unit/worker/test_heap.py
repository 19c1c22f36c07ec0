"""The heap report names the line whose allocations grew, and is silent when tracing is off."""

import tracemalloc

from stream_app.worker.heap import HeapGrowth

held: list[bytes] = []


def grow() -> None:
    held.extend(bytes(1000) + bytes([i % 256]) for i in range(2000))


def test_names_the_growing_line():
    tracemalloc.start(1)
    try:
        h = HeapGrowth()
        assert h.tick() == []  # the baseline
        grow()
        lines = h.tick()
    finally:
        tracemalloc.stop()
        held.clear()
    assert lines[0].startswith("heap: ") and "traced" in lines[0]
    top = lines[1]
    assert __file__ in top and f":{grow.__code__.co_firstlineno + 1}" in top, lines
    assert float(top.split()[1]) > 1.5  # about 2 MB held


def test_silent_without_tracing():
    assert not tracemalloc.is_tracing()
    assert HeapGrowth().tick() == []


def test_its_reports_pass_the_worker_log_levels():
    """The worker keeps libraries at WARNING and its own loggers at the chosen level: a report logged under
    another name would never be seen."""
    import logging

    from stream_app.monitor import logs
    from stream_app.worker import heap

    root = logging.getLogger().level
    try:
        logging.getLogger().setLevel(logging.WARNING)
        logs.apply("info")
        assert heap.log.isEnabledFor(logging.INFO)
    finally:
        logging.getLogger().setLevel(root)
