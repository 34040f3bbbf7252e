"""Reading the feed and roster topics' history, outside any consumer group.

``tracer reprocess --since/--until`` reads what the feeds held over a time range, and the
roster topic whole, with a kafka-python consumer that has **no group id**: it joins no group,
commits nothing and so leaves the live worker's group (its offsets, its members) untouched.
Partitions are assigned by hand.

A time range is Kafka's own: :meth:`FeedHistory.ranges` asks the broker (``offsets_for_times``,
by the records' timestamps) for the first offset at or after ``since`` and the first at or
after ``until`` in each partition; the range is the offsets between (``until`` excluded).
Without ``until`` the range ends at the partition's end offset as seen when the job starts,
so a job over a live topic ends.

Every wait is bounded: a partition that yields nothing for ``idle_timeout_s`` while records
are still due raises :class:`~connectors.errors.ServiceUnavailable`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from connectors.clients import KafkaClientSettings, kafka_consumer_client
from connectors.endpoints import kafka_addresses, require_listening
from connectors.errors import ServiceUnavailable

__all__ = ["FeedHistory", "FeedRecord", "PartitionRange"]


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """Offsets ``start`` (included) to ``end`` (excluded) of one topic partition."""

    topic: str
    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        """Offsets in the range (records, compaction and transaction markers aside)."""
        return max(0, self.end - self.start)


@dataclass(frozen=True, slots=True)
class FeedRecord:
    """One record as read (``value`` ``None``: a tombstone)."""

    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


class FeedHistory:
    """A group-less consumer that reads offset ranges of topic partitions.

    Args:
        bootstrap: Kafka bootstrap servers.
        idle_timeout_s: longest wait for a record still due before giving up.
        client_id: the client's name in the broker's logs.

    Raises:
        ConnectionRefused: nothing listens at the bootstrap addresses.
        ServiceUnavailable: Kafka did not answer.
    """

    def __init__(
        self,
        kafka: KafkaClientSettings,
        *,
        idle_timeout_s: float = 30.0,
        client_id: str = "tracer-reprocess",
    ) -> None:
        bootstrap = kafka.kafka_bootstrap
        require_listening("Kafka", kafka_addresses(bootstrap))
        self._idle_timeout_s = idle_timeout_s
        try:
            self._consumer = kafka_consumer_client(
                kafka,
                client_id=client_id,
                group_id=None,  # no group: nothing joined, nothing committed
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_partition_fetch_bytes=4 * 1024 * 1024,
            )
        except KafkaError as exc:
            raise ServiceUnavailable(f"Kafka at {bootstrap} did not answer: {exc}") from exc

    def ranges(
        self, topics: Sequence[str], *, since_ms: int | None, until_ms: int | None
    ) -> list[PartitionRange]:
        """The offset range of ``[since, until)`` in every partition of ``topics``, in order.

        Raises:
            ServiceUnavailable: Kafka did not answer, or a topic does not exist.
        """
        try:
            return [r for topic in topics for r in self._topic_ranges(topic, since_ms, until_ms)]
        except KafkaError as exc:
            raise ServiceUnavailable(
                f"could not read the offsets of {list(topics)}: {exc}"
            ) from exc

    def _topic_ranges(
        self, topic: str, since_ms: int | None, until_ms: int | None
    ) -> list[PartitionRange]:
        partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:
            raise ServiceUnavailable(f"Kafka has no topic {topic}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        first = self._consumer.beginning_offsets(tps)
        last = self._consumer.end_offsets(tps)
        starts = self._at(tps, since_ms, first, last)
        ends = self._at(tps, until_ms, last, last)
        return [PartitionRange(topic, tp.partition, starts[tp], ends[tp]) for tp in tps]

    def _at(
        self,
        tps: list[TopicPartition],
        when_ms: int | None,
        default: dict[TopicPartition, int],
        last: dict[TopicPartition, int],
    ) -> dict[TopicPartition, int]:
        """The first offset at or after ``when_ms`` per partition (none: the partition's end)."""
        if when_ms is None:
            return dict(default)
        found = self._consumer.offsets_for_times(dict.fromkeys(tps, when_ms))
        return {tp: last[tp] if found.get(tp) is None else found[tp].offset for tp in tps}

    def read(
        self, part: PartitionRange, *, start: int | None = None, max_records: int = 2000
    ) -> Iterator[list[FeedRecord]]:
        """Yield the records of ``part`` from ``start`` (default: its start), in batches.

        Raises:
            ServiceUnavailable: Kafka stopped answering before the range was read.
        """
        tp = TopicPartition(part.topic, part.partition)
        position = part.start if start is None else start
        if position >= part.end:
            return
        try:
            self._consumer.assign([tp])
            self._consumer.seek(tp, position)
            yield from self._batches(tp, part.end, max_records)
        except KafkaError as exc:
            raise ServiceUnavailable(f"Kafka stopped answering on {part.topic}: {exc}") from exc

    def _batches(
        self, tp: TopicPartition, end: int, max_records: int
    ) -> Iterator[list[FeedRecord]]:
        deadline = time.monotonic() + self._idle_timeout_s
        while self._consumer.position(tp) < end:
            polled: dict[Any, list[Any]] = self._consumer.poll(
                timeout_ms=500, max_records=max_records
            )
            batch = [_record(r) for r in polled.get(tp, ()) if r.offset < end]
            if batch:
                deadline = time.monotonic() + self._idle_timeout_s
                yield batch
            elif time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"Kafka gave nothing from {tp.topic}[{tp.partition}] for "
                    f"{self._idle_timeout_s:.0f}s with records still due"
                )

    def close(self) -> None:
        """Close the consumer."""
        self._consumer.close()


def _record(raw: Any) -> FeedRecord:
    return FeedRecord(raw.offset, raw.key, raw.value, int(raw.timestamp))
