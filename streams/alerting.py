"""Wiring alert subscriptions into a worker: the lead writer's hook, a task, the topics.

:func:`attach_alerts` hands the :class:`~alerts.service.AlertService` factory what only the
worker has (the ``alerts`` topic; the dead-letter topic through the worker's publisher), sets
the service as the lead writer's
``on_written`` hook, and registers its reload-and-sweep loop as a task, stopped with the
worker. The lead batch's offsets are committed only after its notifications are created in the
``alerts`` index (the outbox); their publication on the topic, the ``published`` mark and the
relay of orphans run in that task, off the lead writer's path (:mod:`alerts.outbox`).

The ``alerts`` topic gets its own aiokafka producer (idempotent, ``acks=all``): a bulk of
leads can give thousands of notifications, and Faust's per-message send path cost about 2 ms a
message on a loaded machine (``bench/alerts.py``: 14,000 notifications held the lead writer for
half a minute). :class:`AlertsProducer` fills aiokafka's record batches itself, one per
partition, instead of a ``send`` per message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from alerts.delivery import DeadLetter
from alerts.recorder import Publish
from alerts.service import AlertService
from connectors.clients import KafkaClientSettings, aiokafka_producer
from connectors.deadletter import MessageOrigin
from connectors.errors import kafka_publish_error
from connectors.partitioner import MemoPartitioner

from streams.parts import Pipeline
from streams.pipeline import dead_letter_message

__all__ = ["AlertFactory", "attach_alerts"]

log = logging.getLogger(__name__)

#: The alerts producer's batch per partition (bytes).
ALERTS_BATCH_BYTES = 512 * 1024

AlertFactory = Callable[[Publish, DeadLetter], AlertService]
"""Builds the service from the ``alerts`` topic's publish and the dead-letter function."""


class AlertsProducer:
    """Publishes notifications in one record batch per partition; waits for every one's ack.

    Each call fills one aiokafka ``BatchBuilder`` per partition (another once one is full) and
    hands each whole to the producer (``send_batch``), so a publication of thousands costs a
    few batches' futures instead of a ``send`` and a future per message: that per-message path
    was about a quarter of alerting's CPU in the worker (``bench/alerts.py``, round 5). The
    placement is the default partitioner's (:class:`~connectors.partitioner.MemoPartitioner`),
    so a subscription's notifications stay in order on one partition: a partition's batches
    are sent in order, each after the one before it is drained. Errors are translated.

    Args:
        kafka: The client settings.
        topic: The ``alerts`` topic.
        max_batch_bytes: One record batch's bound (under the broker's ``message.max.bytes``).
    """

    def __init__(
        self, kafka: KafkaClientSettings, topic: str, *, max_batch_bytes: int = ALERTS_BATCH_BYTES
    ) -> None:
        self._kafka = kafka
        self._topic = topic
        self._max_batch_bytes = max_batch_bytes
        # The default placement, each subscription's hash computed once: murmur2 in pure
        # Python cost ~28 us a notification on the worker's loop.
        self._partitioner = MemoPartitioner()
        self._producer: AIOKafkaProducer | None = None

    async def publish(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Send ``messages``; raise a translated error if any is not acknowledged."""
        try:
            producer = await self._started()
            acks = await self._send_batches(producer, messages)
            results = await asyncio.gather(*acks, return_exceptions=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the adapter's edge: aiokafka's failure, translated once
            raise kafka_publish_error(exc) from exc
        for result in results:
            if isinstance(result, Exception):
                raise kafka_publish_error(result) from result

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = aiokafka_producer(
                self._kafka,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                # A batch over the 16 KiB default holds more than about 40 notifications;
                # under the broker's 1 MiB message.max.bytes.
                max_batch_size=self._max_batch_bytes,
            )
            await producer.start()
            self._producer = producer
        return self._producer

    async def _send_batches(
        self, producer: AIOKafkaProducer, messages: Sequence[tuple[bytes, bytes]]
    ) -> list[asyncio.Future[Any]]:
        """Hand ``messages`` to ``producer`` as full record batches; their acks' futures."""
        # The set's own order, as aiokafka's ``send`` lists it for the partitioner.
        partitions = list(await producer.partitions_for(self._topic))
        open_batches: dict[int, Any] = {}
        acks: list[asyncio.Future[Any]] = []
        for key, value in messages:
            partition = self._partitioner(key, partitions, partitions)
            batch = open_batches.get(partition)
            if batch is None or batch.append(key=key, value=value, timestamp=None) is None:
                if batch is not None:  # full: sent, and a new one takes this message
                    acks.append(await producer.send_batch(batch, self._topic, partition=partition))
                batch = open_batches[partition] = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(f"a notification of {len(value)} bytes exceeds a batch")
        for partition, batch in open_batches.items():
            acks.append(await producer.send_batch(batch, self._topic, partition=partition))
        return acks

    async def close(self) -> None:
        """Stop the producer."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def attach_alerts(
    p: Pipeline, build: AlertFactory, *, alerts_topic: str, kafka: KafkaClientSettings
) -> AlertService:
    """Build the alert service for ``p`` and wire it in (see the module docstring)."""
    producer = AlertsProducer(kafka, alerts_topic)
    publish = producer.publish

    async def dead_letter(notification: Mapping[str, Any], reason: str, detail: str) -> None:
        key = str(notification["subscription_id"]).encode()  # its key on the topic
        origin = MessageOrigin(alerts_topic, -1, -1, key, int(time.time() * 1000))
        letter = dead_letter_message(
            orjson.dumps(dict(notification)),
            origin,
            reason=reason,
            stage="alert",
            detail=detail,
            max_bytes=p.max_dead_letter_bytes,
        )
        await p.publisher.publish(p.deadletter, [letter], role="deadletter")

    service = build(publish, dead_letter)
    p.writer.on_written = service.on_written

    async def run_alerts() -> None:
        await service.run(p.stopping)

    async def close_alerts(_app: Any, /, *_args: Any, **_kwargs: Any) -> None:
        if service.dispatcher is not None:
            await service.dispatcher.close()
        await producer.close()

    p.app.task(run_alerts)
    p.app.on_before_shutdown.connect(close_alerts)
    return service
