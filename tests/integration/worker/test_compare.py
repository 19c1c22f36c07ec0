"""redis_differences, the one check that Redis equals the batch, on the real Redis: it sees each kind of drift."""

from __future__ import annotations

import orjson
import pandas as pd
import pytest

from stream_app.tools.compare import redis_differences

pytestmark = pytest.mark.integration

EXPECTED = pd.DataFrame({
    "customer_id": ["c1", "c2", "c3"],
    "segment": ["champions", "champions", "hibernating"],
    "r_score": [5, 4, 1], "f_score": [5, 5, 1], "m_score": [4, 5, 2],
    "monetary": ["120.50", "99.00", "3.10"], "frequency": [7, 9, 1],
}).set_index("customer_id")


def write_as_batch(client, prefix: str) -> None:
    for cid, row in EXPECTED.iterrows():
        client.hset(f"{prefix}:customer:{cid}", mapping={
            "segment": row.segment, "r_score": int(row.r_score), "f_score": int(row.f_score),
            "m_score": int(row.m_score), "monetary": row.monetary, "frequency": int(row.frequency)})
        client.sadd(f"{prefix}:segment:{row.segment}", cid)
        client.zadd(f"{prefix}:rank:r", {cid: 1})
    client.set(f"{prefix}:boundaries", orjson.dumps({"customers": len(EXPECTED)}))


def test_equal_then_each_kind_of_difference(redis_client, redis_prefix):
    prefix = redis_prefix + "glob*[x]"  # a prefix with glob characters is matched as it is
    write_as_batch(redis_client, prefix)
    assert redis_differences(redis_client, prefix, EXPECTED) == []

    redis_client.hset(f"{prefix}:customer:c2", "m_score", "4")
    redis_client.hset(f"{prefix}:customer:c9", "segment", "champions")
    redis_client.srem(f"{prefix}:segment:hibernating", "c3")
    redis_client.sadd(f"{prefix}:segment:lost", "c1")
    redis_client.set(f"{prefix}:boundaries", orjson.dumps({"customers": 2}))
    wrong = redis_differences(redis_client, prefix, EXPECTED)
    assert wrong == [
        "customer c2: Redis ['champions', '4', '5', '4', '99.00', '9'], batch ['champions', '4', '5', '5', '99.00', '9']",
        "4 profiles in Redis, 3 in batch",
        "segment hibernating: 1 wrong members",
        "segment lost: 1 wrong members",
        "boundaries cut over 2 customers, 3 in batch",
    ]
