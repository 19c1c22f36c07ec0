"""bootstrap's emptiness check against a broker that has only just started (no server needed: a fake admin)."""

from __future__ import annotations

import pytest
from kafka.errors import CoordinatorNotAvailableError, GroupAuthorizationFailedError

from stream_app.errors import StackError
from stream_app.settings import Settings
from stream_app.worker.bootstrap import BootstrapRefused, check_no_workers


class Admin:
    """describe_groups fails with the given errors first, then answers ``group``."""

    def __init__(self, errors: list[Exception], group: dict):
        self.errors, self.group, self.calls = list(errors), group, 0

    def describe_groups(self, ids):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {ids[0]: self.group}


def test_a_fresh_broker_without_a_coordinator_yet_is_waited_for():
    admin = Admin([CoordinatorNotAvailableError(), CoordinatorNotAvailableError()], {"members": []})
    check_no_workers(Settings(), admin, wait=10)
    assert admin.calls == 3


def test_running_workers_are_refused_after_the_wait():
    admin = Admin([CoordinatorNotAvailableError()], {"members": [{"id": "w1"}]})
    with pytest.raises(BootstrapRefused, match="1 worker"):
        check_no_workers(Settings(), admin, wait=10)


def test_an_error_waiting_cannot_fix_is_one_line_at_once():
    admin = Admin([GroupAuthorizationFailedError()], {})
    with pytest.raises(StackError, match="GroupAuthorizationFailedError") as err:
        check_no_workers(Settings(), admin, wait=10)
    assert admin.calls == 1 and "\n" not in str(err.value)


def test_a_coordinator_that_never_comes_is_one_line_after_the_wait():
    admin = Admin([CoordinatorNotAvailableError()] * 100, {})
    with pytest.raises(StackError, match="CoordinatorNotAvailableError"):
        check_no_workers(Settings(), admin, wait=1)
