"""Every Lua script of the package compiles on the real Redis, with the status names prepended."""

from __future__ import annotations

import pytest

from stream_app.redis import scripts

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", scripts.ALL)
def test_the_script_compiles(name, redis_client):
    sha = redis_client.script_load(scripts.source(name))
    assert redis_client.script_exists(sha) == [True]
