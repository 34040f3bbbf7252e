"""The outbox on the real Elasticsearch and Kafka: two relays, each orphan published once.

(And the alerts producer's batched publication: each key where the default partitioner puts
it, in order.)

A worker that created notifications and died before publishing them leaves them
``published: false`` in the ``alerts`` index. Every worker's relay looks for them; two relays
meeting the same notifications must not both publish one: the claim is an update conditional on
``if_seq_no`` / ``if_primary_term``, which Elasticsearch grants to exactly one of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from elasticsearch import Elasticsearch

from alerts.notifications import build_notification
from alerts.outbox import AlertOutbox
from alerts.recorder import ElasticsearchAlertLog
from connectors.clients import async_elasticsearch_client
from streams.alerting import AlertsProducer
from tests.integration.streaming import REAL, Run, read_topic
from tests.unit.alerts.helpers import lead, subscription

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ORPHANS = 300


async def _nowhere(_messages: Sequence[tuple[bytes, bytes]]) -> None:
    raise AssertionError("the dead worker publishes nothing")


def _notes(count: int) -> list[dict[str, Any]]:
    sub = subscription()
    created = "2026-12-07T10:00:00+00:00"
    return [
        build_notification(sub, lead(f"l{i}"), review_url="http://r", created_at=created)
        for i in range(count)
    ]


async def _orphans(log: ElasticsearchAlertLog) -> None:
    """Notifications a worker created two minutes ago and never published (then SIGKILL)."""
    past = datetime.now(UTC) - timedelta(minutes=2)
    dead = AlertOutbox(log, _nowhere, owner="dead", clock=lambda: past)
    assert len(await dead.create(_notes(ORPHANS))) == ORPHANS


async def _relay_until_done(outbox: AlertOutbox, es: Elasticsearch, index: str) -> None:
    for _ in range(100):  # bounded: a relay round is one search and a few bulks
        await outbox.relay_once()
        es.indices.refresh(index=index)
        if es.count(index=index, query={"term": {"published": False}})["count"] == 0:
            return
    raise AssertionError("orphans left unpublished")


async def _race(run: Run, es: Elasticsearch, index: str) -> tuple[AlertOutbox, AlertOutbox]:
    client = async_elasticsearch_client(run.settings)
    producers = [AlertsProducer(run.settings, run.topic("alerts")) for _ in range(2)]
    try:
        log = ElasticsearchAlertLog(client, index=index)
        await log.ensure()
        await _orphans(log)
        es.indices.refresh(index=index)
        # Both read the same state before either claims: a real conflict on every one.
        found = await log.unclaimed(claimed_before=datetime.now(UTC).isoformat(), limit=1000)
        assert len(found) == ORPHANS
        stamped = [(str(doc["notification_id"]), stamp) for doc, stamp in found]
        first, second = await asyncio.gather(
            log.claim(stamped, {"claimed_by": "a"}), log.claim(stamped, {"claimed_by": "b"})
        )
        assert all((x is None) != (y is None) for x, y in zip(first, second, strict=True))
        # Two relays running at once, small rounds so they meet on the same notifications.
        one, two = (
            AlertOutbox(log, p.publish, owner=name, lease_s=1.0, max_batch=40)
            for p, name in zip(producers, ("w1", "w2"), strict=True)
        )
        await asyncio.sleep(1.1)  # the test's own claims above expire
        await asyncio.gather(_relay_until_done(one, es, index), _relay_until_done(two, es, index))
        return one, two
    finally:
        for producer in producers:
            await producer.close()
        await client.close()


def test_two_relays_publish_each_orphan_exactly_once(run: Run, es: Elasticsearch) -> None:
    index = f"alerts-{run.settings.consumer_group.removeprefix('tracer-')}"
    try:
        one, two = asyncio.run(_race(run, es, index))
    finally:
        es.options(ignore_status=404).indices.delete(index=index)
    ids = [orjson.loads(message.value)["notification_id"] for message in read_topic(run, "alerts")]
    assert len(ids) == len(set(ids)) == ORPHANS
    assert one.stats.relayed + two.stats.relayed == ORPHANS
    assert one.stats.relayed and two.stats.relayed  # both really took part


async def _mark_after_others(log: ElasticsearchAlertLog) -> list[dict[str, Any]]:
    """Three created notifications; one delivered and one claimed by a relay before the mark."""
    docs = [
        n | {"published": False, "claimed_by": "w1", "delivery_state": "pending"} for n in _notes(3)
    ]
    stamps = [stamp for stamp in await log.create(docs) if stamp is not None]
    assert len(stamps) == len(docs)
    ids = [str(d["notification_id"]) for d in docs]
    await log.update([ids[1]], {"delivery_state": "delivered"})
    assert await log.claim([(ids[2], stamps[2])], {"claimed_by": "relay"}) != [None]
    # The creator's mark, with the stamps of its creates: two of them are stale now.
    await log.mark_published(list(zip(docs, stamps, strict=True)))
    return [found[0] for found in await log.current(ids) if found is not None]


def test_a_mark_writes_the_stored_document_back_and_keeps_what_others_changed(
    es: Elasticsearch, unique_name: str
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        client = async_elasticsearch_client(REAL)
        try:
            log = ElasticsearchAlertLog(client, index=unique_name)
            await log.ensure()
            return await _mark_after_others(log)
        finally:
            await client.close()

    try:
        untouched, delivered, taken = asyncio.run(scenario())
    finally:
        es.options(ignore_status=404).indices.delete(index=unique_name)
    assert all(doc["published"] for doc in (untouched, delivered, taken))
    assert untouched["delivery_state"] == "pending"
    assert untouched["reason"]  # the whole document, as created
    assert delivered["delivery_state"] == "delivered"  # the delivery mark is not undone
    assert taken["claimed_by"] == "relay"  # nor the relay's claim


async def _publish_in_batches(run: Run, messages: list[tuple[bytes, bytes]]) -> None:
    # 4 KiB batches: a few dozen notifications each, so every partition gets several in turn.
    producer = AlertsProducer(run.settings, run.topic("alerts"), max_batch_bytes=4096)
    try:
        await producer.publish(messages[:900])
        await producer.publish(messages[900:])
    finally:
        await producer.close()


def test_batched_publication_places_and_orders_each_key_as_the_default_partitioner(
    run: Run,
) -> None:
    keys = [f"sub-{k}".encode() for k in range(37)]
    messages = [
        (keys[i % len(keys)], orjson.dumps({"n": i, "pad": "x" * 200})) for i in range(2000)
    ]
    asyncio.run(_publish_in_batches(run, messages))
    found = read_topic(run, "alerts")
    assert sorted(orjson.loads(m.value)["n"] for m in found) == list(range(2000))  # each once
    partitions = sorted({m.partition for m in found})
    assert len(partitions) > 1
    default = DefaultPartitioner()
    by_key: dict[bytes, list[int]] = {}
    for m in sorted(found, key=lambda m: (m.partition, m.offset)):
        assert m.partition == default(m.key, partitions, partitions)
        by_key.setdefault(m.key, []).append(orjson.loads(m.value)["n"])
    assert all(ns == sorted(ns) for ns in by_key.values())  # a key's messages in order
