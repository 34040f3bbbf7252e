"""The audit trail on the real stack: Kafka mirror, create-only records, and the CLI."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from elasticsearch import AsyncElasticsearch, Elasticsearch

from connectors.topics import drop_topics
from review.audit import AuditTrail, audit_entry
from review.elastic import Conflict
from tests.integration.test_review_support import drop_world
from tracer.cli import main
from tracer.settings import TracerSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix(es: Elasticsearch, settings: TracerSettings) -> Iterator[str]:
    name = f"it-review-audit-{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        drop_world(es, name)
        drop_topics(settings, [f"{name}.audit"], group=f"{name}-none")


def _entry(actor: str, action: str = "view", audit_id: str | None = None) -> dict[str, Any]:
    return audit_entry(
        actor=actor,
        role="officer",
        action=action,
        outcome="allowed",
        address="127.0.0.1",
        now=dt.datetime.now(dt.UTC),
        audit_id=audit_id,
    )


async def test_records_are_created_once_and_mirrored_to_the_topic(
    settings: TracerSettings, es: Elasticsearch, prefix: str
) -> None:
    topic = f"{prefix}.audit"
    client = AsyncElasticsearch(settings.elasticsearch_url, request_timeout=30)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        trail = AuditTrail(client, f"{prefix}-audit", topic=topic, publisher=producer)
        await trail.ensure()
        trail.start()
        entries = [_entry(actor) for actor in ("wang", "li", "wang")]
        for entry in entries:
            await trail.record(dict(entry))
        with pytest.raises(Conflict):  # create-only: the same record is never written twice
            await trail.record(dict(entries[0]))
        await trail.close(grace_s=30)
        assert trail.stats.published == 3 and trail.stats.lost == 0
    finally:
        await producer.stop()
        await client.close()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000, max_records=10)
        got = [(r.key, orjson.loads(r.value)["audit_id"]) for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    assert sorted(got) == sorted((str(e["actor"]).encode(), e["audit_id"]) for e in entries)


def test_cli_users_add_list_disable_and_audit_query(
    prefix: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACER_REVIEW_USERS_INDEX", f"{prefix}-users")
    monkeypatch.setenv("TRACER_AUDIT_INDEX", f"{prefix}-audit")
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    args = ["users", "add", "zhang.san", "--role", "officer", "--district", "美兰区"]
    assert main([*args, "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    with pytest.raises(SystemExit) as exists:
        main([*args, "--password-stdin"])
    assert exists.value.code == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["users", "list"]) == 0
    listed = capsys.readouterr().out
    assert "zhang.san" in listed and "美兰区" in listed and "argon2" not in listed
    assert main(["users", "disable", "zhang.san"]) == 0
    assert main(["users", "list"]) == 0
    assert "disabled" in capsys.readouterr().out
    assert main(["audit", "--action", "users_manage", "--json"]) == 0
    lines = [orjson.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    whats = sorted((e["details"]["what"], e["outcome"]) for e in lines)
    assert whats == [("add", "allowed"), ("add", "invalid"), ("disable", "allowed")]
    with pytest.raises(SystemExit) as bad:
        main(["audit", "--since", "yesterday"])
    assert bad.value.code == 2
