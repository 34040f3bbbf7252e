"""The ``alerts`` index: the record of notifications, and the outbox of the ``alerts`` topic.

A notification is created there create-only under its id (``published: false``, claimed by the
worker that created it, ``claimed_by`` / ``claimed_at``) before it goes anywhere; what
publishes it on the topic and marks it ``published: true`` is :mod:`alerts.outbox`. Claims
change hands only by optimistic concurrency: :meth:`AlertLog.claim` is an update conditional
on the ``_seq_no`` / ``_primary_term`` the claimant last saw (:class:`Stamp`), so of two
workers claiming one notification from the same state exactly one wins; the other gets a 409.

:class:`ElasticsearchAlertLog` is the index; :class:`InMemoryAlertLog` its twin for unit tests
(same stamps, same conflicts).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple, Protocol

from connectors.elasticsearch import classify_item, request_error
from connectors.errors import ServiceUnavailable
from connectors.indices import ensure_index_async
from elasticsearch import ApiError, TransportError

__all__ = [
    "ALERTS_INDEX",
    "AlertLog",
    "ElasticsearchAlertLog",
    "InMemoryAlertLog",
    "Publish",
    "Stamp",
    "alert_mappings",
]

ALERTS_INDEX: Final = "alerts"
# Unconditional partial updates (publication and delivery marks) of one document can meet;
# Elasticsearch re-applies one that lost this many times before answering 409.
_ON_CONFLICT: Final = 5

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
        "claimed_by",
        "delivery_claimed_by",
    )
    properties: dict[str, Any] = {name: {"type": "keyword"} for name in keywords}
    properties |= {
        "score": {"type": "float"},
        "reason": {"type": "text"},
        "link": {"type": "keyword", "index": False},
        "created_at": {"type": "date"},
        "claimed_at": {"type": "date"},
        "delivery_claimed_at": {"type": "date"},
        "delivered_at": {"type": "date"},
        "published": {"type": "boolean"},
        "delivery_error": {"type": "keyword"},
    }
    return {"dynamic": False, "properties": properties}


class Stamp(NamedTuple):
    """A stored notification's version: what a conditional claim must still find."""

    seq_no: int
    primary_term: int


class AlertLog(Protocol):
    """The ``alerts`` index as the outbox needs it."""

    async def create(self, docs: Sequence[Mapping[str, Any]]) -> list[Stamp | None]:
        """Create each doc under its ``notification_id``; its stamp, or None if it was there."""
        ...

    async def claim(
        self, stamped: Sequence[tuple[str, Stamp]], changes: Mapping[str, Any]
    ) -> list[Stamp | None]:
        """Apply ``changes`` to each id still at its stamp; the new stamp, or None (taken)."""
        ...

    async def unclaimed(
        self, *, claimed_before: str, limit: int
    ) -> list[tuple[dict[str, Any], Stamp]]:
        """Unpublished notifications whose claim is older than ``claimed_before``, oldest first."""
        ...

    async def update(self, ids: Sequence[str], changes: Mapping[str, Any]) -> None:
        """Apply ``changes`` to each of ``ids``."""
        ...

    async def mark_published(self, held: Sequence[tuple[Mapping[str, Any], Stamp]]) -> None:
        """Set ``published: true`` on each doc (as stored at its stamp); raise if any failed."""
        ...


@dataclass
class InMemoryAlertLog:
    """The twin of the ``alerts`` index (every write bumps the document's sequence number)."""

    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    seq: dict[str, int] = field(default_factory=dict)
    writes: int = 0
    #: Marks that met a document changed since its stamp (a partial update then).
    marked_in_place: int = 0

    def _bump(self, key: str) -> Stamp:
        self.writes += 1
        self.seq[key] = self.writes
        return Stamp(self.writes, 1)

    async def create(self, docs: Sequence[Mapping[str, Any]]) -> list[Stamp | None]:
        """Create each doc unless its id is there."""
        stamps: list[Stamp | None] = []
        for doc in docs:
            key = str(doc["notification_id"])
            if key in self.docs:
                stamps.append(None)
                continue
            self.docs[key] = dict(doc)
            stamps.append(self._bump(key))
        return stamps

    async def claim(
        self, stamped: Sequence[tuple[str, Stamp]], changes: Mapping[str, Any]
    ) -> list[Stamp | None]:
        """Apply ``changes`` where the sequence number is still the stamp's."""
        out: list[Stamp | None] = []
        for key, stamp in stamped:
            if self.seq.get(key) != stamp.seq_no:
                out.append(None)
                continue
            self.docs[key].update(changes)
            out.append(self._bump(key))
        return out

    async def unclaimed(
        self, *, claimed_before: str, limit: int
    ) -> list[tuple[dict[str, Any], Stamp]]:
        """Unpublished notifications claimed before then, oldest claim first."""
        stale = [
            d
            for d in self.docs.values()
            if not d.get("published") and _claimed_at(d) < claimed_before
        ]
        stale.sort(key=lambda d: (_claimed_at(d), d["notification_id"]))
        return [(dict(d), Stamp(self.seq[d["notification_id"]], 1)) for d in stale[:limit]]

    async def update(self, ids: Sequence[str], changes: Mapping[str, Any]) -> None:
        """Apply ``changes``."""
        for i in ids:
            self.docs[i].update(changes)
            self._bump(i)

    async def mark_published(self, held: Sequence[tuple[Mapping[str, Any], Stamp]]) -> None:
        """Replace each doc still at its stamp, marked; mark the others in place (as the index)."""
        moved = []
        for doc, stamp in held:
            key = str(doc["notification_id"])
            if self.seq.get(key) == stamp.seq_no:
                self.docs[key] = dict(doc) | {"published": True}
                self._bump(key)
            else:
                moved.append(key)
        self.marked_in_place += len(moved)
        await self.update(moved, {"published": True})

    async def current(self, ids: Sequence[str]) -> list[tuple[dict[str, Any], Stamp] | None]:
        """Each of ``ids`` as stored now, with its stamp."""
        return [
            (dict(self.docs[i]), Stamp(self.seq[i], 1)) if i in self.docs else None for i in ids
        ]

    async def undelivered(
        self, *, claimed_before: str, owner: str, limit: int
    ) -> list[tuple[dict[str, Any], Stamp]]:
        """Undelivered notifications whose delivery claim expired or is ``owner``'s."""
        waiting = [
            d
            for d in self.docs.values()
            if d.get("delivery_state") in ("pending", "failed")
            and (
                d.get("delivery_claimed_by") == owner
                or str(d.get("delivery_claimed_at") or "") < claimed_before
            )
        ]
        waiting.sort(key=lambda d: (d["created_at"], d["notification_id"]))
        return [(dict(d), Stamp(self.seq[d["notification_id"]], 1)) for d in waiting[:limit]]


