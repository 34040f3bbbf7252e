"""New leads alert; leads already there alert only subscriptions their first write saw."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from alerts.notifications import build_notification
from alerts.outbox import AlertOutbox, encode
from alerts.owners import InMemoryOwnerDirectory
from alerts.recorder import InMemoryAlertLog
from alerts.service import AlertService, WrittenLead
from alerts.store import InMemorySubscriptionStore
from connectors.elasticsearch import InMemoryLeadIndexer
from streams.lead_writer import LeadWriter
from tests.unit.alerts.helpers import OWNER, lead, subscription
from tests.unit.streams.fakes import record

LEAD_PUBLISHED_MS = int(datetime(2026, 12, 7, 11, 0, tzinfo=UTC).timestamp() * 1000)


class Topic:
    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bytes]] = []

    async def publish(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        self.messages += messages


async def _service(*subs: Any) -> tuple[AlertService, InMemorySubscriptionStore, Topic]:
    store = InMemorySubscriptionStore()
    for sub in subs:
        await store.add(sub)
    topic = Topic()
    service = AlertService(
        store,
        InMemoryOwnerDirectory({OWNER.username: OWNER}),
        AlertOutbox(InMemoryAlertLog(), topic.publish, owner="w1"),
    )
    await service.reload(force=True)
    return service, store, topic


async def _ids(service: AlertService, topic: Topic) -> list[tuple[str, str]]:
    while await service.outbox.publish_pending():  # what the publisher task does
        pass
    notes = [orjson.loads(value) for _, value in topic.messages]
    return sorted((n["subscription_id"], n["lead_id"]) for n in notes)


async def test_created_leads_alert_every_matching_subscription_once() -> None:
    high = subscription("high", min_tier="high")
    bank = subscription("bank", sources=["bank"])
    other = subscription("other", districts=["龙华区"])
    service, _, topic = await _service(high, bank, other)
    await service.on_written([WrittenLead(lead("l1"), True, LEAD_PUBLISHED_MS)])
    await service.on_written([WrittenLead(lead("l2", tier="low"), True, LEAD_PUBLISHED_MS)])
    await service.on_written([WrittenLead(lead("l1"), True, LEAD_PUBLISHED_MS)])  # again
    assert await _ids(service, topic) == [("bank", "l1"), ("bank", "l2"), ("high", "l1")]


async def test_a_lead_already_there_alerts_only_older_subscriptions() -> None:
    # Made before the lead was published: its first write's evaluation saw it.
    old = subscription("old").changed(now="x", created_at="2026-12-07T10:59:00+00:00")
    # Made after: an old lead redelivered must not alert it.
    new = subscription("new").changed(now="x", created_at="2026-12-07T11:01:00+00:00")
    service, _, topic = await _service(old, new)
    await service.on_written([WrittenLead(lead("l1"), False, LEAD_PUBLISHED_MS)])
    await service.on_written([WrittenLead(lead("l2"), False, None)])
    assert await _ids(service, topic) == [("old", "l1")]


async def test_paused_subscriptions_are_silent_and_resuming_never_renotifies() -> None:
    sub = subscription("s")
    service, store, topic = await _service(sub)
    await service.on_written([WrittenLead(lead("l1"), True, LEAD_PUBLISHED_MS)])
    await store.put(sub.changed(now="2026-12-07T12:00:00+00:00", state="paused"))
    assert await service.reload()
    await service.on_written([WrittenLead(lead("l2"), True, LEAD_PUBLISHED_MS)])
    await store.put(sub.changed(now="2026-12-07T12:01:00+00:00", state="active"))
    assert await service.reload()
    assert not await service.reload()  # nothing changed: no reload
    await service.on_written([WrittenLead(lead("l1"), True, LEAD_PUBLISHED_MS)])
    await service.on_written([WrittenLead(lead("l3"), True, LEAD_PUBLISHED_MS)])
    assert await _ids(service, topic) == [("s", "l1"), ("s", "l3")]


async def test_the_lead_writer_hands_created_and_present_leads_to_the_hook() -> None:
    heard: list[WrittenLead] = []

    async def hook(written: Sequence[WrittenLead]) -> None:
        heard.extend(written)

    indexer = InMemoryLeadIndexer()
    writer = LeadWriter(indexer, lambda _p: None, on_written=hook)
    one = record(orjson.dumps(lead("l1")), topic="leads", timestamp=LEAD_PUBLISHED_MS)
    two = record(orjson.dumps(lead("l2")), topic="leads", offset=100)
    await writer.write([one])
    await writer.write([one, two])
    assert [(w.lead["lead_id"], w.created, w.published_ms) for w in heard] == [
        ("l1", True, LEAD_PUBLISHED_MS),
        ("l2", True, 1_700_000_000_000),
        ("l1", False, LEAD_PUBLISHED_MS),
    ]


async def test_a_hook_that_fails_retries_the_bulk_and_loses_nothing() -> None:
    calls: list[list[bool]] = []

    async def flaky(written: Sequence[WrittenLead]) -> None:
        calls.append([w.created for w in written])
        if len(calls) == 1:
            from connectors.errors import ServiceUnavailable

            raise ServiceUnavailable("alerts index away")

    async def no_sleep(_s: float) -> None:
        return None

    from connectors.retry import Retrier

    writer = LeadWriter(
        InMemoryLeadIndexer(), lambda _p: None, on_written=flaky, retrier=Retrier(sleep=no_sleep)
    )
    await writer.write([record(orjson.dumps(lead("l1")), topic="leads")])
    # First try: created; the retry finds the lead there and hands it over again.
    assert calls == [[True], [False]]


async def test_a_lead_matching_several_subscriptions_gives_each_the_documented_notification() -> (
    None
):
    """The reason is made once a lead; each notification is still exactly the documented one."""
    high = subscription("high", min_tier="high")
    bank = subscription("bank", sources=["bank"])
    service, _, _ = await _service(high, bank)
    one = lead("l1")
    one["explanation"] = {"reason_en": "card 6222021234567890123 matches  twice"}
    notes = service.evaluate([WrittenLead(one, True, LEAD_PUBLISHED_MS)])
    assert {n["subscription_id"] for n in notes} == {"high", "bank"}
    for note in notes:
        sub = high if note["subscription_id"] == "high" else bank
        expected = build_notification(
            sub, one, review_url="http://127.0.0.1:8080", created_at=note["created_at"]
        )
        assert encode(note) == encode(expected | {"delivery_state": "none"})
        assert "6222" not in note["reason"] and "  " not in note["reason"]


def test_the_notification_module_examples_hold() -> None:
    import doctest

    import alerts.notifications

    failed, tried = doctest.testmod(alerts.notifications)
    assert tried >= 3 and failed == 0


async def test_the_first_batch_waits_for_the_load_under_way_instead_of_loading_again() -> None:
    store = InMemorySubscriptionStore()
    for n in range(1200):  # more than one compile slice: the load yields on the way
        await store.add(subscription(f"s{n}", persons=[f"P{n}"]))
    reads = 0
    read_all = store.all

    async def counted(**kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await read_all(**kwargs)

    store.all = counted  # type: ignore[method-assign]
    topic = Topic()
    service = AlertService(
        store,
        InMemoryOwnerDirectory({OWNER.username: OWNER}),
        AlertOutbox(InMemoryAlertLog(), topic.publish, owner="w1"),
    )
    task_load = asyncio.ensure_future(service.reload())  # the maintenance task's first load
    await asyncio.sleep(0)
    await service.on_written([WrittenLead(lead("l1", person_id="P7"), True, LEAD_PUBLISHED_MS)])
    await task_load
    assert reads == 1
    assert await _ids(service, topic) == [("s7", "l1")]


class CountingLog(InMemoryAlertLog):
    """The twin, counting the notifications sent to ``create`` (new or 409)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def create(self, docs: Sequence[Any]) -> list[Any]:  # type: ignore[override]
        self.sent += len(docs)
        return await super().create(docs)


