"""The worker's collector pace: start-up's objects frozen out of collections, the young generation seldom."""

from __future__ import annotations

import gc

from stream_app.worker import collector


def test_tune_freezes_what_exists_and_collects_seldom():
    before = gc.get_threshold()
    held = [[] for _ in range(1000)]  # container objects alive when the worker is tuned
    try:
        collector.tune()
        assert gc.get_threshold() == (collector.YOUNG, collector.OLDER, collector.OLDER)
        assert gc.get_freeze_count() >= len(held)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