def _claimed_at(doc: Mapping[str, Any]) -> str:
    # A notification stored before claims existed counts as claimed when it was created.
    return str(doc.get("claimed_at") or doc.get("created_at") or "")


class ElasticsearchAlertLog:
    """The ``alerts`` index through :class:`elasticsearch.AsyncElasticsearch`.

    Errors are translated (:func:`connectors.elasticsearch.request_error`); the recorder
    retries.
    """

    def __init__(self, client: Any, *, index: str = ALERTS_INDEX) -> None:
        self._client = client
        self.index = index

    async def ensure(self) -> None:
        """Create the index with its mapping if missing; add new fields to an older one."""
        try:
            created = await ensure_index_async(
                self._client,
                self.index,
                mappings=alert_mappings(),
                settings={"number_of_shards": 1, "auto_expand_replicas": "0-1"},
            )
            if not created:  # additive only: an index made before the claim fields gets them
                await self._client.indices.put_mapping(
                    index=self.index, properties=alert_mappings()["properties"]
                )
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc

    async def create(self, docs: Sequence[Mapping[str, Any]]) -> list[Stamp | None]:
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
        return [
            _stamp(item) if outcome == "created" else None
            for item, outcome in zip(items, outcomes, strict=True)
        ]

    async def claim(
        self, stamped: Sequence[tuple[str, Stamp]], changes: Mapping[str, Any]
    ) -> list[Stamp | None]:
        """One bulk of updates, each conditional on its stamp (409: someone else's now)."""
        operations: list[Any] = []
        for key, stamp in stamped:
            action = {
                "_index": self.index,
                "_id": key,
                "if_seq_no": stamp.seq_no,
                "if_primary_term": stamp.primary_term,
            }
            operations += [{"update": action}, {"doc": dict(changes)}]
        if not operations:
            return []
        stamps: list[Stamp | None] = []
        for item in await self._bulk(operations):
            status = int(item.get("status", 500))
            if status in {404, 409}:  # taken (or gone): not ours to publish
                stamps.append(None)
            elif classify_item(status) == "retry":
                raise ServiceUnavailable("alerts: a claim throttled or failed")
            else:
                stamps.append(_stamp(item))
        return stamps

    async def unclaimed(
        self, *, claimed_before: str, limit: int
    ) -> list[tuple[dict[str, Any], Stamp]]:
        """Unpublished notifications whose claim is older than ``claimed_before``.

        The search may lag a second behind the writes (refresh); a stale hit is harmless: its
        stamp is old, so the conditional claim fails.
        """
        legacy = {  # stored before claims existed: its creation is its claim
            "bool": {
                "must_not": [{"exists": {"field": "claimed_at"}}],
                "filter": [{"range": {"created_at": {"lt": claimed_before}}}],
            }
        }
        query = {
            "bool": {
                "filter": [{"term": {"published": False}}],
                "should": [{"range": {"claimed_at": {"lt": claimed_before}}}, legacy],
                "minimum_should_match": 1,
            }
        }
        try:
            response = await self._client.search(
                index=self.index,
                query=query,
                size=limit,
                sort=[{"claimed_at": {"order": "asc", "missing": "_first"}}, {"created_at": "asc"}],
                seq_no_primary_term=True,
            )
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc
        return [(dict(hit["_source"]), _stamp(hit)) for hit in response["hits"]["hits"]]

    async def update(self, ids: Sequence[str], changes: Mapping[str, Any]) -> None:
        """One bulk of partial updates."""
        operations: list[Any] = []
        for i in ids:
            action = {"_index": self.index, "_id": i, "retry_on_conflict": _ON_CONFLICT}
            operations += [{"update": action}, {"doc": dict(changes)}]
        if operations:
            await self._bulk(operations)

    async def mark_published(self, held: Sequence[tuple[Mapping[str, Any], Stamp]]) -> None:
        """Mark each doc ``published: true``; a throttled or failed item fails the call.

        Each doc is written whole, conditional on the stamp it was stored (or claimed) at: the
        document the index holds, plus the mark. Elasticsearch needs no read for that, where
        a partial ``update`` reads the stored source first (from the translog for a document
        not yet refreshed): the update cost several times the create it follows and held the
        write threads the next creates waited for (``bench/alerts.py``). A doc changed since
        its stamp (its delivery marked meanwhile, or a relay's claim) is a 409 there; those
        are marked with a partial update, which keeps the other writer's fields.

        Checked, unlike :meth:`update`: a mark that silently did not land leaves the
        notification to a relay, which would publish it a second time.
        """
        operations: list[Any] = []
        for doc, stamp in held:
            action = {
                "_index": self.index,
                "_id": doc["notification_id"],
                "if_seq_no": stamp.seq_no,
                "if_primary_term": stamp.primary_term,
            }
            operations += [{"index": action}, dict(doc) | {"published": True}]
        if not operations:
            return
        items = await self._bulk(operations)
        outcomes = [classify_item(int(item.get("status", 500))) for item in items]
        if "retry" in outcomes:  # retried whole: what landed is a 409 then, marked in place
            raise ServiceUnavailable("alerts: some published marks throttled or failed")
        moved = [
            str(doc["notification_id"])
            for (doc, _), outcome in zip(held, outcomes, strict=True)
            if outcome == "conflict"
        ]
        if moved:
            await self._mark_in_place(moved)

    async def _mark_in_place(self, ids: Sequence[str]) -> None:
        """One bulk of partial ``published: true`` updates (documents changed since their stamp)."""
        operations: list[Any] = []
        for i in ids:
            action = {"_index": self.index, "_id": i, "retry_on_conflict": _ON_CONFLICT}
            operations += [{"update": action}, {"doc": {"published": True}}]
        statuses = [int(item.get("status", 500)) for item in await self._bulk(operations)]
        # A 409 is another writer's update meeting this one (delivery marks the same
        # document): the mark did not land, so it is retried, never taken as done.
        if any(classify_item(status) in ("retry", "conflict") for status in statuses):
            raise ServiceUnavailable("alerts: some published marks throttled or failed")

    async def current(self, ids: Sequence[str]) -> list[tuple[dict[str, Any], Stamp] | None]:
        """One ``mget``: each of ``ids`` as stored now (real time, no refresh needed)."""
        if not ids:
            return []
        try:
            response = await self._client.mget(index=self.index, ids=list(ids))
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc
        return [
            (dict(doc["_source"]), _stamp(doc)) if doc.get("found") else None
            for doc in response["docs"]
        ]

    async def undelivered(
        self, *, claimed_before: str, owner: str, limit: int
    ) -> list[tuple[dict[str, Any], Stamp]]:
        """``pending`` or ``failed`` whose delivery claim expired, is ``owner``'s, or is none.

        After a refresh; a stale hit is harmless all the same: its stamp is old, so the
        conditional claim fails.
        """
        query = {
            "bool": {
                "filter": [{"terms": {"delivery_state": ["pending", "failed"]}}],
                "should": [
                    {"range": {"delivery_claimed_at": {"lt": claimed_before}}},
                    {"term": {"delivery_claimed_by": owner}},
                    # Released after a failure, or stored before delivery claims existed.
                    {"bool": {"must_not": [{"exists": {"field": "delivery_claimed_at"}}]}},
                ],
                "minimum_should_match": 1,
            }
        }
        try:
            await self._client.indices.refresh(index=self.index)
            response = await self._client.search(
                index=self.index,
                query=query,
                size=limit,
                sort=[{"created_at": "asc"}, {"notification_id": "asc"}],
                seq_no_primary_term=True,
            )
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc
        return [(dict(hit["_source"]), _stamp(hit)) for hit in response["hits"]["hits"]]

    async def _bulk(self, operations: list[Any]) -> list[Mapping[str, Any]]:
        try:
            # Only what the outbox reads of each item: a third of the response to parse on
            # the worker's loop (each item otherwise repeats its index, id, result, shards).
            response = await self._client.bulk(operations=operations, filter_path=_ITEM_FIELDS)
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc
        return [next(iter(entry.values())) for entry in response["items"]]


_ITEM_FIELDS: Final = ["items.*.status", "items.*._seq_no", "items.*._primary_term"]


def _stamp(item: Mapping[str, Any]) -> Stamp:
    return Stamp(int(item["_seq_no"]), int(item["_primary_term"]))
