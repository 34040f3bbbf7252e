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
half a minute); aiokafka's batch send costs tens of microseconds.
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
    """Publishes notifications and waits for every acknowledgement (errors translated)."""

    def __init__(self, kafka: KafkaClientSettings, topic: str) -> None:
        self._kafka = kafka
        self._topic = topic
        self._producer: AIOKafkaProducer | None = None

    async def publish(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        """Send ``messages``; raise a translated error if any is not acknowledged."""
        try:
            if self._producer is None:
                producer = aiokafka_producer(
                    self._kafka,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=5,
                    # aiokafka holds one batch per partition and makes the next send wait
                    # until it is drained: at the 16 KiB default (about 40 notifications) a
                    # bulk of 5,000 took a dozen broker round trips, seconds on a loaded
                    # machine. Under the broker's 1 MiB message.max.bytes.
                    max_batch_size=ALERTS_BATCH_BYTES,
                    # The default placement, each subscription's hash computed once: murmur2
                    # in pure Python cost ~28 us a notification on the worker's loop.
                    partitioner=MemoPartitioner(),
                )
                await producer.start()
                self._producer = producer
            acks = [
                await self._producer.send(self._topic, value=value, key=key)
                for key, value in messages
            ]
            results = await asyncio.gather(*acks, return_exceptions=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the adapter's edge: aiokafka's failure, translated once
            raise kafka_publish_error(exc) from exc
        for result in results:
            if isinstance(result, Exception):
                raise kafka_publish_error(result) from result

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
