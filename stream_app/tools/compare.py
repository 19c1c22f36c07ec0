"""How the profiles in Redis differ from the batch job's scores over the same events.

The stream and the batch must agree exactly; the end-to-end tests and the
soak benchmark both ask this one question, so they ask it of one function.
"""

from __future__ import annotations

from collections import defaultdict

import orjson
import pandas as pd
import redis

from stream_app.redis import keys

#: the hash fields compared, in the order of the batch columns below
FIELDS = ("segment", "r_score", "f_score", "m_score", "monetary", "frequency")


def redis_differences(client: redis.Redis, prefix: str, expected: pd.DataFrame) -> list[str]:
    """One line per difference; empty when Redis equals the batch.

    ``expected`` is ``batch.score(...)`` indexed by customer_id. Compared: each
    customer's profile hash, that Redis holds no other profile, the members of
    every segment set, the rank index's size and the customers the boundaries
    were cut over.
    """
    wrong: list[str] = []
    ids = list(expected.index)
    pipe = client.pipeline(transaction=False)
    for cid in ids:
        pipe.hmget(keys.customer_key(prefix, cid), *FIELDS)
    for cid, got in zip(ids, pipe.execute()):
        row = expected.loc[cid]
        want = [row.segment, str(row.r_score), str(row.f_score), str(row.m_score), row.monetary, str(row.frequency)]
        have = [g.decode() if g is not None else None for g in got]
        if have != want:
            wrong.append(f"customer {cid}: Redis {have}, batch {want}")
    hashes = sum(1 for _ in client.scan_iter(match=keys.customer_pattern(prefix), count=5000))
    if hashes != len(ids):
        wrong.append(f"{hashes} profiles in Redis, {len(ids)} in batch")
    members: dict[str, set[str]] = defaultdict(set)
    for cid, seg in expected["segment"].items():
        members[seg].add(cid)
    head = keys.segment_head(prefix)
    found = {k.decode()[len(head):] for k in client.scan_iter(match=keys.segment_pattern(prefix), count=1000)}
    for seg in sorted(found | set(members)):
        got = {m.decode() for m in client.smembers(keys.segment_key(prefix, seg))}
        if got != members.get(seg, set()):
            wrong.append(f"segment {seg}: {len(got ^ members.get(seg, set()))} wrong members")
    ranked = client.zcard(keys.rank_key(prefix, "r"))
    if ranked != len(ids):
        wrong.append(f"{ranked} customers in the rank index, {len(ids)} in batch")
    raw = client.get(keys.boundaries_key(prefix))
    cut_over = orjson.loads(raw)["customers"] if raw else 0
    if cut_over != len(ids):
        wrong.append(f"boundaries cut over {cut_over} customers, {len(ids)} in batch")
    return wrong
