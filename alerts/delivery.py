"""The webhook delivery task: per-subscription queues, so no receiver can hold up another.

:meth:`Dispatcher.submit` never waits: it puts each recorded notification on its
subscription's queue (at most ``queue_size``; beyond that it stays ``pending`` in the
``alerts`` index for the sweep) and returns, so the lead pipeline never waits for a receiver.
One task per subscription with a webhook sends its queue in order: immediately, one
notification a delivery, or as a digest (what arrived within ``digest_minutes`` of the first,
at most 100 a delivery), never faster than the subscription's rate limit.

Deliveries to different subscriptions run concurrently, at most ``max_in_flight`` requests at
once (a slot is taken per attempt, so waiting for one is not an attempt's time), and each
attempt is cut at ``attempt_timeout_s`` here as well as by the poster: a hanging receiver holds
one slot that long, and only its own subscription's queue waits behind it. The sweep, too,
serves its subscriptions side by side, each in order.

A delivery is tried until ``deadline_s`` with full-jitter exponential backoff
(:class:`~connectors.retry.Retrier`, kind ``deliver``), each attempt cut at the poster's
timeout. Then, or at once on a status no retry cures, each of its notifications is
dead-lettered with its reason (``webhook_failed`` / ``webhook_refused``), marked ``failed`` in
the index, and the subscription is marked failing (stored, so the review page and ``tracer
subscriptions list`` show it). While failing, new notifications wait in the index.

:meth:`Dispatcher.sweep` (every ``sweep_s``) reads what is ``pending`` or ``failed``,
subscription by subscription, oldest first: a failing subscription gets one attempt; when its
receiver answers again it receives everything it missed, each notification once (marked
``delivered`` on the receiver's 2xx), and stops failing. The same sweep delivers what a worker
that died left ``pending``.

Who delivers is decided by a delivery claim (``delivery_claimed_by`` / ``delivery_claimed_at``,
the rules of :mod:`alerts.claims`, the outbox's own, in fields of its own): a notification is
created claimed by the worker that made it, and a failure releases the claim. A sweep takes
what is its own worker's and in none of its queues, or released, or claimed longer than
``lease_s`` ago, and claims each conditionally (``if_seq_no``) before sending; a lost claim is
skipped. The creating worker, before sending a queued notification whose claim is past half the
lease (a long queue, a digest, a rate limit), re-reads it and claims it again conditionally; one
another worker took is skipped. The default lease, ``4 * (deadline_s + attempt timeout) + 10``,
outlasts a delivery started at half the lease, the next one, and the ``delivered`` mark, which
never waits longer than that (a claim must not expire under a delivery in flight).

So a receiver sees a notification twice only when its 2xx was lost (or the ``delivered`` mark
was, or landed later than the lease after its claim: Elasticsearch away that long, or clocks
between workers further apart than half the lease). The ``webhook-id`` is the notification id
(a digest's: derived from its notification ids), the same every time, as Standard Webhooks
prescribes for receivers to drop repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from connectors.errors import ConnectorError, RetryGaveUp, ServiceUnavailable, is_retriable
from connectors.retry import Retrier

from alerts.claims import Claimant, Claimed
from alerts.errors import AlertError
from alerts.recorder import Stamp
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

# A queued notification's stamp is never used: its claim is re-read before it is renewed.
_UNREAD: Final = Stamp(-1, -1)
_UNDELIVERED: Final = ("pending", "failed")
# Delivered notifications are marked together, unless the first waits longer than this.
_MARK_AFTER_S: Final = 1.0


class DeliveryLog(Protocol):
    """The ``alerts`` index as delivery needs it."""

    async def update(self, ids: Sequence[str], changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` to each of ``ids``."""
        ...

    async def claim(
        self, stamped: Sequence[tuple[str, Stamp]], changes: Mapping[str, Any]
    ) -> list[Stamp | None]:
        """Apply ``changes`` to each id still at its stamp; the new stamp, or None (taken)."""
        ...

    async def current(self, ids: Sequence[str]) -> list[tuple[dict[str, Any], Stamp] | None]:
        """Each of ``ids`` as stored now, with its stamp (``None``: not there)."""
        ...

    async def undelivered(
        self, *, claimed_before: str, owner: str, limit: int
    ) -> list[tuple[dict[str, Any], Stamp]]:
        """Undelivered notifications whose delivery claim expired, is ``owner``'s, or is none."""
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
        owner: This worker's name in ``delivery_claimed_by`` (unique per process).
        attempt_timeout_s: The poster's timeout of one attempt (enforced here too: a poster
            that ignores its own timeout must not hold a slot for ever).
        max_in_flight: Requests in flight at once, over every subscription.
        lease_s: How old a delivery claim must be before another worker's sweep may take it
            (default ``4 * (deadline_s + attempt_timeout_s) + 10``: see the module docstring).
        clock: Now, as an aware datetime.
        monotonic: This process's monotonic clock.
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
        owner: str = "dispatcher",
        attempt_timeout_s: float = 60.0,
        max_in_flight: int = 32,
        lease_s: float | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
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
        self._attempt_timeout_s = attempt_timeout_s
        self._slots = asyncio.Semaphore(max_in_flight)
        self._queues: dict[str, asyncio.Queue[Claimed]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._next_slot: dict[str, float] = {}
        lease = lease_s if lease_s is not None else 4 * (deadline_s + attempt_timeout_s) + 10
        self.claims = Claimant(
            delivery_log,
            owner,
            lease,
            by_field="delivery_claimed_by",
            at_field="delivery_claimed_at",
            clock=clock,
            monotonic=monotonic,
        )
        self._monotonic = monotonic
        # Ids in this worker's queues or being sent: its own sweep leaves them alone.
        self._held: set[str] = set()
        self.failing: set[str] = set()
        self.delivered = 0
        self.lost_claims = 0

    def claim_fields(self) -> dict[str, Any]:
        """The delivery claim a notification is created with, for this dispatcher."""
        return self.claims.fields()

    def submit(self, notifications: Sequence[Mapping[str, Any]]) -> None:
        """Queue ``notifications`` (created with :meth:`claim_fields`) for their webhooks.

        Never waits. What is not queued stays ``pending`` under this worker's claim: its own
        next sweep delivers it.
        """
        for notification in notifications:
            sub_id = str(notification["subscription_id"])
            subscription = self._subscription(sub_id)
            if sub_id in self.failing or subscription is None or subscription.failing:
                continue  # waits in the index for the sweep
            queue = self._queues.get(sub_id)
            if queue is None:
                queue = self._queues[sub_id] = asyncio.Queue(self._queue_size)
                self._tasks[sub_id] = asyncio.ensure_future(self._run(sub_id, queue))
            doc = dict(notification)
            # Beyond the bound it stays pending in the index: the sweep delivers it.
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(Claimed(doc, _UNREAD, self.claims.since(doc)))
                self._held.add(str(doc["notification_id"]))

    async def close(self) -> None:
        """Stop every subscription's task and release the poster."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        await self._poster.close()

    async def _run(self, sub_id: str, queue: asyncio.Queue[Claimed]) -> None:
        while True:
            batch = [await queue.get()]
            try:
                if not await self._run_batch(sub_id, queue, batch):
                    return
            finally:
                self._held.difference_update(str(c.doc["notification_id"]) for c in batch)

    async def _run_batch(
        self, sub_id: str, queue: asyncio.Queue[Claimed], batch: list[Claimed]
    ) -> bool:
        """Send one batch (``batch`` grows with what else is queued); False: stopping."""
        subscription = self._subscription(sub_id)
        if subscription is None or not subscription.webhook_url:
            return True
        if sub_id in self.failing:
            return True  # waits in the index: the sweep tries the receiver again
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
            return False  # the worker is stopping: the index still says pending
        except Exception:  # a bug must not end this subscription's deliveries
            log.exception("alerts: a delivery failed unexpectedly")
        return True

    async def _send_queued(
        self, subscription: Subscription, batch: list[Claimed], *, digest: bool
    ) -> None:
        if digest:
            await self.deliver(subscription, batch)
            return
        # One request each, in order; the index marks them delivered together, but never
        # later than one more request after the first of them was delivered: an unmarked
        # delivery must not outlive its claim (the lease counts on that).
        delivered: list[str] = []
        first_at = 0.0
        try:
            for notification in batch:
                if delivered and (
                    subscription.rate_limit_per_minute
                    or self._monotonic() - first_at >= _MARK_AFTER_S
                ):
                    await self._mark_delivered(delivered)
                    delivered = []
                sent = await self.deliver(subscription, [notification], mark=False)
                if sent is None:
                    break  # failing: the rest wait in the index for the sweep
                if sent and not delivered:
                    first_at = self._monotonic()
                delivered += sent
        finally:
            if delivered:
                await self._mark_delivered(delivered)

    async def deliver(
        self,
        subscription: Subscription,
        batch: Sequence[Claimed],
        *,
        retry: bool = True,
        mark: bool = True,
    ) -> list[str] | None:
        """Send what of ``batch`` this worker still holds the claim of (respecting the rate limit).

        Returns:
            The ids the receiver took (``[]``: every claim was lost, nothing sent), or
            ``None``: the receiver failed.

        Raises:
            RetryGaveUp: The worker is stopping.
        """
        await self._wait_for_slot(subscription)
        held = [c.doc for c in await self._renew(batch)]
        if not held:
            return []
        ids = [str(n["notification_id"]) for n in held]
        try:
            await self._send(subscription, held, retry=retry)
        except (ConnectorError, AlertError) as exc:  # gave up, refused, or one try failed
            if isinstance(exc, RetryGaveUp) and exc.why == "stopped":
                raise
            await self._failed(subscription, held, exc)
            return None
        if mark:
            await self._mark_delivered(ids)
        self.delivered += len(held)
        if subscription.subscription_id in self.failing:
            self.failing.discard(subscription.subscription_id)
            await self._mark_failing(subscription.subscription_id, None)
        return ids

    async def _renew(self, batch: Sequence[Claimed]) -> list[Claimed]:
        """``batch`` less what this worker no longer holds; claims past half the lease renewed.

        An old claim is re-read (its stamp moved with every write since: the publication
        mark, for one) and claimed again only if it is still this worker's and undelivered,
        conditionally on what was read: one another worker's sweep took meanwhile is left.
        """
        old = [c for c in batch if not self.claims.young(c.since)]
        if not old:
            return list(batch)
        stored = await self._log.current([str(c.doc["notification_id"]) for c in old])
        mine = [
            Claimed(c.doc, found[1], c.since)
            for c, found in zip(old, stored, strict=True)
            if found is not None
            and self.claims.holds(found[0])
            and found[0].get("delivery_state") in _UNDELIVERED
        ]
        won = {str(c.doc["notification_id"]): c for c in await self.claims.claim(mine)}
        self.lost_claims += len(old) - len(won)
        young = [c for c in batch if self.claims.young(c.since)]
        young_ids = {str(c.doc["notification_id"]) for c in young}
        kept = []
        for c in batch:  # in the batch's order
            key = str(c.doc["notification_id"])
            if key in young_ids:
                kept.append(c)
            elif key in won:
                kept.append(won[key])
        return kept

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
            async with self._slots:
                at = datetime.now(UTC)  # a fresh timestamp each attempt: receivers check it
                body = webhook_body(batch, digest=digest, now=at.isoformat())
                headers = signed_headers(secret, message_id, body, at)
                try:
                    # A deadline on this task rather than wait_for's task per delivery.
                    async with asyncio.timeout(self._attempt_timeout_s):
                        await self._poster.post(url, body, headers)
                except TimeoutError as exc:
                    raise ServiceUnavailable("webhook: timeout") from exc

        if not retry:
            await attempt()
            return
        await self._first_then_retried(attempt)

    async def _first_then_retried(self, attempt: Callable[[], Awaitable[None]]) -> None:
        """One attempt as it is; after a retriable failure, the retrier's pauses and deadline.

        Most deliveries take one attempt, and the retry loop's own work (tenacity's state, a
        task for the attempt and one for the stop event) cost about 160 us of the worker's CPU
        a delivery, a third of the request itself (``bench/alerts.py``). The pacing is the
        retrier's as before: the first retry follows one pause, then its policy.
        """
        retrier = self._retrier
        if retrier.stop is not None and retrier.stop.is_set():
            raise RetryGaveUp("stopped", 0)
        try:
            await attempt()
        except Exception as exc:  # the retrier's own rule decides, as it did for every attempt
            if not is_retriable(exc):
                raise
            log.warning("deliver failed (%s); retry 1 after a pause", type(exc).__name__)
            if retrier.observer is not None:  # the health endpoint counts it, as before
                retrier.observer.on_retry("deliver", 1, exc)
        else:
            if retrier.observer is not None:
                retrier.observer.on_success("deliver")
            return
        paused = False

        async def after_a_pause() -> None:
            nonlocal paused
            if not paused:
                paused = True
                await retrier.pause(1)
            await attempt()

        await retrier.call(after_a_pause, kind="deliver")

    async def _failed(
        self, subscription: Subscription, batch: Sequence[Mapping[str, Any]], exc: Exception
    ) -> None:
        reason = "webhook_refused" if isinstance(exc, WebhookRefused) else "webhook_failed"
        detail = str(exc)[:200]
        ids = [str(n["notification_id"]) for n in batch]
        # The claim is released: nothing holds a failed notification, any sweep may try it.
        changes = {
            "delivery_state": "failed",
            "delivery_error": reason,
            "delivery_claimed_by": None,
            "delivery_claimed_at": None,
        }
        await self._log.update(ids, changes)
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

        Takes what is this worker's and not in its queues, or claimed longer than the lease
        ago by anyone (or released), and claims each conditionally before sending it.

        Raises:
            RetryGaveUp: The worker is stopping.
        """
        waiting = await self._log.undelivered(
            claimed_before=self.claims.cutoff(), owner=self.claims.owner, limit=limit
        )
        by_subscription: dict[str, list[Claimed]] = {}
        for doc, stamp in waiting:
            if str(doc["notification_id"]) not in self._held:
                by_subscription.setdefault(str(doc["subscription_id"]), []).append(
                    Claimed(doc, stamp, 0.0)
                )
        # Side by side (the slots bound the requests): one hanging receiver must not hold up
        # every other subscription's recovery for its timeouts and retries.
        outcomes = await asyncio.gather(
            *(self._sweep_subscription(sub_id, items) for sub_id, items in by_subscription.items()),
            return_exceptions=True,
        )
        delivered = 0
        for outcome in outcomes:
            if isinstance(outcome, RetryGaveUp):
                raise outcome
            if isinstance(outcome, BaseException):
                log.error("alerts: a subscription's sweep failed", exc_info=outcome)
            else:
                delivered += outcome
        return delivered

    async def _sweep_subscription(self, sub_id: str, items: list[Claimed]) -> int:
        subscription = self._subscription(sub_id)
        if subscription is None or not subscription.webhook_url:
            return 0
        return await self._sweep_one(subscription, items)

    async def _sweep_one(self, subscription: Subscription, items: list[Claimed]) -> int:
        size = MAX_DIGEST_ITEMS if subscription.delivery == "digest" else 1
        delivered = 0
        if subscription.subscription_id in self.failing or subscription.failing:
            # A failing receiver gets one attempt per sweep (claiming no more than it may
            # send); recovered, it gets everything.
            first = await self._sweep_claimed(subscription, items[:size], retry=False)
            if first is None:
                return 0
            delivered, items = first, items[size:]
        return delivered + (await self._sweep_claimed(subscription, items, retry=True) or 0)

    async def _sweep_claimed(
        self, subscription: Subscription, items: list[Claimed], *, retry: bool
    ) -> int | None:
        """Claim ``items``, deliver what was won; the count, or None if the receiver failed."""
        won = await self.claims.claim(items)
        self.lost_claims += len(items) - len(won)
        size = MAX_DIGEST_ITEMS if subscription.delivery == "digest" else 1
        delivered = 0
        for start in range(0, len(won), size):
            sent = await self.deliver(subscription, won[start : start + size], retry=retry)
            if sent is None:
                return None if delivered == 0 else delivered
            delivered += len(sent)
        return delivered


def _now() -> str:
    return datetime.now(UTC).isoformat()
