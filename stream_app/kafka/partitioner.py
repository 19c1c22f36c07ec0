"""Kafka's default partitioner (murmur2 of the key) over many keys at once, in numpy.

The worker and the bootstrap need the partition of every customer a movers query finds or a load writes:
kafka-python's pure-Python murmur2 took about 4 us a key, more than any other step of a rescored customer
but its decision. Here keys of one length are hashed together, a column of 4-byte words at a time, with
the same arithmetic as Kafka's Java client (Utils.murmur2); tests hold it equal to kafka-python's (which
:func:`partition_of` uses for one key) and to aiokafka's partitioner, which Faust's producer uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from kafka.partitioner.default import murmur2

_SEED = 0x9747B28C
_M = np.uint64(0x5BD1E995)
_MASK = np.uint64(0xFFFFFFFF)


def murmur2_many(keys: Sequence[bytes]) -> np.ndarray:
    """Kafka's murmur2 of each key (unsigned 32-bit values, as uint64)."""
    out = np.zeros(len(keys), dtype=np.uint64)
    by_length: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        by_length.setdefault(len(key), []).append(i)
    for length, at in by_length.items():
        rows = np.frombuffer(b"".join([keys[i] for i in at]), dtype=np.uint8).reshape(len(at), length)
        out[at] = _hash_rows(rows, length)
    return out


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java, kafka-python, aiokafka alike) gives one key: numpy's
    set-up costs more than kafka-python's hash of a single key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def partitions_of(keys: Sequence[bytes], partitions: int) -> list[int]:
    """The partition the default partitioner gives each key."""
    return ((murmur2_many(keys) & np.uint64(0x7FFFFFFF)) % np.uint64(partitions)).tolist()


def _hash_rows(rows: np.ndarray, length: int) -> np.ndarray:
    """murmur2 of equal-length keys, one per row. Products of a 32-bit value and the 31-bit multiplier fit
    64 bits, so each step is an unsigned multiply and a mask."""
    h = np.full(rows.shape[0], (_SEED ^ length) & 0xFFFFFFFF, dtype=np.uint64)
    whole = length // 4
    if whole:
        words = np.ascontiguousarray(rows[:, : whole * 4]).view("<u4").astype(np.uint64)
        for j in range(whole):
            k = (words[:, j] * _M) & _MASK
            k ^= k >> np.uint64(24)
            k = (k * _M) & _MASK
            h = ((h * _M) & _MASK) ^ k
    tail = rows[:, whole * 4 :].astype(np.uint64)
    extra = length % 4
    if extra >= 3:
        h ^= tail[:, 2] << np.uint64(16)
    if extra >= 2:
        h ^= tail[:, 1] << np.uint64(8)
    if extra >= 1:
        h ^= tail[:, 0]
        h = (h * _M) & _MASK
    h ^= h >> np.uint64(13)
    h = (h * _M) & _MASK
    h ^= h >> np.uint64(15)
    return h
