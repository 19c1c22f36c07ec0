"""What `rfm-stream status` reports, read from Kafka (offsets, group members) and Redis (boundaries, rescores)."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from stream_app import connect
from stream_app.errors import StackError
from stream_app.settings import Settings
from stream_app.redis.keys import boundaries_key, rescored_key
from stream_app.worker.boundaries import Published
from stream_app.tools.sync import end_offsets


@dataclass
class Member:
    client_id: str
    host: str
    partitions: list[int]


@dataclass
class Status:
    group: str
    topic: str
    state: str = "unknown"
    ends: dict[int, int] = field(default_factory=dict)
    committed: dict[int, int] = field(default_factory=dict)
    members: list[Member] = field(default_factory=list)
    version: int = 0
    customers: int = 0
    rescored: dict[int, int] = field(default_factory=dict)

    @property
    def total_lag(self) -> int:
        return sum(max(0, end - self.committed.get(p, 0)) for p, end in self.ends.items())

    @property
    def not_rescored(self) -> list[int]:
        return [p for p in sorted(self.ends) if self.rescored.get(p, 0) < self.version]

    @property
    def rescored_all(self) -> bool:
        return self.version == 0 or not self.not_rescored


def read_status(settings: Settings) -> Status:
    st = Status(settings.app_id, settings.orders_topic)
    st.ends = {tp.partition: end for tp, end in end_offsets(settings).items()}
    admin = connect.kafka_admin(settings, client_id="rfm-stream-status")
    try:
        offsets = connect.committed_offsets(admin, settings.app_id) or {}
        st.committed = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == settings.orders_topic}
        group = admin.describe_groups([settings.app_id]).get(settings.app_id, {})
    finally:
        admin.close()
    st.state = group.get("group_state", "unknown")
    for m in group.get("members", []):
        assignment = m.get("member_assignment") or {}
        parts = [p for a in assignment.get("assigned_partitions", []) if a.get("topic") == settings.orders_topic
                 for p in a.get("partitions", [])]
        st.members.append(Member(m.get("client_id", "?"), str(m.get("client_host", "?")).lstrip("/"), sorted(parts)))
    client = connect.redis_client(settings, socket_timeout=10.0)
    try:
        raw, rescored = client.get(boundaries_key(settings.redis_prefix)), client.hgetall(rescored_key(settings.redis_prefix))
    except redis.RedisError as exc:
        raise StackError(f"Redis cannot be read: {type(exc).__name__}") from None
    finally:
        client.close()
    pub = Published.from_bytes(raw)
    st.version, st.customers = pub.boundaries.version, pub.boundaries.customers
    st.rescored = {int(k): int(v) for k, v in rescored.items()}
    return st
