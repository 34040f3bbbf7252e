"""Wiring alert subscriptions into a worker: the lead writer's hook, a task, the topics.

:func:`attach_alerts` hands the :class:`~alerts.service.AlertService` factory what only the
worker has (the ``alerts`` topic through the worker's publisher, which waits for Kafka's
acknowledgement; the dead-letter topic), sets the service as the lead writer's
``on_written`` hook, and registers its reload-and-sweep loop as a task, stopped with the
worker. The lead batch's offsets are committed only after its notifications are recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from alerts.delivery import DeadLetter
from alerts.recorder import Publish
from alerts.service import AlertService
from connectors.deadletter import MessageOrigin

from streams.app import Pipeline
from streams.pipeline import Outgoing, dead_letter_message
from streams.transport import RawBytes

__all__ = ["AlertFactory", "attach_alerts"]

log = logging.getLogger(__name__)

AlertFactory = Callable[[Publish, DeadLetter], AlertService]
"""Builds the service from the ``alerts`` topic's publish and the dead-letter function."""


def attach_alerts(p: Pipeline, build: AlertFactory, *, alerts_topic: str) -> AlertService:
    """Build the alert service for ``p`` and wire it in (see the module docstring)."""
    topic = p.app.topic(alerts_topic, schema=RawBytes())

    async def publish(messages: Sequence[tuple[bytes, bytes]]) -> None:
        outgoing = [Outgoing(key, value) for key, value in messages]
        await p.publisher.publish(topic, outgoing, role="alerts")

    async def dead_letter(notification: Mapping[str, Any], reason: str, detail: str) -> None:
        key = str(notification["notification_id"]).encode()
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

    p.app.task(run_alerts)
    p.app.on_before_shutdown.connect(close_alerts)
    return service
