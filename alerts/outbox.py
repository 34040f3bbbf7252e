"""The ``alerts`` index as the outbox of the topic: created on the lead path, published off it.

Three steps, each a bulk, only the first on the lead writer's path:

1. :meth:`AlertOutbox.create` (awaited by the lead writer's hook, before the lead batch's
   offsets may move): the notifications go create-only into the ``alerts`` index (bulks of
   ``max_create``, each handed on as soon as it is stored),
   ``published: false``, claimed by this worker (``claimed_by``, ``claimed_at``; up to
   ``CREATES_IN_FLIGHT`` bulks side by side). Only the 201s
   go on, into a bounded in-process buffer (:class:`PendingBuffer`; a full buffer makes the
   hook wait: that is the backpressure). A 409 is a notification someone already made.
2. :meth:`AlertOutbox.run_publisher` takes what the buffer holds (up to ``max_batch``), sends it
   all with the async producer and waits for the acknowledgements together, then
3. marks the batch ``published: true`` in one bulk, beside the next batch's publication (at
   most ``MARKS_IN_FLIGHT`` marks at once): each document written back whole with the mark,
   conditional on the stamp this worker holds (no read in Elasticsearch; one changed since is
   marked by a partial update, :meth:`~alerts.recorder.ElasticsearchAlertLog.mark_published`).

A crash loses nothing: what was created and not marked stays ``published: false`` in the
index, and :meth:`AlertOutbox.relay_once` (every ``relay_s`` on every worker) publishes those
whose claim is older than ``lease_s``. A claim changes hands only by a conditional update
(``if_seq_no`` / ``if_primary_term``, :class:`~alerts.claims.Claimant`): of two relays
meeting one notification, one wins the claim and publishes; the other's update is a 409. The
creator publishes without re-claiming while its claim is younger than ``lease_s / 2``; an older
one (Kafka away, a long backlog) it claims again conditionally first, and one it lost it leaves.

What is guaranteed on the topic: every notification of the index is published at least once
(the outbox); its key is the notification id, the same on every publication; and it is
published a second time only if its claimant stops after Kafka acknowledged it and before the
``published`` mark landed (a SIGKILL in that window, one bulk update long) or takes longer
than ``lease_s / 2`` from its claim to the mark (Kafka or Elasticsearch slow or away; logged
when the acknowledgement itself came that late; clocks between workers within ``lease_s / 2``
of each other). A failed mark is retried alone, never by publishing again, and a mark is
checked item by item: one that silently did not land would hand the notification to a relay.
Consumers deduplicate by key; the index holds each (subscription, lead) once, whatever happens.
The idempotent producer keeps the client's own retries from adding copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import orjson
from connectors.errors import RetryGaveUp
from connectors.retry import Retrier

from alerts.claims import Claimant, Claimed
from alerts.recorder import AlertLog, Publish

__all__ = ["AlertOutbox", "Claimed", "OutboxStats", "PendingBuffer"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Bulk ``create`` requests of one lead batch in flight at once.
CREATES_IN_FLIGHT = 4
#: ``published`` marks in flight beside the publisher (each up to ``max_batch`` documents).
MARKS_IN_FLIGHT = 2


class PendingBuffer:
    """A bounded FIFO of claimed notifications between the lead writer and the publisher.

    Args:
        max_items: The bound; :meth:`put` waits while the buffer would grow past it (a batch
            larger than the bound is let in alone, or it would wait forever).
    """

    def __init__(self, max_items: int) -> None:
        self._items: deque[Claimed] = deque()
        self._max = max_items
        self._changed = asyncio.Condition()

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, items: Sequence[Claimed]) -> None:
        """Append ``items``, waiting for room."""
        if not items:
            return
        async with self._changed:
            await self._changed.wait_for(
                lambda: not self._items or len(self._items) + len(items) <= self._max
            )
            self._items.extend(items)
            self._changed.notify_all()

    async def take(self, max_items: int, *, timeout_s: float) -> list[Claimed]:
        """Up to ``max_items`` from the front; ``[]`` if nothing came within ``timeout_s``."""
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait_for(lambda: bool(self._items)), timeout_s)
            taken = [self._items.popleft() for _ in range(min(max_items, len(self._items)))]
            self._changed.notify_all()
            return taken


class OutboxStats:
    """Counters of the outbox."""

    def __init__(self) -> None:
        self.created = 0
        self.published = 0
        self.relayed = 0
        self.lost_claims = 0
        self.late = 0


class AlertOutbox:
    """Creates notifications (claimed), publishes them, and relays the orphans of others.

    Args:
        log: The ``alerts`` index (or its twin).
        publish: Publishes (key, value) messages on the ``alerts`` topic, all sent before any
            acknowledgement is awaited; returns once Kafka acknowledged every one.
        owner: This worker's name in ``claimed_by`` (unique per process).
        lease_s: How old a claim must be before another worker may take it over.
        max_pending: The bound of the buffer between creation and publication.
        max_batch: Notifications per publication (and per relay round).
        max_create: Notifications per bulk ``create``.
        retrier: Retries Elasticsearch and Kafka being away (kind ``alert``).
        clock: Now, as an aware datetime (``claimed_at``).
        monotonic: This process's monotonic clock (a claim's age).
    """

    def __init__(
        self,
        log: AlertLog,
        publish: Publish,
        *,
        owner: str,
        lease_s: float = 30.0,
        max_pending: int = 50_000,
        max_batch: int = 5_000,
        max_create: int = 1_000,
        retrier: Retrier | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._publish = publish
        self.owner = owner
        self._claims = Claimant(log, owner, lease_s, clock=clock, monotonic=monotonic)
        self._max_batch = max_batch
        self._max_create = max_create
        self._retrier = retrier or Retrier()
        self._monotonic = monotonic
        self.pending = PendingBuffer(max_pending)
        self.stats = OutboxStats()

    async def create(self, notifications: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Store ``notifications`` claimed by this worker; queue and return those created now.

        In bulks of at most ``max_create`` (a bounded request body), up to
        ``CREATES_IN_FLIGHT`` at once, each queued as soon as it is stored, so the publisher
        works on one while the next is written. Returned in ``notifications``' order.

        Raises:
            RetryGaveUp: The worker is stopping (the caller's batch stays uncommitted).
        """
        chunks = [
            notifications[start : start + self._max_create]
            for start in range(0, len(notifications), self._max_create)
        ]
        # Side by side, at most ``CREATES_IN_FLIGHT``: Elasticsearch indexes one bulk while the
        # next is sent, and the notifications of a large lead batch are stored sooner.
        slots = asyncio.Semaphore(CREATES_IN_FLIGHT)

        async def one(chunk: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
            async with slots:
                return await self._create_bulk(chunk)

        return [doc for made in await _all_or_none([one(c) for c in chunks]) for doc in made]

    async def _create_bulk(
        self, notifications: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        # The claim's age counts from before the request, as its ``claimed_at`` does: a slow
        # bulk must not make a claim look younger here than it looks to the other relays.
        since = self._monotonic()
        claim = self._claims.fields()
        docs = [dict(n) | {"published": False} | claim for n in notifications]
        stamps = await self._retrier.call(lambda: self._log.create(docs), kind="alert")
        fresh = [
            Claimed(doc, stamp, since)
            for doc, stamp in zip(docs, stamps, strict=True)
            if stamp is not None
        ]
        self.stats.created += len(fresh)
        await self.pending.put(fresh)
        return [c.doc for c in fresh]

    async def run_publisher(self, stop: asyncio.Event) -> None:
        """Publish what :meth:`create` queued until ``stop``; what is left waits for a relay.

        A batch's ``published`` mark runs beside the next batch's publication (at most
        ``MARKS_IN_FLIGHT`` of them): waiting for a bulk update of thousands of documents held
        every notification created meanwhile back from the topic. The mark still follows its
        own batch's acknowledgement, and is retried alone.
        """
        marks: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                try:
                    batch = await self.pending.take(self._max_batch, timeout_s=0.5)
                    if batch:
                        await self._retrier.call(partial(self._publish_held, batch), kind="notify")
                except RetryGaveUp:
                    return
                except Exception:  # not retriable: that batch stays unpublished for a relay
                    log.exception("alerts: a batch of notifications is left to the relay")
                    continue
                if batch:
                    task = asyncio.ensure_future(self._mark_quietly(batch))
                    marks.add(task)
                    task.add_done_callback(marks.discard)
                if len(marks) >= MARKS_IN_FLIGHT:
                    await asyncio.wait(marks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if marks:  # a stop: each gives up at once (the relay republishes what is unmarked)
                await asyncio.gather(*marks, return_exceptions=True)

    async def _mark_quietly(self, batch: list[Claimed]) -> None:
        try:
            await self._mark(batch)
        except RetryGaveUp:
            return
        except Exception:  # not retriable: a relay publishes it again, the same bytes
            log.exception("alerts: a published mark failed; the relay will publish those again")

    async def publish_pending(self, *, timeout_s: float = 0.0) -> int:
        """Publish and mark up to ``max_batch`` queued notifications; return how many were taken.

        Raises:
            RetryGaveUp: The worker is stopping (the batch waits for a relay).
        """
        batch = await self.pending.take(self._max_batch, timeout_s=timeout_s)
        if batch:
            await self._publish_and_mark(batch)
        return len(batch)

    async def _publish_and_mark(self, batch: list[Claimed]) -> None:
        # Two retried steps: a failed mark is retried alone, never by publishing again. The
        # publish is Kafka's work ("notify"), the mark Elasticsearch's ("alert"): the health
        # endpoint tells them apart.
        await self._retrier.call(partial(self._publish_held, batch), kind="notify")
        await self._mark(batch)

    async def _mark(self, batch: list[Claimed]) -> None:
        """Mark ``batch`` (what :meth:`_publish_held` kept: published, ours) ``published``."""
        if batch:
            held = [(c.doc, c.stamp) for c in batch]
            await self._retrier.call(lambda: self._log.mark_published(held), kind="alert")
            self.stats.published += len(batch)

    async def run_relay(self, stop: asyncio.Event, *, every_s: float) -> None:
        """Every ``every_s`` until ``stop``, :meth:`relay_once` (at once again after a full one)."""
        while not stop.is_set():
            try:
                full = await self.relay_once() >= self._max_batch
            except RetryGaveUp:
                return
            except Exception:  # the next round tries again; a dead relay would strand orphans
                log.exception("alerts: relay round failed")
                full = False
            if not full:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=every_s)

    async def relay_once(self) -> int:
        """Claim, publish and mark unpublished notifications whose claim expired; return count.

        Raises:
            RetryGaveUp: The worker is stopping.
        """
        cutoff = self._claims.cutoff()
        found = await self._retrier.call(
            lambda: self._log.unclaimed(claimed_before=cutoff, limit=self._max_batch),
            kind="alert",
        )
        if not found:
            return 0
        held = await self._claim([Claimed(doc, stamp, 0.0) for doc, stamp in found])
        if held:
            await self._publish_and_mark(held)
            self.stats.relayed += len(held)
            log.info("alerts: relayed %d notifications left unpublished", len(held))
        return len(found)

    async def _publish_held(self, batch: list[Claimed]) -> None:
        """One attempt: renew old claims, publish what is still ours (``batch`` keeps it)."""
        young = [c for c in batch if self._claims.young(c.since)]
        old = [c for c in batch if not self._claims.young(c.since)]
        held = young + (await self._claim(old) if old else [])
        # Renewed claims count from now in the next attempt (a retry after Kafka was away).
        batch[:] = held
        if not held:
            return
        # Keyed by subscription (the contract): one subscription's notifications stay in order on
        # one partition; a consumer deduplicates by the value's notification_id.
        messages = [(str(c.doc["subscription_id"]).encode(), encode(c.doc)) for c in held]
        await self._publish(messages)
        if not self._claims.young(min(c.since for c in held)):
            # Past half the lease, another worker's relay may have taken some over: the
            # documented case of a second copy on the topic (the same bytes).
            self.stats.late += len(held)
            log.warning("alerts: %d notifications acknowledged past half the lease", len(held))

    async def _claim(self, items: list[Claimed]) -> list[Claimed]:
        won = await self._claims.claim(items)
        self.stats.lost_claims += len(items) - len(won)
        return won


async def _all_or_none(works: Sequence[Awaitable[T]]) -> list[T]:
    """Await ``works`` side by side; on the first error cancel the rest, then raise it."""
    tasks = [asyncio.ensure_future(w) for w in works]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def encode(doc: Mapping[str, Any]) -> bytes:
    """The topic message of a notification: without the fields that change after creation.

    The outbox's and the webhook delivery's fields are left out, so a relayed copy is the same
    bytes as the first publication.

    Example:
        >>> encode({"notification_id": "n", "published": False, "claimed_by": "w"})
        b'{"notification_id":"n"}'
    """
    return orjson.dumps({k: v for k, v in doc.items() if k not in _OUTBOX_FIELDS})


_OUTBOX_FIELDS = frozenset(
    {
        "published",
        "claimed_by",
        "claimed_at",
        "delivery_state",
        "delivered_at",
        "delivery_error",
        "delivery_claimed_by",
        "delivery_claimed_at",
    }
)
