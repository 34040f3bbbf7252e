"""The webhook delivery task: per-subscription queues, so no receiver can hold up another.

:meth:`Dispatcher.submit` never waits: it puts each recorded notification on its
subscription's queue (at most ``queue_size``; beyond that it stays ``pending`` in the
``alerts`` index for the sweep) and returns, so the lead pipeline never waits for a receiver.
One task per subscription with a webhook sends its queue in order: immediately, one
notification a delivery, or as a digest (what arrived within ``digest_minutes`` of the first,
at most 100 a delivery), never faster than the subscription's rate limit.

A delivery is tried until ``deadline_s`` with full-jitter exponential backoff
(:class:`~connectors.retry.Retrier`, kind ``deliver``), each attempt cut at the poster's
timeout. Then, or at once on a status no retry cures, each of its notifications is
dead-lettered with its reason (``webhook_failed`` / ``webhook_refused``), marked ``failed`` in
the index, and the subscription is marked failing (stored, so the review page and ``tracer
subscriptions list`` show it). While failing, new notifications wait in the index.

:meth:`Dispatcher.sweep` (every ``sweep_s``) reads what is ``pending`` or ``failed`` and older
than a delivery's deadline (so nothing a live queue still holds), subscription by
subscription, oldest first: a failing subscription gets one attempt; when its receiver answers
again it receives everything it missed, each notification once (marked ``delivered`` on the
receiver's 2xx), and stops failing. The same sweep delivers what a worker that died left
``pending``. A receiver can see a notification twice only when its 2xx was lost, or two
workers' sweeps meet the same subscription at once; the ``webhook-id`` is the same both
times, as Standard Webhooks prescribes for receivers to drop repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from connectors.errors import ConnectorError, RetryGaveUp
from connectors.retry import Retrier

from alerts.errors import AlertError
from alerts.subscriptions import Subscription
from alerts.webhooks import (
    MAX_DIGEST_ITEMS,
    Poster,
    WebhookRefused,
    delivery_id,
    signed_headers,
    webhook_body,
)

__all__ = ["DeadLetter", "DeliveryLog", "Dispatcher", "MarkFailing"]

log = logging.getLogger(__name__)

DeadLetter = Callable[[Mapping[str, Any], str, str], Awaitable[None]]
"""Dead-letters one notification with a reason word and a detail (no URL, no identity)."""

MarkFailing = Callable[[str, str | None], Awaitable[None]]
"""Marks a subscription failing with a reason, or recovered (``None``)."""


class DeliveryLog(Protocol):
    """The ``alerts`` index as delivery needs it."""

    async def update(self, ids: Sequence[str], changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` to each of ``ids``."""
        ...

    async def undelivered(self, *, created_before: str, limit: int) -> list[dict[str, Any]]:
        """Notifications ``pending`` or ``failed`` created before then, oldest first."""
        ...


