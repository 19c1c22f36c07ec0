"""How long the worker rescores after each batch: a slice while the stream keeps up, a share of a full batch,
a small share of a batch while records wait on the broker (rescore.slice_after)."""

from __future__ import annotations

import pytest

from stream_app.worker.rescore import BEHIND_SHARE, RESCORE_SHARE, slice_after


@pytest.mark.parametrize("events, took, behind, expected", [
    (120, 0.08, False, 0.05),  # keeping up: the slice bounds how long the next events wait
    (120, 0.08, True, BEHIND_SHARE * 0.08),  # behind: a tenth of the batch's time, the events catch up
    (5000, 2.0, False, RESCORE_SHARE * 2.0),  # a full batch is a backlog: the rescore gets its share
    (5000, 2.0, True, RESCORE_SHARE * 2.0),
    (5000, 0.02, False, 0.05),  # never less than the slice after a full batch
    (0, 0.0, True, 0.05),  # an empty batch (the idle stream's slice) is never behind
])
def test_the_slice_after_a_batch(events, took, behind, expected):
    got = slice_after(events, took, full_batch=5000, rescore_slice=0.05, behind=lambda: behind)
    assert got == pytest.approx(expected)


def test_the_lag_is_asked_only_after_a_batch_short_of_full():
    def asked():
        raise AssertionError("the lag was read")

    assert slice_after(5000, 2.0, full_batch=5000, rescore_slice=0.05, behind=asked) == RESCORE_SHARE * 2.0
    assert slice_after(0, 0.0, full_batch=5000, rescore_slice=0.05, behind=asked) == 0.05
