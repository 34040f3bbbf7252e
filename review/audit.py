"""The audit trail: every request's who, what, when, from where and outcome (issue 15.6).

Each record is created in the append-only ``audit`` index (``op_type`` create under a fresh id:
never updated; the service's Elasticsearch role grants ``create_doc`` only, see the Kibana and
security issue) before the answer goes out: no record, no data (the request gets a 503). It is
then mirrored to the ``audit`` topic (key: the actor) by a background task with the one
retrier, so a Kafka outage delays the mirror, is logged and counted, and never blocks a request
or shutdown (the queue is bounded; what is left at shutdown after a grace is counted ``lost``).

No id, card or phone number enters a record: every text passes ``redact_numbers``.

    >>> entry = audit_entry(actor="wang", role="officer", action="search", outcome="allowed",
    ...     address="127.0.0.1", details={"text": "王 460105199001017124"},
    ...     now=dt.datetime(2026, 12, 7, tzinfo=dt.UTC), audit_id="a1")
    >>> entry["details"]["text"]
    '王 4601**************'
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

import orjson
from connectors.errors import kafka_publish_error
from connectors.indices import ensure_index_async
from connectors.retry import RetryPolicy, retry_call
from elasticsearch import AsyncElasticsearch
from matchers.fields.masking import redact_numbers

from review.elastic import es_call

__all__ = [
    "AuditPublisher",
    "AuditTrail",
    "Outcome",
    "audit_entry",
    "audit_mappings",
    "audit_query",
]

log = logging.getLogger(__name__)

Outcome = Literal["allowed", "refused", "failed", "conflict", "invalid", "limited", "error"]

_MAX_TEXT: Final = 500
_MAX_ITEMS: Final = 50
_MIRROR_QUEUE: Final = 10_000


def _clean(value: object) -> object:
    """Bound and redact a detail value: texts cut and numbers masked, lists and dicts capped."""
    if isinstance(value, str):
        return redact_numbers(value[:_MAX_TEXT])
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k)[:64]: _clean(v) for k, v in list(value.items())[:_MAX_ITEMS]}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value[:_MAX_ITEMS]]
    return redact_numbers(str(value)[:_MAX_TEXT])


def audit_entry(
    *,
    actor: str,
    role: str,
    action: str,
    outcome: Outcome,
    address: str,
    now: dt.datetime,
    lead_id: str | None = None,
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
    audit_id: str | None = None,
) -> dict[str, Any]:
    """Build one audit record (pure)."""
    return {
        "audit_id": audit_id or str(uuid.uuid4()),
        "@timestamp": now.isoformat(),
        "actor": redact_numbers(actor[:128]),
        "role": role,
        "action": action,
        "outcome": outcome,
        "address": address[:64],
        "lead_id": lead_id,
        "reason": _clean(reason) if reason else None,
        "details": _clean(dict(details or {})),
    }


def audit_mappings() -> dict[str, Any]:
    """The mapping of the ``audit`` index (``details`` kept in ``_source``, not indexed)."""
    keyword = {"type": "keyword"}
    return {
        "dynamic": False,
        "properties": {
            "audit_id": keyword,
            "@timestamp": {"type": "date"},
            "actor": keyword,
            "role": keyword,
            "action": keyword,
            "outcome": keyword,
            "address": keyword,
            "lead_id": keyword,
            "reason": {"type": "text"},
        },
    }


def audit_query(
    *,
    actor: str | None = None,
    action: str | None = None,
    lead_id: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> dict[str, Any]:
    """The query of ``tracer audit``'s filters: each a ``term`` / ``range`` on a value."""
    filters: list[dict[str, Any]] = [
        {"term": {name: value}}
        for name, value in (("actor", actor), ("action", action), ("lead_id", lead_id))
        if value
    ]
    if since or until:
        bounds = {k: v for k, v in (("gte", since), ("lt", until)) if v}
        filters.append({"range": {"@timestamp": bounds}})
    return {"bool": {"filter": filters}}


class AuditPublisher(Protocol):
    """Sends one record to the ``audit`` topic (aiokafka's producer, or a test's twin)."""

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> Any:
        """Publish and wait for the broker's acknowledgement."""
        ...


@dataclass
class MirrorStats:
    """What the Kafka mirror did: published, retried, lost at shutdown."""

    published: int = 0
    retries: int = 0
    lost: int = 0
    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(_MIRROR_QUEUE)
    )


class AuditTrail:
    """Writes audit records to Elasticsearch, then mirrors them to Kafka.

    Args:
        client: the async Elasticsearch client.
        index: the audit index (``audit``).
        topic: the audit topic (with the prefix), or ``None`` for no mirror.
        publisher: the Kafka producer (started by the caller) when ``topic`` is set.
    """

    def __init__(
        self,
        client: AsyncElasticsearch,
        index: str,
        *,
        topic: str | None = None,
        publisher: AuditPublisher | None = None,
    ) -> None:
        self._client = client
        self._index = index
        self._topic = topic
        self._publisher = publisher
        self.stats = MirrorStats()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def ensure(self) -> None:
        """Create the audit index when it is missing (idempotent)."""
        await es_call(
            lambda: ensure_index_async(self._client, self._index, mappings=audit_mappings())
        )

    def start(self) -> None:
        """Start the mirror task (when a topic is configured)."""
        if self._topic and self._publisher and self._task is None:
            self._task = asyncio.create_task(self._mirror())

    async def record(self, entry: dict[str, Any]) -> None:
        """Create ``entry`` in the audit index (create-only), then queue it for the mirror.

        Raises:
            connectors.errors.ConnectorError: Elasticsearch did not take it (the caller answers
                503 and shows nothing).
        """
        await es_call(
            lambda: self._client.create(index=self._index, id=entry["audit_id"], document=entry)
        )
        if self._task is not None:
            try:
                self.stats.queue.put_nowait(entry)
            except asyncio.QueueFull:
                self.stats.lost += 1
                log.error("audit mirror: queue full (Kafka down?); a record stays in ES only")

    async def close(self, *, grace_s: float = 5.0) -> None:
        """Let the mirror drain for up to ``grace_s``, then stop it; count what is left."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stats.queue.join(), grace_s)
        self._stop.set()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.stats.lost += self.stats.queue.qsize()
        if self.stats.queue.qsize():
            log.error("audit mirror: %d records not mirrored at shutdown", self.stats.queue.qsize())

    async def _mirror(self) -> None:
        assert self._topic is not None and self._publisher is not None
        topic, publisher = self._topic, self._publisher
        while True:
            entry = await self.stats.queue.get()
            value, key = orjson.dumps(entry), entry["actor"].encode()

            async def send(value: bytes = value, key: bytes = key) -> None:
                try:
                    await publisher.send_and_wait(topic, value=value, key=key)
                except Exception as exc:  # the adapter's edge: aiokafka's failure, translated once
                    self.stats.retries += 1
                    raise kafka_publish_error(exc) from exc

            try:
                await retry_call(send, kind="publish", policy=RetryPolicy(), stop=self._stop)
                self.stats.published += 1
            except Exception as exc:  # stopped, or refused for good (too large): this one is lost
                self.stats.lost += 1
                log.error("audit mirror: a record stays in ES only (%s)", type(exc).__name__)
            finally:
                self.stats.queue.task_done()
