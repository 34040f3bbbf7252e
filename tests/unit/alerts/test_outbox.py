"""The outbox: created once, published by one claimant, orphans relayed after the lease."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from alerts.notifications import (
    NOTIFICATION_NAMESPACE,
    build_notification,
    notification_id,
    one_line_reason,
)
from alerts.outbox import MARKS_IN_FLIGHT, AlertOutbox, Claimed, PendingBuffer
from alerts.recorder import InMemoryAlertLog, Stamp
from connectors.errors import ServiceUnavailable
from connectors.retry import Retrier, RetryPolicy
from tests.unit.alerts.helpers import NOW, lead, subscription

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


class Topic:
    def __init__(self, failures: int = 0) -> None:
        self.messages: list[tuple[bytes, bytes]] = []
        self.failures = failures

    async def publish(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        await asyncio.sleep(0)  # another coroutine may run meanwhile, as with a real broker
        if self.failures:
            self.failures -= 1
            raise ServiceUnavailable("broker away")
        self.messages += messages

    def ids(self) -> list[str]:
        """The notification ids published: what a consumer of the topic deduplicates by."""
        return [orjson.loads(value)["notification_id"] for _, value in self.messages]

    def keys(self) -> set[bytes]:
        return {key for key, _ in self.messages}


class Clocks:
    """A wall clock and a monotonic clock that move together, by hand."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def now(self) -> datetime:
        return T0 + timedelta(seconds=self.elapsed)

    def mono(self) -> float:
        return self.elapsed


async def _no_sleep(_s: float) -> None:
    return None


RETRIER = Retrier(RetryPolicy(base_s=0.01, cap_s=0.01), sleep=_no_sleep)


def _outbox(log: InMemoryAlertLog, topic: Topic, owner: str, clocks: Clocks) -> AlertOutbox:
    return AlertOutbox(
        log,
        topic.publish,
        owner=owner,
        lease_s=30.0,
        retrier=RETRIER,
        clock=clocks.now,
        monotonic=clocks.mono,
    )


def _notes(*lead_ids: str) -> list[dict[str, object]]:
    sub = subscription()
    return [
        build_notification(sub, lead(i), review_url="http://r", created_at=NOW) for i in lead_ids
    ]


async def _drain(outbox: AlertOutbox) -> None:
    while await outbox.publish_pending():
        pass


async def test_a_redelivered_batch_creates_and_publishes_nothing_twice() -> None:
    log, topic, clocks = InMemoryAlertLog(), Topic(), Clocks()
    outbox = _outbox(log, topic, "w1", clocks)
    first = await outbox.create(_notes("l1", "l2"))
    again = await outbox.create(_notes("l1", "l2", "l3"))
    assert [n["lead_id"] for n in first] == ["l1", "l2"]
    assert [n["lead_id"] for n in again] == ["l3"]
    assert topic.messages == []  # creation does not wait for the topic
    await _drain(outbox)
    assert len(topic.ids()) == len(set(topic.ids())) == 3
    assert topic.keys() == {b"s1"}  # keyed by subscription, as the contract has it
    assert all(doc["published"] and doc["claimed_by"] == "w1" for doc in log.docs.values())
    message = orjson.loads(topic.messages[0][1])
    assert "published" not in message
    assert "claimed_by" not in message


async def test_a_dead_workers_notification_is_relayed_once_after_the_lease() -> None:
    log, topic, clocks = InMemoryAlertLog(), Topic(), Clocks()
    dead = _outbox(log, topic, "dead", clocks)
    await dead.create(_notes("l1"))  # created, then SIGKILL: never published
    other = _outbox(log, topic, "w2", clocks)
    clocks.elapsed = 29.0
    assert await other.relay_once() == 0  # the claim is still the dead worker's
    clocks.elapsed = 31.0
    assert await other.relay_once() == 1
    assert await other.relay_once() == 0
    assert topic.ids() == [notification_id("s1", "l1")]
    assert next(iter(log.docs.values()))["published"]


async def test_two_relays_meeting_one_orphan_publish_it_once() -> None:
    log, topic, clocks = InMemoryAlertLog(), Topic(), Clocks()
    await _outbox(log, topic, "dead", clocks).create(_notes("l1", "l2"))
    clocks.elapsed = 60.0
    one, two = _outbox(log, topic, "w1", clocks), _outbox(log, topic, "w2", clocks)
    await asyncio.gather(one.relay_once(), two.relay_once())
    assert sorted(topic.ids()) == sorted(notification_id("s1", i) for i in ("l1", "l2"))
    assert one.stats.relayed + two.stats.relayed == 2
    assert one.stats.lost_claims + two.stats.lost_claims == 2


