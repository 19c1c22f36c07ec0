"""Reading the Redis contract back: one customer's profile, segment sizes."""

from __future__ import annotations

from stream_app import connect
from stream_app.core.segments import SegmentMap
from stream_app.settings import Settings
from stream_app.redis.keys import customer_key, segment_head, segment_key, segment_pattern

PROFILE_ORDER = ("segment", "r_score", "f_score", "m_score", "aov_score", "rfm_score", "rfm_sum", "value_band",
                 "frequency", "monetary", "aov", "last_order_at", "boundaries_version", "version", "seq", "updated_at")


def profile(settings: Settings, customer_id: str) -> dict[str, str]:
    client = connect.redis_client(settings, decode=True)
    try:
        with connect.redis_errors(settings):
            raw = client.hgetall(customer_key(settings.redis_prefix, customer_id))
    finally:
        client.close()
    ordered = {k: raw[k] for k in PROFILE_ORDER if k in raw}
    ordered.update({k: v for k, v in sorted(raw.items()) if k not in ordered})
    return ordered


def segment_sizes(settings: Settings) -> dict[str, int]:
    """Every segment of the map (0 when empty) plus any other segment set found under the prefix."""
    client = connect.redis_client(settings, decode=True)
    try:
        names = set(SegmentMap.load(settings.segments_file).names)
        start = len(segment_head(settings.redis_prefix))
        with connect.redis_errors(settings):
            names.update(k[start:] for k in client.scan_iter(match=segment_pattern(settings.redis_prefix), count=1000))
            pipe = client.pipeline(transaction=True)
            ordered = sorted(names)
            for name in ordered:
                pipe.scard(segment_key(settings.redis_prefix, name))
            return dict(zip(ordered, pipe.execute()))
    finally:
        client.close()
