"""redis-py against the real server: a round trip of each type the profiles use, and a 10,000-write pipeline."""

from __future__ import annotations

import pytest

from stream_app.stack.redis_server import address

pytestmark = pytest.mark.integration

N = 10_000


def test_round_trip(redis_client, redis_prefix):
    key, profile = redis_prefix + "k", redis_prefix + "profile:c1"
    assert redis_client.set(key, b"\x00bytes\xff") is True
    assert redis_client.get(key) == b"\x00bytes\xff"
    redis_client.hset(profile, mapping={"segment": "champions", "monetary": "1234.5", "r": 5})
    assert redis_client.hgetall(profile) == {b"segment": b"champions", b"monetary": b"1234.5", b"r": b"5"}
    assert redis_client.hincrby(profile, "r", -2) == 3
    assert redis_client.delete(key) == 1
    assert redis_client.get(key) is None
    assert redis_client.exists(profile) == 1


def test_pipeline_of_ten_thousand_writes(redis_client, redis_prefix):
    keys = [f"{redis_prefix}c{i}" for i in range(N)]
    with redis_client.pipeline(transaction=False) as pipe:
        for i, key in enumerate(keys):
            pipe.set(key, i)
        results = pipe.execute()
    assert results == [True] * N
    assert len(set(redis_client.scan_iter(match=redis_prefix + "*", count=1000))) == N
    assert redis_client.mget(keys) == [str(i).encode() for i in range(N)]


def test_it_is_a_real_redis_server(redis_client, redis_url):
    info = redis_client.info("server")
    assert int(info["redis_version"].split(".")[0]) >= 6
    assert info["tcp_port"] == address(redis_url)[1]
