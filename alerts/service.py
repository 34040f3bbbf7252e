"""The alerting side of the worker: the lead writer's hook, reloads, and the sweep.

:meth:`AlertService.on_written` is called by the lead writer with every bulk's leads once
Elasticsearch acknowledged them, each marked created (201) or already there (409):

- a created lead is evaluated against every active subscription;
- a lead already there is evaluated only against subscriptions created before the lead was
  published on the ``leads`` topic (its Kafka timestamp): those the first write's evaluation
  saw. This is what makes a crash between the lead's write and its notifications harmless
  (the redelivered batch gives the same notification ids, created now or 409 again), while an
  old lead redelivered later never alerts a subscription made after it;
- a batch rerun's refreshes do not come this way at all (they update, never create), and a
  retro-matched lead is created, so it alerts.

Matching notifications are created in the ``alerts`` index, the outbox
(:meth:`~alerts.outbox.AlertOutbox.create`, one bulk: the only alerting step on the lead
writer's path, so that the lead batch's offsets move only once its notifications are stored);
those created now go to the webhook :class:`~alerts.delivery.Dispatcher` and to the outbox's
bounded buffer, and the hook returns. Publication on the ``alerts`` topic, the ``published``
mark and the relay of notifications another worker left unpublished run beside the pipeline
(:meth:`AlertService.run`; guarantees in :mod:`alerts.outbox`).

A lead already there that this process itself evaluated and stored the notifications of (a
retro-match publishing a lead the live path already wrote, a bulk retried after its hook
failed late) is not evaluated again: its notifications are in the index, and making them
again only to meet 409s doubled alerting's work in ``bench/alerts.py`` (905 of 909 leads
came twice). The memory is this process's and bounded (``remember_leads``, the newest kept):
after a restart or a rebalance nothing is remembered and such a lead is evaluated as above,
which is what makes a crash harmless.

Subscriptions are reloaded when the store's fingerprint changes, checked every
``reload_s`` (:meth:`AlertService.run`): a subscription added, paused, resumed or removed
takes effect within ``reload_s`` plus Elasticsearch's refresh (1 s). Resuming or editing never
re-notifies a lead: the notification id is the same and the index keeps the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from connectors.errors import RetryGaveUp

from alerts.delivery import Dispatcher
from alerts.errors import InvalidSubscription
from alerts.evaluate import SubscriptionIndex, compile_subscription
from alerts.notifications import lead_fields, notify
from alerts.outbox import AlertOutbox
from alerts.owners import OwnerDirectory
from alerts.store import SubscriptionStore
from alerts.subscriptions import Subscription

__all__ = ["AlertService", "AlertStats", "WrittenLead"]

log = logging.getLogger(__name__)

#: Subscriptions compiled between two yields to the event loop.
_COMPILE_SLICE = 500


class WrittenLead(NamedTuple):
    """A lead Elasticsearch acknowledged: created now, or already there."""

    lead: Mapping[str, Any]
    created: bool
    #: When the lead was published on the ``leads`` topic (ms since the epoch), if known.
    published_ms: int | None = None


class AlertStats:
    """Counters of the alerting side."""

    def __init__(self) -> None:
        self.evaluated = 0
        #: Leads already there whose notifications this process had stored: not evaluated.
        self.known = 0
        self.notified = 0
        self.reloads = 0
        self.subscriptions = 0


class AlertService:
    """Evaluates new leads against the subscriptions and records the notifications.

    Args:
        store: The subscriptions.
        owners: The review service's users (scope and disabled owners).
        outbox: The ``alerts`` index and topic (create, publish, relay).
        dispatcher: Webhook delivery (``None``: no webhooks on this worker).
        review_url: The review service's base URL, for the notification's link.
        reload_s: How often the store's fingerprint is checked.
        sweep_s: How often the dispatcher's sweep runs.
        relay_s: How often the outbox's relay looks for notifications left unpublished.
        remember_leads: How many lead ids (the newest) this process remembers as notified.
        clock: Now, as an aware datetime.
    """

    def __init__(
        self,
        store: SubscriptionStore,
        owners: OwnerDirectory,
        outbox: AlertOutbox,
        *,
        dispatcher: Dispatcher | None = None,
        review_url: str = "http://127.0.0.1:8080",
        reload_s: float = 2.0,
        sweep_s: float = 30.0,
        relay_s: float = 5.0,
        remember_leads: int = 100_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._owners = owners
        self.outbox = outbox
        self.dispatcher = dispatcher
        self._review_url = review_url
        self._reload_s = reload_s
        self._sweep_s = sweep_s
        self._relay_s = relay_s
        self._clock = clock
        self._remember = remember_leads
        # Lead ids whose notifications are stored, oldest first (a dict keeps insertion order).
        self._stored: dict[str, None] = {}
        self._fingerprint: tuple[int, str | None] | None = None
        self._index = SubscriptionIndex(())
        self._by_id: dict[str, Subscription] = {}
        self.loaded = asyncio.Event()
        self._reloading = asyncio.Lock()
        self.stats = AlertStats()

    def subscription(self, subscription_id: str) -> Subscription | None:
        """The loaded subscription with that id."""
        return self._by_id.get(subscription_id)

    async def reload(self, *, force: bool = False) -> bool:
        """Reload the subscriptions if the store changed; return whether it did.

        One reload at a time: the lead writer's first batch, arriving while the task's first
        load runs, waits for that load instead of starting a second one (10,000 subscriptions
        read and compiled twice held a starting worker's loop for seconds).
        """
        async with self._reloading:
            fingerprint = await self._store.fingerprint()
            if not force and fingerprint == self._fingerprint:
                return False
            await self._load(fingerprint)
            return True

    async def _load(self, fingerprint: tuple[int, str | None]) -> None:
        subscriptions = await self._store.all()
        owners = await self._owners.owners({s.owner for s in subscriptions})
        compiled = []
        for n, subscription in enumerate(subscriptions, 1):
            try:
                item = compile_subscription(subscription, owners.get(subscription.owner))
            except InvalidSubscription:
                log.error("alerts: a stored subscription no longer compiles; left out")
                continue
            if item is not None:
                compiled.append(item)
            if n % _COMPILE_SLICE == 0:
                await asyncio.sleep(0)  # compiling is CPU work: let the pipeline run
        self._index = SubscriptionIndex(compiled)
        self._by_id = {s.subscription_id: s for s in subscriptions}
        self._fingerprint = fingerprint
        self.stats.reloads += 1
        self.stats.subscriptions = self._index.size
        log.info("alerts: %d active subscriptions loaded", self._index.size)
        self.loaded.set()

    def evaluate(self, written: Sequence[WrittenLead]) -> list[dict[str, Any]]:
        """The notifications ``written`` gives (pure given the loaded subscriptions)."""
        now = self._clock().isoformat()
        notifications = []
        for lead, created, published_ms in written:
            self.stats.evaluated += 1
            fields: dict[str, Any] | None = None  # made once a lead, only if one matches
            for subscription in self._index.matching(lead):
                if not created and not _created_before(subscription, published_ms):
                    continue
                if fields is None:
                    fields = lead_fields(lead, review_url=self._review_url, created_at=now)
                notification = notify(subscription, fields)
                notification["delivery_state"] = "pending" if subscription.webhook_url else "none"
                notifications.append(notification)
        return notifications

    async def on_written(self, written: Sequence[WrittenLead]) -> None:
        """The lead writer's hook: evaluate, create in the outbox, hand to delivery.

        Raises:
            RetryGaveUp: The worker is stopping (the lead batch stays uncommitted).
        """
        if not self.loaded.is_set():
            await self.reload()  # the first load, or the task's, if it is under way
        fresh_leads = [w for w in written if w.created or _lead_id(w) not in self._stored]
        self.stats.known += len(written) - len(fresh_leads)
        notifications = self.evaluate(fresh_leads)
        if self.dispatcher is not None:
            # Created claimed for delivery by this worker: no other worker's sweep sends what
            # this one's queues hold (alerts/delivery.py).
            claim = self.dispatcher.claim_fields()
            for notification in notifications:
                if notification.get("delivery_state") == "pending":
                    notification.update(claim)
        fresh = await self.outbox.create(notifications)
        self._remember_stored(fresh_leads)  # only now: every notification of them is stored
        self.stats.notified += len(fresh)
        if self.dispatcher is not None:
            self.dispatcher.submit([n for n in fresh if n.get("delivery_state") == "pending"])

    def _remember_stored(self, written: Sequence[WrittenLead]) -> None:
        for w in written:
            self._stored[_lead_id(w)] = None
        while len(self._stored) > self._remember:
            del self._stored[next(iter(self._stored))]

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: the outbox's publisher and relay, and :meth:`maintain`."""
        await asyncio.gather(
            self.outbox.run_publisher(stop),
            self.outbox.run_relay(stop, every_s=self._relay_s),
            self.maintain(stop),
        )

    async def maintain(self, stop: asyncio.Event) -> None:
        """Reload on change every ``reload_s`` and sweep deliveries every ``sweep_s``."""
        last_sweep = asyncio.get_running_loop().time()
        while not stop.is_set():
            try:
                await self.reload()
                now = asyncio.get_running_loop().time()
                if self.dispatcher is not None and now - last_sweep >= self._sweep_s:
                    last_sweep = now
                    await self.dispatcher.sweep()
            except RetryGaveUp:
                return
            except Exception:  # the next round tries again; a crashed loop would never reload
                log.exception("alerts: reload or sweep failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._reload_s)


def _lead_id(written: WrittenLead) -> str:
    return str(written.lead["lead_id"])


def _created_before(subscription: Subscription, published_ms: int | None) -> bool:
    if published_ms is None:
        return False  # unknown: never risk alerting an old lead to a newer subscription
    try:
        created = datetime.fromisoformat(subscription.created_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    return created.timestamp() * 1000 < published_ms