async def test_a_lead_this_process_stored_is_not_evaluated_again_when_met_as_there() -> None:
    log, topic, store = CountingLog(), Topic(), InMemorySubscriptionStore()
    await store.add(subscription("s"))

    async def started(remember: int) -> AlertService:
        service = AlertService(
            store,
            InMemoryOwnerDirectory({OWNER.username: OWNER}),
            AlertOutbox(log, topic.publish, owner="w1"),
            remember_leads=remember,
        )
        await service.reload(force=True)
        return service

    first = await started(remember=1)
    await first.on_written([WrittenLead(lead("l1"), True, LEAD_PUBLISHED_MS)])
    await first.on_written([WrittenLead(lead("l1"), False, LEAD_PUBLISHED_MS)])  # a retro copy
    assert (log.sent, first.stats.known) == (1, 1)
    await first.on_written([WrittenLead(lead("l2"), True, LEAD_PUBLISHED_MS)])
    await first.on_written([WrittenLead(lead("l1"), False, LEAD_PUBLISHED_MS)])  # forgotten
    assert (log.sent, first.stats.known) == (3, 1)
    # A restarted worker remembers nothing: it evaluates again and meets the stored ones.
    again = await started(remember=10)
    await again.on_written([WrittenLead(lead("l2"), False, LEAD_PUBLISHED_MS)])
    assert (log.sent, again.stats.known) == (4, 0)
    assert await _ids(first, topic) == [("s", "l1"), ("s", "l2")]
