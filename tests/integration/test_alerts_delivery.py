"""Webhook delivery on the real Elasticsearch: two workers' sweeps, each notification once.

The delivery claim (``delivery_claimed_by`` / ``delivery_claimed_at``) changes hands only by an
update conditional on ``if_seq_no`` / ``if_primary_term``: two sweeps that read the same
orphans send each once, and neither touches what a live worker's claim still covers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from alerts.delivery import Dispatcher
from alerts.notifications import build_notification
from alerts.recorder import ElasticsearchAlertLog
from alerts.secretbox import new_webhook_secret
from connectors.clients import async_elasticsearch_client
from tests.integration.streaming import Run
from tests.unit.alerts.helpers import lead, subscription

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ORPHANS = 60
SECRET = new_webhook_secret()


class Recorder:
    """A receiver that takes everything and keeps each delivery's ``webhook-id``."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        await asyncio.sleep(0.001)  # a real await: the other sweep runs meanwhile
        self.ids.append(headers["webhook-id"])

    async def close(self) -> None:
        return None


async def _nothing(*_args: Any) -> None:
    return None


def _dispatcher(log: ElasticsearchAlertLog, receiver: Recorder, owner: str) -> Dispatcher:
    sub = subscription("s1").changed(
        now="t", webhook_url="https://s1.example.org/hook", webhook_secret="sealed"
    )
    return Dispatcher(
        receiver,
        subscription=lambda sub_id: sub if sub_id == "s1" else None,
        open_secret=lambda _token: SECRET,
        delivery_log=log,
        mark_failing=_nothing,
        dead_letter=_nothing,
        owner=owner,
        lease_s=60.0,
    )


def _notes(count: int, claimed_by: str, claimed_at: datetime) -> list[dict[str, Any]]:
    sub = subscription("s1")
    created = claimed_at.isoformat()
    return [
        build_notification(
            sub, lead(f"{claimed_by}-l{i}"), review_url="http://r", created_at=created
        )
        | {
            "delivery_state": "pending",
            "delivery_claimed_by": claimed_by,
            "delivery_claimed_at": created,
        }
        for i in range(count)
    ]


async def _race(run: Run, index: str) -> tuple[Recorder, list[str], list[str]]:
    client = async_elasticsearch_client(run.settings)
    try:
        log = ElasticsearchAlertLog(client, index=index)
        await log.ensure()
        orphans = _notes(ORPHANS, "dead", datetime.now(UTC) - timedelta(minutes=5))
        live = _notes(5, "live", datetime.now(UTC))  # a live worker's queue holds these
        assert all(await log.create(orphans + live))
        receiver = Recorder()
        one, two = (_dispatcher(log, receiver, name) for name in ("w1", "w2"))
        counts = await asyncio.gather(one.sweep(), two.sweep())
        assert sum(counts) == ORPHANS
        assert await one.sweep() == 0 and await two.sweep() == 0
        return (
            receiver,
            [n["notification_id"] for n in orphans],
            [n["notification_id"] for n in live],
        )
    finally:
        await client.close()


def test_two_sweeps_deliver_each_orphan_once_and_leave_a_live_claim(
    run: Run, es: Elasticsearch
) -> None:
    index = f"alerts-delivery-{run.settings.consumer_group.removeprefix('tracer-')}"
    try:
        receiver, orphans, live = asyncio.run(_race(run, index))
        es.indices.refresh(index=index)
        states = {
            hit["_id"]: hit["_source"]["delivery_state"]
            for hit in es.search(index=index, size=200)["hits"]["hits"]
        }
    finally:
        es.options(ignore_status=404).indices.delete(index=index)
    assert sorted(receiver.ids) == sorted(orphans)  # the webhook-id is the notification id
    assert all(states[i] == "delivered" for i in orphans)
    assert all(states[i] == "pending" for i in live)