async def test_a_creator_whose_claim_was_taken_does_not_publish() -> None:
    log, topic, clocks = InMemoryAlertLog(), Topic(), Clocks()
    slow = _outbox(log, topic, "slow", clocks)
    await slow.create(_notes("l1"))
    clocks.elapsed = 45.0  # the slow worker's publisher did not run for 45 s
    assert await _outbox(log, topic, "w2", clocks).relay_once() == 1
    await _drain(slow)  # its claim is old: it claims again first, and loses
    assert len(topic.messages) == 1
    assert slow.stats.lost_claims == 1


async def test_an_old_claim_still_held_is_renewed_and_published() -> None:
    log, topic, clocks = InMemoryAlertLog(), Topic(), Clocks()
    slow = _outbox(log, topic, "slow", clocks)
    await slow.create(_notes("l1"))
    clocks.elapsed = 20.0  # past half the lease: renewed before publishing
    await _drain(slow)
    doc = next(iter(log.docs.values()))
    assert doc["claimed_at"] == (T0 + timedelta(seconds=20)).isoformat()
    assert len(topic.messages) == 1
    assert doc["published"]


async def test_a_large_batch_is_created_in_bounded_bulks_each_queued_at_once() -> None:
    log, topic = InMemoryAlertLog(), Topic()
    sizes: list[int] = []
    create = log.create

    async def spy(docs: Sequence[dict[str, object]]) -> list[Stamp | None]:
        sizes.append(len(docs))
        return await create(docs)

    log.create = spy  # type: ignore[method-assign]
    outbox = AlertOutbox(log, topic.publish, owner="w1", max_create=2, retrier=RETRIER)
    created = await outbox.create(_notes("l1", "l2", "l3", "l4", "l5"))
    assert sizes == [2, 2, 1]
    assert len(created) == len(outbox.pending) == 5


async def test_a_failed_mark_is_retried_without_publishing_again() -> None:
    log, topic, clocks = InMemoryAlertLog(), Topic(), Clocks()
    failures = [ServiceUnavailable("bulk item 429")]
    mark = log.mark_published

    async def flaky(held: Sequence[tuple[dict[str, object], Stamp]]) -> None:
        if failures:
            raise failures.pop()
        await mark(held)

    log.mark_published = flaky  # type: ignore[method-assign]
    outbox = _outbox(log, topic, "w1", clocks)
    await outbox.create(_notes("l1", "l2"))
    await _drain(outbox)
    assert len(topic.messages) == 2
    assert all(doc["published"] for doc in log.docs.values())


async def test_kafka_away_is_retried_until_published() -> None:
    log, topic, clocks = InMemoryAlertLog(), Topic(failures=3), Clocks()
    outbox = _outbox(log, topic, "w1", clocks)
    await outbox.create(_notes("l1"))
    await _drain(outbox)
    assert len(topic.messages) == 1


async def test_the_buffer_is_bounded_and_a_full_one_makes_the_writer_wait() -> None:
    buffer = PendingBuffer(3)
    item = Claimed({"notification_id": "n"}, Stamp(1, 1), 0.0)
    await buffer.put([item, item])
    blocked = asyncio.ensure_future(buffer.put([item, item]))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    assert len(await buffer.take(1, timeout_s=0)) == 1
    await asyncio.wait_for(blocked, 1.0)
    assert len(buffer) == 3
    await buffer.put([])  # nothing to add never waits
    assert await PendingBuffer(1).take(5, timeout_s=0.01) == []
    oversized = PendingBuffer(1)
    await asyncio.wait_for(oversized.put([item, item]), 1.0)  # alone, a big batch goes in


@pytest.mark.parametrize(
    ("subscription_id", "lead_id"),
    [("s1", "l1"), ("", ""), ("b000123", str(uuid.uuid4())), ("美兰区/高", "l/2"), ("🙂", "\x00")],
)
def test_the_notification_id_is_the_pairs_uuid5(subscription_id: str, lead_id: str) -> None:
    expected = str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"{subscription_id}/{lead_id}"))
    assert notification_id(subscription_id, lead_id) == expected
    assert notification_id(subscription_id + "x", lead_id) != expected


def test_a_notification_carries_no_full_number() -> None:
    note = _notes("l1")[0]
    text = orjson.dumps(note).decode()
    assert "460105199001017129" not in text
    assert "13812345678" not in text
    assert note["link"] == "http://r/leads/l1"
    assert set(note) >= {"lead_id", "tier", "score", "reason", "link"}
    assert "person_name" not in note


