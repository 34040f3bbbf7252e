"""tracer retention on the local stack: topics get retention.ms; old indices and documents go.

Every name is unique to the test (topic, day-index prefix, alias), so other tests and helpers
running on the same Kafka and Elasticsearch are untouched.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from connectors.retention import (
    apply_topic_retention,
    delete_old_day_indices,
    delete_old_documents,
    topic_retention,
)
from connectors.topics import kafka_admin
from tracer.settings import TracerSettings

pytestmark = pytest.mark.integration
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def cleanup(es: Elasticsearch, unique_name: str) -> Iterator[str]:
    yield unique_name
    # Destructive requests need names, not wildcards: resolve them first.
    for index in es.indices.get(index=f"{unique_name}*").body:
        es.options(ignore_status=404).indices.delete(index=index)


def test_topic_retention_is_set_and_setting_it_again_is_harmless(
    settings: TracerSettings, unique_name: str
) -> None:
    admin = kafka_admin(settings)
    topic = f"{unique_name}.feeds.bank"
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
        # A new topic reaches the admin's metadata a moment later: wait for it (bounded).
        deadline = time.monotonic() + 20
        while topic not in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.2)
        plan = topic_retention({"feeds.bank": 3, "deadletter": 30}, prefix=f"{unique_name}.")
        for _ in range(2):
            report = apply_topic_retention(admin, plan)
            assert report.applied == {topic: 3 * 86_400_000}
            assert report.missing == (f"{unique_name}.deadletter",)
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": None})]
        )
        assert "259200000" in str(described)
    finally:
        admin.delete_topics([topic])
        admin.close()


def test_old_day_indices_go_whole_and_a_second_run_removes_nothing(
    es: Elasticsearch, cleanup: str
) -> None:
    prefix = f"{cleanup}-events-"
    for day in ("2026.10.01", "2026.11.06", "2026.12.01"):
        es.indices.create(index=f"{prefix}{day}")
    es.indices.create(index=f"{prefix}template")
    gone = delete_old_day_indices(es, prefix, days=30, now=NOW)
    assert gone == [f"{prefix}2026.10.01", f"{prefix}2026.11.06"]
    left = sorted(es.indices.get(index=f"{prefix}*").body)
    assert left == [f"{prefix}2026.12.01", f"{prefix}template"]
    assert delete_old_day_indices(es, prefix, days=30, now=NOW) == []


def test_old_documents_go_through_pit_and_bulk(es: Elasticsearch, cleanup: str) -> None:
    index, alias = f"{cleanup}-alerts-v1", f"{cleanup}-alerts"
    es.indices.create(index=index, aliases={alias: {}})
    days_ago = [1, 10, 89, 91, 120, 400] * 5  # 15 older than 90 days
    operations = []
    for n, ago in enumerate(days_ago):
        stamp = (NOW - dt.timedelta(days=ago)).isoformat()
        operations += [{"index": {"_index": index, "_id": str(n)}}, {"@timestamp": stamp}]
    es.bulk(operations=operations, refresh=True)
    removed = delete_old_documents(es, alias, field="@timestamp", days=90, now=NOW, page=4)
    assert removed == 15
    es.indices.refresh(index=index)
    assert es.count(index=alias).body["count"] == 15
    assert delete_old_documents(es, alias, field="@timestamp", days=90, now=NOW) == 0
    assert delete_old_documents(es, f"{cleanup}-absent", field="@timestamp", days=1) == 0
