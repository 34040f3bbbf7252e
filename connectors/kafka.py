"""Kafka adapters: routing and producing JSONL exports, and the roster follower.

Two clients, each where it fits:

* kafka-python's ``KafkaProducer`` for ``tracer produce`` (a plain synchronous script);
  :func:`route_event_line` and :func:`route_roster_line` decide topic and key (pure).
* aiokafka's ``AIOKafkaConsumer`` for :class:`KafkaRosterFollower`: a consumer *outside* the
  consumer group with every roster partition assigned. It reads the compacted roster from the
  beginning, reports when it reached the end offsets seen at start (``caught_up``), then follows.
  Every worker runs one, so every worker holds the whole watchlist whatever the group does.
  It reads ``tracer.roster.valid`` (the last valid records the pipeline kept) whole before the
  roster, and :meth:`KafkaRosterFollower.fetch` reads one roster record again by offset.
  A session that fails (Kafka away, a topic not created yet, a bug in the handler) starts over
  from the beginning through the worker's :class:`~connectors.retry.Retrier`, counted as
  ``roster``; the worker's stop ends it, whatever it waits for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError as AIOKafkaError
from contract import EVENT_ID, PERSON_ID, SOURCE, SOURCES, TopicKey, feed_topic
from kafka import TopicPartition as SyncTopicPartition
from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

from connectors.batch_guard import UndecodableBatch, guard_fetcher
from connectors.clients import (
    KafkaClientSettings,
    aiokafka_consumer,
    kafka_admin_client,
    kafka_consumer_client,
    kafka_producer_client,
)
from connectors.endpoints import kafka_addresses, require_listening
from connectors.errors import RetryGaveUp, ServiceUnavailable
from connectors.retry import Retrier

__all__ = [
    "DEFAULT_FEED",
    "ConsumerLagProbe",
    "KafkaRosterFollower",
    "PublishRefusal",
    "RosterMessage",
    "Route",
    "consumer_lag",
    "end_offsets",
    "kafka_producer",
    "refusal_of",
    "route_event_line",
    "route_roster_line",
]

log = logging.getLogger(__name__)

DEFAULT_FEED: Final[TopicKey] = feed_topic(SOURCES[0])
"""Where an event line with no usable ``source`` goes, so the worker dead-letters it."""

_FEEDS: Final[dict[str, TopicKey]] = {source: feed_topic(source) for source in SOURCES}


PublishRefusal = Literal["no_key", "too_large", "refused", "unavailable"]
"""Why a record was not published: no key for the compacted roster, over the producer's or
broker's size limit, refused for good by Kafka (invalid, unauthorised...), or Kafka unreachable
(its retries spent; worth trying again later, unlike the others)."""


def refusal_of(exc: BaseException) -> PublishRefusal:
    """Classify a kafka-python publish error (pure).

    Example:
        >>> refusal_of(MessageSizeTooLargeError()), refusal_of(TimeoutError())
        ('too_large', 'refused')
    """
    if isinstance(exc, (MessageSizeTooLargeError, RecordListTooLargeError)):
        return "too_large"
    if isinstance(exc, KafkaError) and exc.retriable:
        return "unavailable"
    return "refused"


@dataclass(frozen=True, slots=True)
class Route:
    """Where one line goes: the contract topic (before any prefix) and the message key."""

    topic: TopicKey
    key: bytes | None


def _load_object(line: bytes) -> dict[str, Any] | None:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _key(value: object) -> bytes | None:
    return value.encode("utf-8") if isinstance(value, str) and value else None


def route_event_line(line: bytes) -> Route:
    """Route one events.jsonl line to ``feeds.<source>`` keyed by ``event_id`` (pure).

    A line that is not a JSON object, or has no known ``source``, still goes out, raw, to
    :data:`DEFAULT_FEED`: the worker dead-letters it with its reason, nothing is dropped here.
    """
    event = _load_object(line)
    if event is None:
        return Route(DEFAULT_FEED, None)
    topic = _FEEDS.get(str(event.get(SOURCE)), DEFAULT_FEED)
    return Route(topic, _key(event.get(EVENT_ID)))


def route_roster_line(line: bytes) -> Route:
    """Route one roster.jsonl line to ``supervision.roster`` keyed by ``person_id`` (pure)."""
    record = _load_object(line)
    return Route("supervision.roster", None if record is None else _key(record.get(PERSON_ID)))


def kafka_producer(
    settings: KafkaClientSettings,
    *,
    linger_ms: int = 20,
    client_id: str = "tracer",
    max_request_bytes: int = 4 * 1024 * 1024,
) -> Any:
    """Connect a kafka-python ``KafkaProducer`` tuned for bulk publishing (acks=all).

    A send waits at most 10 s for a topic's metadata (kafka-python: 60 s), so a run against a
    broker that went away ends in seconds rather than a minute per message.

    Not idempotent: kafka-python 3.0's idempotent producer fails every batch in flight, of
    any topic, with the error of one the broker refused for good (a record over a topic's
    ``max.message.bytes``: checked on Kafka 4.1), which would turn good lines into rejects.
    One request in flight per connection keeps each partition in file order across retries
    (the roster's latest record must win); a retry may duplicate a record, which the pipeline
    absorbs (lead ids derive from person and event; a roster record applied twice is the same).

    Raises:
        ConnectionRefused: nothing listens at the bootstrap addresses (said within seconds).
        ServiceUnavailable: no broker answered.
    """
    require_listening("Kafka", kafka_addresses(settings.kafka_bootstrap))
    try:
        return kafka_producer_client(
            settings,
            client_id=client_id,
            acks="all",
            linger_ms=linger_ms,
            batch_size=256 * 1024,
            max_request_size=max_request_bytes,
            retries=10,
            max_block_ms=10_000,
            enable_idempotence=False,
            max_in_flight_requests_per_connection=1,
        )
    except KafkaError as exc:
        raise ServiceUnavailable(
            f"Kafka at {settings.kafka_bootstrap} did not answer: {type(exc).__name__}"
        ) from exc


@dataclass(frozen=True, slots=True)
class RosterMessage:
    """One roster message as read: key and value bytes (``None`` value = tombstone)."""

    key: bytes | None
    value: bytes | None
    partition: int
    offset: int
    timestamp_ms: int | None


RosterHandler = Callable[[Sequence[RosterMessage]], Awaitable[None]]


FallbackHandler = Callable[[Sequence[RosterMessage]], None]


class KafkaRosterFollower:
    """Read the whole compacted roster topic, then follow it; outside any consumer group.

    Args:
        kafka: Where Kafka is and how to log in (:mod:`connectors.clients`).
        topic: The (prefixed) roster topic.
        handler: Awaited with each batch of messages, in partition order.
        max_records: Upper bound of one batch (bounds memory).
        fallback_topic: A compacted topic read whole *before* the roster on every (re)start
            (``tracer.roster.valid``: the last valid records kept for the roster).
        fallback_handler: Called with each batch read from ``fallback_topic``.
        retrier: The worker's retrier: backoff between sessions, ``roster`` counters, the
            stop event that ends :meth:`run`.
        assign_timeout_s: How long a session waits for the roster topic's partitions before
            it counts as failed (the topic not created yet: ``tracer stack init``).
    """

    def __init__(
        self,
        kafka: KafkaClientSettings,
        topic: str,
        handler: RosterHandler,
        *,
        max_records: int = 2000,
        fallback_topic: str | None = None,
        fallback_handler: FallbackHandler | None = None,
        retrier: Retrier | None = None,
        assign_timeout_s: float = 10.0,
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._handler = handler
        self._max_records = max_records
        self._fallback_topic = fallback_topic
        self._fallback_handler = fallback_handler
        self._retrier = retrier or Retrier()
        self._assign_timeout_s = assign_timeout_s
        self.caught_up = asyncio.Event()
        self.messages_read = 0
        self.undecodable_batches = 0

    def _consumer(self, client_id: str) -> AIOKafkaConsumer:
        return aiokafka_consumer(
            self._kafka,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id=client_id,
        )

    async def fetch(
        self, partition: int, offset: int, *, timeout_s: float = 10.0
    ) -> RosterMessage | None:
        """Read the roster record at ``offset`` of ``partition`` again.

        Returns:
            The record, or ``None`` when that offset holds nothing any more (compacted away:
            the read lands on a later offset, or on none).

        Raises:
            ServiceUnavailable: Kafka did not answer within ``timeout_s``.
        """
        consumer = self._consumer("tracer-roster-fetch")
        tp = TopicPartition(self._topic, partition)
        try:
            await consumer.start()
            guard_fetcher(consumer._fetcher)  # an undecodable batch reads as nothing, below
            consumer.assign([tp])
            consumer.seek(tp, offset)
            return await self._one_record(consumer, tp, offset, timeout_s)
        except AIOKafkaError as exc:
            raise ServiceUnavailable(
                f"Kafka error {type(exc).__name__} reading the roster"
            ) from exc
        finally:
            await consumer.stop()

    @staticmethod
    async def _one_record(
        consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, timeout_s: float
    ) -> RosterMessage | None:
        if offset >= (await consumer.end_offsets([tp]))[tp]:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
            for r in batch.get(tp, []):
                # A compacted offset reads as the next record that survived: not ours.
                found = r.offset == offset and not isinstance(r, UndecodableBatch)
                return (
                    RosterMessage(r.key, r.value, tp.partition, offset, r.timestamp)
                    if found
                    else None
                )
        raise ServiceUnavailable(f"no answer from Kafka within {timeout_s:.0f}s reading the roster")

    async def _read_fallback(self) -> None:
        """Read ``fallback_topic`` to the end offsets seen now, into ``fallback_handler``."""
        if self._fallback_topic is None or self._fallback_handler is None:
            return
        consumer = self._consumer("tracer-roster-fallback")
        try:
            await consumer.start()
            guard_fetcher(consumer._fetcher)
            ends = await self._assign_all(consumer, self._fallback_topic)
            pending = {tp for tp, end in ends.items() if end > 0}
            while pending:
                batches = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
                for tp, records in batches.items():
                    self._fallback_handler(
                        [
                            RosterMessage(r.key, r.value, tp.partition, r.offset, r.timestamp)
                            for r in records
                            if not self._undecodable(r)
                        ]
                    )
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
        finally:
            await consumer.stop()

    async def run(self) -> None:
        """Follow the roster until the worker stops (or cancelled); retries while it fails."""
        try:
            await self._retrier.call(self._session, kind="roster")
        except RetryGaveUp:
            log.info("roster follower: stopped")

    async def _session(self) -> None:
        """Read the fallback topic, then the roster from the beginning, then follow it.

        Raises:
            ServiceUnavailable: The session failed; the retrier starts another one.
        """
        consumer = self._consumer("tracer-roster-follower")
        try:
            await self._read_fallback()  # before the roster: its records may be needed
            await consumer.start()
            if not guard_fetcher(consumer._fetcher):
                log.error("roster follower: fetcher not guarded against undecodable batches")
            ends = await self._assign_all(consumer, self._topic)
            if not ends:
                raise ServiceUnavailable(f"roster topic {self._topic} has no partitions yet")
            await self._follow(consumer, ends)
        except AIOKafkaError as exc:
            raise ServiceUnavailable(f"roster follower: Kafka error {type(exc).__name__}") from exc
        except ServiceUnavailable:
            raise
        except Exception as exc:  # a follower that died would freeze the watchlist: start over
            log.exception("roster follower failed; re-reading the roster")
            raise ServiceUnavailable(f"roster follower failed: {type(exc).__name__}") from exc
        finally:
            await consumer.stop()

    def _reading_again(self) -> None:
        # The session never returns, so the retrier never hears of a success: say it once the
        # session has read to the end offsets seen at its start (a record that kills every
        # session before that keeps the roster reported failing), or the health endpoint
        # would report the roster failing long after it recovered.
        if self._retrier.observer is not None:
            self._retrier.observer.on_success("roster")

    async def _assign_all(
        self, consumer: AIOKafkaConsumer, topic: str
    ) -> dict[TopicPartition, int]:
        """Assign every partition of ``topic`` from the beginning; ``{}`` when it has none yet."""
        # Without a group, a subscription is assigned every partition of the topic once the
        # consumer has its metadata: a wait, not a retry (failures are the session's), so it
        # is a short poll bounded in time.
        consumer.subscribe([topic])
        try:
            async with asyncio.timeout(self._assign_timeout_s):
                while not consumer.assignment():
                    await asyncio.sleep(0.1)
        except TimeoutError:
            log.error("roster follower: no topic %s (run `tracer stack init`)", topic)
            return {}
        tps = sorted(consumer.assignment())
        # Re-reading from the beginning on every (re)start rebuilds the watchlist from scratch.
        await consumer.seek_to_beginning(*tps)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return ends

    async def _follow(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        pending = {tp for tp, end in ends.items() if end > 0}
        if not pending:
            self.caught_up.set()
            self._reading_again()
        while True:  # follows for ever: the retrier's stop (or a failure) ends the session
            batches = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
            for tp, records in batches.items():
                await self._handler(
                    [
                        RosterMessage(r.key, r.value, tp.partition, r.offset, r.timestamp)
                        for r in records
                        if not self._undecodable(r)
                    ]
                )
                self.messages_read += len(records)
            if pending:
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
                if not pending:
                    log.info("roster follower: caught up after %d messages", self.messages_read)
                    self.caught_up.set()
                    self._reading_again()

    def _undecodable(self, record: Any) -> bool:
        # The watchlist goes on without it; the roster agent, inside the group, dead-letters it.
        if not isinstance(record, UndecodableBatch):
            return False
        self.undecodable_batches += 1
        log.warning(
            "roster follower: partition %d offsets %d-%d undecodable (%s); left out",
            record.partition,
            record.offset,
            record.last_offset,
            record.error,
        )
        return True


def end_offsets(kafka: KafkaClientSettings, topics: Sequence[str]) -> dict[str, int]:
    """Return the sum of the end offsets of each topic (messages ever written, compaction aside).

    Raises:
        ConnectionRefused: nothing listens at the bootstrap addresses (said within seconds).
        ServiceUnavailable: Kafka did not answer.
    """
    require_listening("Kafka", kafka_addresses(kafka.kafka_bootstrap))
    try:
        consumer = kafka_consumer_client(kafka, client_id="tracer-offsets")
    except KafkaError as exc:
        raise ServiceUnavailable(
            f"Kafka at {kafka.kafka_bootstrap} did not answer: {type(exc).__name__}"
        ) from exc
    try:
        return {topic: sum(_topic_ends(consumer, topic).values()) for topic in topics}
    finally:
        consumer.close()


def _topic_ends(consumer: Any, topic: str) -> dict[SyncTopicPartition, int]:
    partitions = consumer.partitions_for_topic(topic) or set()
    tps = [SyncTopicPartition(topic, p) for p in sorted(partitions)]
    return dict(consumer.end_offsets(tps)) if tps else {}


class ConsumerLagProbe:
    """Measures a consumer group's lag again and again over the same two clients (polling).

    Raises:
        ServiceUnavailable: Kafka did not answer (when built, or when measuring).
    """

    def __init__(self, kafka: KafkaClientSettings) -> None:
        require_listening("Kafka", kafka_addresses(kafka.kafka_bootstrap))
        try:
            self._consumer = kafka_consumer_client(kafka, client_id="tracer-lag")
            self._admin = kafka_admin_client(kafka, client_id="tracer-lag")
        except KafkaError as exc:
            raise ServiceUnavailable(
                f"Kafka at {kafka.kafka_bootstrap} did not answer: {type(exc).__name__}"
            ) from exc

    def lag(self, group: str, topics: Sequence[str]) -> int:
        """Return how many messages of ``topics`` the ``group`` has not committed yet.

        A partition the group never committed counts in full.
        """
        try:
            committed = self._admin.list_group_offsets({group: None}).get(group, {})
            lag = 0
            for topic in topics:
                for tp, end in _topic_ends(self._consumer, topic).items():
                    done = committed.get(tp)
                    done_offset = done.offset if done is not None and done.offset >= 0 else 0
                    lag += max(0, end - done_offset)
            return lag
        except KafkaError as exc:
            raise ServiceUnavailable(f"could not read the offsets of group {group}: {exc}") from exc

    def close(self) -> None:
        """Close both clients."""
        self._consumer.close()
        self._admin.close()


def consumer_lag(kafka: KafkaClientSettings, group: str, topics: Sequence[str]) -> int:
    """Return how many messages of ``topics`` the consumer ``group`` has not committed yet.

    A partition the group never committed counts in full. Raises ``ServiceUnavailable`` when
    Kafka (or the group coordinator) does not answer.
    """
    probe = ConsumerLagProbe(kafka)
    try:
        return probe.lag(group, topics)
    finally:
        probe.close()