@pytest.mark.parametrize(
    "reason",
    ["id 460105199001017129\nagrees", "card 6222021234567890123 and 1234", "x" * 1000],
)
def test_the_reason_is_one_masked_line(reason: str) -> None:
    text = one_line_reason({"explanation": {"reason_en": reason}})
    assert "\n" not in text
    assert len(text) <= 240
    assert not any(run.isdigit() and len(run) >= 4 for run in text.replace("*", " ").split())


class GatedMarks(InMemoryAlertLog):
    """An alerts log whose ``published`` marks wait for ``open``; creates counted in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()
        self.creating = 0
        self.peak_creating = 0

    async def create(self, docs: Sequence[object]) -> list[Stamp | None]:  # type: ignore[override]
        self.creating += 1
        self.peak_creating = max(self.peak_creating, self.creating)
        await asyncio.sleep(0.01)  # Elasticsearch indexing
        self.creating -= 1
        return await super().create(docs)  # type: ignore[arg-type]

    async def mark_published(self, held: Sequence[tuple[Mapping[str, Any], Stamp]]) -> None:
        await self.open.wait()
        await super().mark_published(held)


async def test_bulks_of_one_lead_batch_are_created_side_by_side_in_order() -> None:
    log, topic = GatedMarks(), Topic()
    outbox = AlertOutbox(log, topic.publish, owner="w1", max_create=2, retrier=RETRIER)
    leads = [f"l{i}" for i in range(20)]
    created = await outbox.create(_notes(*leads))
    assert [n["lead_id"] for n in created] == leads
    assert 1 < log.peak_creating <= 4  # bounded, and more than one at a time


async def test_a_slow_mark_does_not_hold_the_next_batch_back_from_the_topic() -> None:
    log, topic = GatedMarks(), Topic()
    outbox = AlertOutbox(log, topic.publish, owner="w1", max_batch=2, retrier=RETRIER)
    stop = asyncio.Event()
    publisher = asyncio.ensure_future(outbox.run_publisher(stop))
    await outbox.create(_notes("l1", "l2"))
    await asyncio.sleep(0.05)
    await outbox.create(_notes("l3", "l4"))  # while the first batch's mark hangs
    for _ in range(100):
        if len(topic.messages) == 4:
            break
        await asyncio.sleep(0.01)
    assert len(topic.messages) == 4
    assert not any(doc["published"] for doc in log.docs.values())  # marks still waiting
    log.open.set()
    for _ in range(100):
        if all(doc["published"] for doc in log.docs.values()):
            break
        await asyncio.sleep(0.01)
    assert all(doc["published"] for doc in log.docs.values())
    assert outbox.stats.published == 4
    stop.set()
    await asyncio.wait_for(publisher, 2.0)


async def test_marks_in_flight_are_bounded_and_none_precedes_its_acknowledgement() -> None:
    log = GatedMarks()
    acked: set[str] = set()

    async def publish(messages: Sequence[tuple[bytes, bytes]]) -> None:
        await asyncio.sleep(0)
        acked.update(orjson.loads(value)["notification_id"] for _, value in messages)

    mark = log.mark_published

    async def checked(held: Sequence[tuple[dict[str, object], Stamp]]) -> None:
        # A mark only after Kafka acknowledged its batch.
        assert {doc["notification_id"] for doc, _ in held} <= acked
        await mark(held)

    log.mark_published = checked  # type: ignore[method-assign]
    outbox = AlertOutbox(log, publish, owner="w1", max_batch=1, retrier=RETRIER)
    stop = asyncio.Event()
    publisher = asyncio.ensure_future(outbox.run_publisher(stop))
    await outbox.create(_notes("l1", "l2", "l3", "l4"))
    await asyncio.sleep(0.1)
    # Two marks hang, so the publisher waits for one of them before the third batch.
    assert len(acked) == MARKS_IN_FLIGHT == 2
    log.open.set()
    for _ in range(100):
        if outbox.stats.published == 4:
            break
        await asyncio.sleep(0.01)
    assert outbox.stats.published == 4
    stop.set()
    await asyncio.wait_for(publisher, 2.0)


async def test_a_relayed_notification_is_marked_with_the_relays_claim_kept() -> None:
    log, topic, clocks = InMemoryAlertLog(), Topic(), Clocks()
    await _outbox(log, topic, "dead", clocks).create(_notes("l1"))
    clocks.elapsed = 31.0
    assert await _outbox(log, topic, "w2", clocks).relay_once() == 1
    doc = next(iter(log.docs.values()))
    # The mark writes back the document as claimed, not as the search found it.
    assert doc["published"]
    assert doc["claimed_by"] == "w2"
    assert log.marked_in_place == 0  # at the claim's stamp: no partial update needed