class Dispatcher:
    """Delivers notifications to their subscriptions' webhooks (see the module docstring).

    Args:
        poster: Sends one delivery.
        subscription: The current subscription by id (``None``: removed).
        open_secret: Opens a sealed webhook secret.
        delivery_log: The ``alerts`` index.
        mark_failing: Stores a subscription's failing state.
        dead_letter: Dead-letters one notification.
        deadline_s: How long one delivery is retried.
        retrier: Backoff policy and the worker's stop event (its deadline is replaced).
        queue_size: Notifications held per subscription.
        minute_s: Seconds in a digest's and a rate limit's minute (tests shorten it).
    """

    def __init__(
        self,
        poster: Poster,
        *,
        subscription: Callable[[str], Subscription | None],
        open_secret: Callable[[str], str],
        delivery_log: DeliveryLog,
        mark_failing: MarkFailing,
        dead_letter: DeadLetter,
        deadline_s: float = 60.0,
        retrier: Retrier | None = None,
        queue_size: int = 1000,
        minute_s: float = 60.0,
    ) -> None:
        self._minute_s = minute_s
        self._poster = poster
        self._subscription = subscription
        self._open_secret = open_secret
        self._log = delivery_log
        self._mark_failing = mark_failing
        self._dead_letter = dead_letter
        self.deadline_s = deadline_s
        base = retrier or Retrier()
        self._retrier = replace(base, policy=replace(base.policy, deadline_s=deadline_s))
        self._queue_size = queue_size
        self._queues: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._next_slot: dict[str, float] = {}
        self.failing: set[str] = set()
        self.delivered = 0

    def submit(self, notifications: Sequence[Mapping[str, Any]]) -> None:
        """Queue ``notifications`` for their webhooks; never waits."""
        for notification in notifications:
            sub_id = str(notification["subscription_id"])
            subscription = self._subscription(sub_id)
            if sub_id in self.failing or subscription is None or subscription.failing:
                continue  # waits in the index for the sweep
            queue = self._queues.get(sub_id)
            if queue is None:
                queue = self._queues[sub_id] = asyncio.Queue(self._queue_size)
                self._tasks[sub_id] = asyncio.ensure_future(self._run(sub_id, queue))
            # Beyond the bound it stays pending in the index: the sweep delivers it.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(dict(notification))

    async def close(self) -> None:
        """Stop every subscription's task and release the poster."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        await self._poster.close()

    async def _run(self, sub_id: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            batch = [await queue.get()]
            subscription = self._subscription(sub_id)
            if subscription is None or not subscription.webhook_url:
                continue
            if sub_id in self.failing:
                continue  # waits in the index: the sweep tries the receiver again
            digest = subscription.delivery == "digest"
            if digest:
                await asyncio.sleep(subscription.digest_minutes * self._minute_s)
            while len(batch) < MAX_DIGEST_ITEMS:
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._send_queued(subscription, batch, digest=digest)
            except RetryGaveUp:
                return  # the worker is stopping: the index still says pending
            except Exception:  # a bug must not end this subscription's deliveries
                log.exception("alerts: a delivery failed unexpectedly")

    async def _send_queued(
        self, subscription: Subscription, batch: list[dict[str, Any]], *, digest: bool
    ) -> None:
        if digest:
            await self.deliver(subscription, batch)
            return
        # One request each, in order; the index marks them delivered in one update.
        delivered: list[str] = []
        try:
            for notification in batch:
                if not await self.deliver(subscription, [notification], mark=False):
                    break  # failing: the rest wait in the index for the sweep
                delivered.append(str(notification["notification_id"]))
        finally:
            if delivered:
                await self._mark_delivered(delivered)

    async def deliver(
        self,
        subscription: Subscription,
        batch: Sequence[Mapping[str, Any]],
        *,
        retry: bool = True,
        mark: bool = True,
    ) -> bool:
        """Send ``batch`` (respecting the rate limit); return whether the receiver took it.

        Raises:
            RetryGaveUp: The worker is stopping.
        """
        await self._wait_for_slot(subscription)
        ids = [str(n["notification_id"]) for n in batch]
        try:
            await self._send(subscription, batch, retry=retry)
        except (ConnectorError, AlertError) as exc:  # gave up, refused, or one try failed
            if isinstance(exc, RetryGaveUp) and exc.why == "stopped":
                raise
            await self._failed(subscription, batch, exc)
            return False
        if mark:
            await self._mark_delivered(ids)
        self.delivered += len(batch)
        if subscription.subscription_id in self.failing:
            self.failing.discard(subscription.subscription_id)
            await self._mark_failing(subscription.subscription_id, None)
        return True

    async def _mark_delivered(self, ids: list[str]) -> None:
        await self._log.update(ids, {"delivery_state": "delivered", "delivered_at": _now()})

    async def _send(
        self, subscription: Subscription, batch: Sequence[Mapping[str, Any]], *, retry: bool
    ) -> None:
        secret = self._open_secret(subscription.webhook_secret or "")
        url = str(subscription.webhook_url)
        digest = subscription.delivery == "digest"
        message_id = delivery_id(batch)

        async def attempt() -> None:
            at = datetime.now(UTC)  # a fresh timestamp each attempt: receivers check it
            body = webhook_body(batch, digest=digest, now=at.isoformat())
            await self._poster.post(url, body, signed_headers(secret, message_id, body, at))

        if not retry:
            await attempt()
            return
        await self._retrier.call(attempt, kind="deliver")

    async def _failed(
        self, subscription: Subscription, batch: Sequence[Mapping[str, Any]], exc: Exception
    ) -> None:
        reason = "webhook_refused" if isinstance(exc, WebhookRefused) else "webhook_failed"
        detail = str(exc)[:200]
        ids = [str(n["notification_id"]) for n in batch]
        await self._log.update(ids, {"delivery_state": "failed", "delivery_error": reason})
        for notification in batch:
            if notification.get("delivery_state") != "failed":  # dead-lettered once, not per sweep
                await self._dead_letter(notification, reason, detail)
        log.warning("alerts: %d notifications not delivered (%s)", len(batch), reason)
        if subscription.subscription_id not in self.failing:
            self.failing.add(subscription.subscription_id)
            await self._mark_failing(subscription.subscription_id, f"{reason}: {detail}")

    async def _wait_for_slot(self, subscription: Subscription) -> None:
        rate = subscription.rate_limit_per_minute
        if not rate:
            return
        now = time.monotonic()
        slot = max(now, self._next_slot.get(subscription.subscription_id, now))
        self._next_slot[subscription.subscription_id] = slot + self._minute_s / rate
        if slot > now:
            await asyncio.sleep(slot - now)

    async def sweep(self, *, limit: int = 1000) -> int:
        """Deliver what waits in the index (failing subscriptions, dead workers); return count.

        Raises:
            RetryGaveUp: The worker is stopping.
        """
        cutoff = datetime.now(UTC) - timedelta(seconds=self.deadline_s + 5.0)
        waiting = await self._log.undelivered(created_before=cutoff.isoformat(), limit=limit)
        by_subscription: dict[str, list[dict[str, Any]]] = {}
        for notification in waiting:
            by_subscription.setdefault(str(notification["subscription_id"]), []).append(
                notification
            )
        delivered = 0
        for sub_id, items in by_subscription.items():
            subscription = self._subscription(sub_id)
            if subscription is None or not subscription.webhook_url:
                continue
            delivered += await self._sweep_one(subscription, items)
        return delivered

    async def _sweep_one(self, subscription: Subscription, items: list[dict[str, Any]]) -> int:
        size = MAX_DIGEST_ITEMS if subscription.delivery == "digest" else 1
        batches = [items[i : i + size] for i in range(0, len(items), size)]
        delivered = 0
        for batch in batches:
            # A failing receiver gets one attempt per sweep; a recovered one everything.
            failing = subscription.subscription_id in self.failing or subscription.failing
            if not await self.deliver(subscription, batch, retry=not failing):
                break
            delivered += len(batch)
        return delivered


def _now() -> str:
    return datetime.now(UTC).isoformat()
