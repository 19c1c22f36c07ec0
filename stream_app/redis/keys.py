"""Every Redis key name of a deployment, built here and nowhere else (docs/streaming.md says what each holds).

All keys live under the deployment's prefix (``RFM_REDIS_PREFIX``, ``rfm`` by default), so several
deployments share one Redis. The Lua scripts get the keys they know up front in ``KEYS``; the per-customer
ones (a hash per customer, a set per segment or audience) they build from the *heads* below, the key with an
empty name, so no script spells a key name either.
"""

from __future__ import annotations

from stream_app.core.quintiles import DIMENSIONS


def customer_key(prefix: str, customer_id: str) -> str:
    """Hash: one customer's profile (segment, scores, totals, seq and versions)."""
    return f"{prefix}:customer:{customer_id}"


def pending_key(prefix: str, customer_id: str) -> str:
    """Hash: a customer's events announced and not yet settled by its profile write (``seq``,
    ``boundaries_version``, ``body``); exists only while a worker is between the two, or died there."""
    return f"{prefix}:pending:{customer_id}"


def segment_key(prefix: str, segment: str) -> str:
    """Set: the ids of the customers in a segment."""
    return f"{prefix}:segment:{segment}"


def audience_key(prefix: str, audience: str) -> str:
    """Set: the ids of the customers in an audience."""
    return f"{prefix}:audience:{audience}"


def rank_key(prefix: str, dimension: str) -> str:
    """Sorted set: the rank index of one dimension (member customer id, score the exact rank value)."""
    return f"{prefix}:rank:{dimension}"


def rank_keys(prefix: str) -> list[str]:
    """The four rank indexes, in :data:`~stream_app.core.quintiles.DIMENSIONS` order (r, f, m, aov)."""
    return [rank_key(prefix, d) for d in DIMENSIONS]


def index_changes_key(prefix: str) -> str:
    """Counter: incremented by every profile write that moves the rank index."""
    return f"{prefix}:index_changes"


def boundaries_key(prefix: str) -> str:
    """String: the published boundaries record (JSON, worker/boundaries.py's ``Published``)."""
    return f"{prefix}:boundaries"


def boundaries_version_key(prefix: str, version: int) -> str:
    """String: one published boundaries record by version, the last few kept (a new owner's first rescore
    compares every version since the partition's last one, docs/decisions/rescore-movers.md)."""
    return f"{prefix}:boundaries:{version}"


def rescored_key(prefix: str) -> str:
    """Hash: orders partition -> the boundaries version its customers were last rescored to."""
    return f"{prefix}:rescored"


def rescored_rules_key(prefix: str) -> str:
    """Hash: orders partition -> the audience rules fingerprint of the worker that marked its last rescore."""
    return f"{prefix}:rescored_rules"


def epoch_key(prefix: str) -> str:
    """Hash: Redis' marker of its own continuity (a token, one field per partition; worker/redis_epoch.py)."""
    return f"{prefix}:epoch"


def bootstrap_key(prefix: str) -> str:
    """String: the state of a `rfm-stream bootstrap` of the deployment (JSON)."""
    return f"{prefix}:bootstrap"


def worker_key(prefix: str, worker_id: str) -> str:
    """String, expiring: what one worker reports to the dashboard (events, lag, partitions)."""
    return f"{prefix}:monitor:worker:{worker_id}"


def recent_changes_key(prefix: str) -> str:
    """List, capped: the latest segment changes, for the dashboard."""
    return f"{prefix}:recent_changes"


# Heads: a key without its last part, which a Lua script completes with a customer id, segment or audience.

def customer_head(prefix: str) -> str:
    return customer_key(prefix, "")


def pending_head(prefix: str) -> str:
    return pending_key(prefix, "")


def segment_head(prefix: str) -> str:
    return segment_key(prefix, "")


def audience_head(prefix: str) -> str:
    return audience_key(prefix, "")


# SCAN patterns: the prefix is glob-escaped, so a prefix holding * ? [ ] matches only itself.

def glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def any_pattern(prefix: str) -> str:
    """Every key of the deployment."""
    return glob_escape(prefix) + ":*"


def customer_pattern(prefix: str) -> str:
    return glob_escape(customer_head(prefix)) + "*"


def segment_pattern(prefix: str) -> str:
    return glob_escape(segment_head(prefix)) + "*"


def worker_pattern(prefix: str) -> str:
    return glob_escape(worker_key(prefix, "")) + "*"
