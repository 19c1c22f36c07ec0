"""Records sent to chosen partitions of one topic in whole aiokafka batches: one open batch per partition,
sent when it is full or when the caller is done.

Sending record by record costs Python per record: aiokafka's ``send`` (a future, the accumulator, a
callback) and, for a Faust Table write, Faust's own layer on top (a FutureMessage, its producer buffer, a
delivery callback writing RocksDB's offset record). Profiled in a live worker, the Table's changelog path
took about as much CPU per changed customer as deciding it. A batch costs one ``append`` per record and one
future per partition.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from stream_app.errors import RfmError
from stream_app.kafka.partitioner import partitions_of


class RecordTooLarge(RfmError):
    """A single record does not fit in an empty batch (the producer's ``max_batch_size``)."""


@dataclass(slots=True)
class SentBatch:
    partition: int
    delivery: asyncio.Future
    records: int


class PartitionBatches:
    """The batches of one topic being filled and sent, by partition; records of a partition keep their order.

    ``producer``: a started ``aiokafka.AIOKafkaProducer`` with no key or value serializer (records are bytes).
    """

    def __init__(self, producer: Any, topic: str):
        self.producer = producer
        self.topic = topic
        self._open: dict[int, list] = {}  # partition -> [batch, records in it]
        self.sent: list[SentBatch] = []

    async def add(self, partition: int, key: bytes | None, value: bytes) -> None:
        entry = self._open.get(partition)
        if entry is None:
            entry = self._open[partition] = [self.producer.create_batch(), 0]
        if entry[0].append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
            await self._send(partition)
            entry = self._open[partition] = [self.producer.create_batch(), 0]
            if entry[0].append(key=key, value=value, timestamp=None) is None:
                del self._open[partition]
                raise RecordTooLarge(f"a record of {len(value):,} bytes (key {key!r:.80}) does not fit in a "
                                     f"batch of {self.topic}")
        entry[1] += 1

    async def send_open(self) -> None:
        """Send every batch still being filled."""
        for partition in list(self._open):
            await self._send(partition)

    async def delivered(self) -> dict[int, int]:
        """Send what is open and wait for every batch's delivery; the last offset written to each partition."""
        await self.send_open()
        sent, self.sent = self.sent, []
        last: dict[int, int] = {}
        for s, meta in zip(sent, await asyncio.gather(*(s.delivery for s in sent))):
            last[s.partition] = max(last.get(s.partition, -1), meta.offset + s.records - 1)
        return last

    async def _send(self, partition: int) -> None:
        batch, records = self._open.pop(partition)
        # Closed, the batch is sent at once: aiokafka lingers (the worker's 5 ms) only for a batch still open
        # to ``producer.send``, and nothing more will be added to this one.
        batch.close()
        self.sent.append(SentBatch(partition, await self.producer.send_batch(batch, self.topic, partition=partition),
                                   records))


async def send_keyed(producer: Any, topic: str, records: list[tuple[bytes, bytes]]) -> PartitionBatches | None:
    """Keyed records sent in batches to the partition the producer's own partitioner would pick for each key
    (murmur2, as Kafka's clients), so one key's records stay in order in one partition; None: no record.

    The batches are sent, not awaited: ``delivered()`` on the result waits for them.
    """
    if not records:
        return None
    count = len(await producer.partitions_for(topic))
    batches = PartitionBatches(producer, topic)
    for (key, value), partition in zip(records, partitions_of([k for k, _ in records], count)):
        await batches.add(partition, key, value)
    await batches.send_open()
    return batches
