"""Exactly one notification per (subscription, lead): the ``alerts`` index, then the topic.

:meth:`AlertRecorder.record` writes a batch of notifications create-only to the ``alerts``
index under their notification id (``published: false``), publishes the ones it created on the
``alerts`` topic (key = notification id) and waits for Kafka's acknowledgement, then marks them
``published: true``. The index is the arbiter: a redelivered batch, a second worker or a
restarted one meets a 409 and publishes nothing, unless the stored notification still says
``published: false`` (a worker died between the create and the mark): then it is published now.
So the index holds each pair once; the topic holds it once except when a worker dies after
Kafka's acknowledgement and before the mark (a window of one bulk request), when it appears
twice under the same key (consumers keep the last per key). Every call is retried until
Elasticsearch and Kafka acknowledged it; the caller's offsets wait for it.

:class:`InMemoryAlertLog` is the twin of the index for unit tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import orjson
from connectors.elasticsearch import classify_item, request_error
from connectors.errors import ServiceUnavailable
from connectors.retry import Retrier
from elasticsearch import ApiError, TransportError

__all__ = [
    "ALERTS_INDEX",
    "AlertLog",
    "AlertRecorder",
    "ElasticsearchAlertLog",
    "InMemoryAlertLog",
    "Publish",
    "alert_mappings",
]

ALERTS_INDEX: Final = "alerts"

Publish = Callable[[Sequence[tuple[bytes, bytes]]], Awaitable[None]]
"""Publishes (key, value) messages on the ``alerts`` topic; returns once Kafka acknowledged."""


def alert_mappings() -> dict[str, Any]:
    """The mapping of the ``alerts`` index (pure)."""
    keywords = (
        "notification_id",
        "subscription_id",
        "owner",
        "lead_id",
        "tier",
        "district",
        "source",
        "event_type",
        "delivery_state",
    )
    properties: dict[str, Any] = {name: {"type": "keyword"} for name in keywords}
    properties |= {
        "score": {"type": "float"},
        "reason": {"type": "text"},
        "link": {"type": "keyword", "index": False},
        "created_at": {"type": "date"},
        "delivered_at": {"type": "date"},
        "published": {"type": "boolean"},
        "delivery_error": {"type": "keyword"},
    }
    return {"dynamic": False, "properties": properties}


class AlertLog(Protocol):
    """The ``alerts`` index as the recorder needs it."""

    async def create(self, docs: Sequence[Mapping[str, Any]]) -> list[bool]:
        """Create each doc under its ``notification_id``; True where created, False if there."""
        ...

    async def unpublished(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored with ``published: false``."""
        ...

    async def update(self, ids: Sequence[str], changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` to each of ``ids``."""
        ...


@dataclass
class InMemoryAlertLog:
    """The twin of the ``alerts`` index."""

    docs: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def create(self, docs: Sequence[Mapping[str, Any]]) -> list[bool]:
        """Create each doc unless its id is there."""
        created = []
        for doc in docs:
            key = str(doc["notification_id"])
            created.append(key not in self.docs)
            self.docs.setdefault(key, dict(doc))
        return created

    async def unpublished(self, ids: Sequence[str]) -> set[str]:
        """Ids stored with ``published: false``."""
        return {i for i in ids if i in self.docs and not self.docs[i].get("published")}

    async def update(self, ids: Sequence[str], changes: Mapping[str, Any]) -> None:
        """Apply ``changes``."""
        for i in ids:
            self.docs[i].update(changes)

    async def undelivered(self, *, created_before: str, limit: int) -> list[dict[str, Any]]:
        """Notifications ``pending`` or ``failed`` created before then, oldest first."""
        waiting = [
            dict(d)
            for d in self.docs.values()
            if d.get("delivery_state") in ("pending", "failed") and d["created_at"] < created_before
        ]
        return sorted(waiting, key=lambda d: (d["created_at"], d["notification_id"]))[:limit]


class ElasticsearchAlertLog:
    """The ``alerts`` index through :class:`elasticsearch.AsyncElasticsearch`.

    Errors are translated (:func:`connectors.elasticsearch.request_error`); the recorder
    retries.
    """

    def __init__(self, client: Any, *, index: str = ALERTS_INDEX) -> None:
        self._client = client
        self.index = index

    async def ensure(self) -> None:
        """Create the index with its mapping if missing."""
        try:
            if not await self._client.indices.exists(index=self.index):
                await self._client.options(ignore_status=400).indices.create(
                    index=self.index,
                    mappings=alert_mappings(),
                    settings={"number_of_shards": 1, "auto_expand_replicas": "0-1"},
                )
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc

    async def create(self, docs: Sequence[Mapping[str, Any]]) -> list[bool]:
        """One bulk of ``create``; a retriable item fails the call (retried whole: 409s then)."""
        operations: list[Any] = []
        for doc in docs:
            operations += [{"create": {"_index": self.index, "_id": doc["notification_id"]}}, doc]
        items = await self._bulk(operations)
        outcomes = [classify_item(int(item.get("status", 500))) for item in items]
        if "retry" in outcomes:
            raise ServiceUnavailable("alerts: some notifications throttled or failed")
        # A refused notification (mapping) counts as there: retrying would never end, and its
        # fields are ours, so this is a bug to see in the log rather than a stalled pipeline.
        return [outcome == "created" for outcome in outcomes]

    async def unpublished(self, ids: Sequence[str]) -> set[str]:
        """One realtime ``_mget`` of the ``published`` flags."""
        try:
            response = await self._client.mget(
                index=self.index, ids=list(ids), source_includes=["published"]
            )
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc
        return {
            str(doc["_id"])
            for doc in response["docs"]
            if doc.get("found") and not (doc.get("_source") or {}).get("published")
        }

    async def update(self, ids: Sequence[str], changes: Mapping[str, Any]) -> None:
        """One bulk of partial updates."""
        operations: list[Any] = []
        for i in ids:
            operations += [{"update": {"_index": self.index, "_id": i}}, {"doc": dict(changes)}]
        if operations:
            await self._bulk(operations)

    async def undelivered(self, *, created_before: str, limit: int) -> list[dict[str, Any]]:
        """Notifications ``pending`` or ``failed`` created before then, oldest first."""
        query = {
            "bool": {
                "filter": [
                    {"terms": {"delivery_state": ["pending", "failed"]}},
                    {"range": {"created_at": {"lt": created_before}}},
                ]
            }
        }
        try:
            await self._client.indices.refresh(index=self.index)
            response = await self._client.search(
                index=self.index,
                query=query,
                size=limit,
                sort=[{"created_at": "asc"}, {"notification_id": "asc"}],
            )
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc
        return [dict(hit["_source"]) for hit in response["hits"]["hits"]]

    async def _bulk(self, operations: list[Any]) -> list[Mapping[str, Any]]:
        try:
            response = await self._client.bulk(operations=operations)
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc
        return [next(iter(entry.values())) for entry in response["items"]]


class AlertRecorder:
    """Records notifications once: the index decides, the topic follows (module docstring).

    Args:
        log: The ``alerts`` index (or its twin).
        publish: Publishes on the ``alerts`` topic, waiting for acknowledgement.
        retrier: Retries Elasticsearch and Kafka being away (kind ``alert``).
    """

    def __init__(self, log: AlertLog, publish: Publish, *, retrier: Retrier | None = None) -> None:
        self._log = log
        self._publish = publish
        self._retrier = retrier or Retrier()

    async def record(self, notifications: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Store and publish ``notifications``; return those published by this call.

        Raises:
            RetryGaveUp: The worker is stopping (the caller's batch stays uncommitted).
        """
        if not notifications:
            return []
        docs = [dict(n) | {"published": False} for n in notifications]
        created = await self._retrier.call(lambda: self._log.create(docs), kind="alert")
        fresh = [doc for doc, new in zip(docs, created, strict=True) if new]
        seen = [
            str(doc["notification_id"]) for doc, new in zip(docs, created, strict=True) if not new
        ]
        if seen:
            stale = await self._retrier.call(lambda: self._log.unpublished(seen), kind="alert")
            fresh += [doc for doc in docs if doc["notification_id"] in stale]
        if not fresh:
            return []
        messages = [(str(d["notification_id"]).encode(), _encode(d)) for d in fresh]
        await self._retrier.call(lambda: self._publish(messages), kind="alert")
        ids = [str(d["notification_id"]) for d in fresh]
        await self._retrier.call(lambda: self._log.update(ids, {"published": True}), kind="alert")
        return fresh


def _encode(doc: Mapping[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in doc.items() if k != "published"})
