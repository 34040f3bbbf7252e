"""Publishing the pipeline's output to Kafka: sent, or dead-lettered, or the worker stops.

:meth:`Publisher.publish` hands a batch of messages to the producer, then waits for the broker
to acknowledge each one (a send only buffers the message; a failure shows in its acknowledgement
or, for a message over the producer's limit, at once). What failed is translated by
:func:`connectors.errors.kafka_publish_error`:

* transient (broker unavailable, timeout, not leader, ...): sent again with backoff through the
  worker's :class:`~connectors.retry.Retrier`, counted as ``publish``, until acknowledged;
* permanent (too large, invalid topic, not authorised, unserialisable): the message is replaced
  by a bounded dead-letter stub (``publish_rejected_<why>``, stage ``publish``, the origin of
  the message and its size, never its content) and the batch goes on; if Kafka refuses even the
  stub, it is logged without values and counted (``PipelineStats.undeliverable``), never retried.

When the worker stops, :meth:`Publisher.publish` raises :class:`~connectors.errors.RetryGaveUp`
at once (a retry pause or a wait for an acknowledgement is cut short); the agent then keeps its
batch from being committed, so it is read again after the restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Any, Literal, Protocol

from connectors.deadletter import DEFAULT_MAX_DEAD_LETTER_BYTES, MessageOrigin
from connectors.errors import PublishRejected, ServiceUnavailable, kafka_publish_error
from connectors.retry import Retrier

from streams.pipeline import Outgoing, PipelineStats, dead_letter_message

__all__ = ["Publisher", "SendingTopic", "TopicRole"]

log = logging.getLogger(__name__)

#: Which of the pipeline's output topics a message goes to (named in stubs and logs).
TopicRole = Literal["leads", "deadletter"]


class SendingTopic(Protocol):
    """What the publisher needs of a topic (a Faust topic fits)."""

    async def send(self, *, key: bytes | None, value: bytes) -> Any:
        """Buffer one message; return the future of its acknowledgement."""
        ...


class Publisher:
    """Publish messages; return once each is acknowledged or replaced by a dead-letter stub.

    Args:
        deadletter: The dead-letter topic (for the stubs of refused messages).
        retrier: The worker's retrier (backoff, ``publish`` counters, stop event).
        stats: The worker's counters.
        max_dead_letter_bytes: The bound of a stub.
    """

    def __init__(
        self,
        deadletter: SendingTopic,
        *,
        retrier: Retrier,
        stats: PipelineStats,
        max_dead_letter_bytes: int = DEFAULT_MAX_DEAD_LETTER_BYTES,
    ) -> None:
        self.deadletter = deadletter
        self._retrier = retrier
        self.stats = stats
        self._max_dead_letter_bytes = max_dead_letter_bytes

    async def publish(
        self, topic: SendingTopic, messages: Sequence[Outgoing], *, role: TopicRole
    ) -> None:
        """Publish ``messages`` to ``topic`` (see the module docstring).

        Raises:
            RetryGaveUp: The worker is stopping: some messages may not be acknowledged.
        """
        if not messages:
            return
        refused = await self._send_all(topic, messages)
        if not refused:
            return
        stubs = [self._stub(message, error, role) for message, error in refused]
        for _message, error in await self._send_all(self.deadletter, stubs):
            self.stats.undeliverable += 1
            log.error(
                "publish: Kafka refused a %s message and its dead-letter stub (%s, %s)",
                role,
                error.reason,
                error.error,
            )

    async def _send_all(
        self, topic: SendingTopic, messages: Sequence[Outgoing]
    ) -> list[tuple[Outgoing, PublishRejected]]:
        """Send until every message is acknowledged or refused; return the refused ones."""
        pending = list(messages)
        refused: list[tuple[Outgoing, PublishRejected]] = []

        async def attempt() -> None:
            nonlocal pending
            outcomes = await _send_and_wait(topic, pending)
            retry: list[Outgoing] = []
            first_error: Exception | None = None
            for message, outcome in zip(pending, outcomes, strict=True):
                if outcome is None:
                    continue
                error = kafka_publish_error(outcome)
                if isinstance(error, PublishRejected):
                    refused.append((message, error))
                else:
                    retry.append(message)
                    first_error = first_error or error
            pending = retry
            if first_error is not None:
                raise first_error

        await self._retrier.call(attempt, kind="publish")
        return refused

    def _stub(self, message: Outgoing, error: PublishRejected, role: TopicRole) -> Outgoing:
        """The bounded dead letter that stands for a message Kafka refused."""
        reason = f"publish_rejected_{error.reason}"
        self.stats.count_dead_letter(reason, stage="publish")
        origin = message.origin or MessageOrigin(topic=role, partition=-1, offset=-1)
        return dead_letter_message(
            None,  # the content stays at its origin (the source topic); the stub says where
            origin,
            reason=reason,
            stage="publish",
            detail=f"{role} message of {len(message.value)} bytes refused ({error.error})",
            max_bytes=self._max_dead_letter_bytes,
        )


async def _send_and_wait(
    topic: SendingTopic, messages: Sequence[Outgoing]
) -> list[BaseException | None]:
    """Send every message, then wait for all acknowledgements; return each one's error."""
    acks: list[Awaitable[Any] | BaseException | None] = []
    for message in messages:
        try:
            acks.append(await topic.send(key=message.key, value=message.value))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # refused before it was buffered (too large, no metadata)
            acks.append(exc)
    waiting = [ack for ack in acks if ack is not None and not isinstance(ack, BaseException)]
    results = iter(await asyncio.gather(*waiting, return_exceptions=True))
    outcomes: list[BaseException | None] = []
    for ack in acks:
        if ack is None or isinstance(ack, BaseException):
            outcomes.append(ack)
        else:
            result = next(results)
            if isinstance(result, asyncio.CancelledError):
                # Someone else gave up waiting for it (the producer stopping): not a refusal.
                result = ServiceUnavailable("acknowledgement cancelled")
            outcomes.append(result if isinstance(result, BaseException) else None)
    return outcomes
