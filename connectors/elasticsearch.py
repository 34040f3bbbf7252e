"""Writing leads to Elasticsearch: idempotent async bulk, retried until acknowledged.

Every lead goes to its district's index (``connectors.lead_index``: written through the
district's alias ``leads-<slug>`` with ``require_alias``; a district's first lead finds no alias,
answers 404, and the index is created with its aliases, race-safe, and the lead sent again). It
is created as a lead document of version 2 (``run_id: stream``, ``machine_updated_at``,
``qualifies``, ``status: new``, an empty ``review``), with ``op_type: create`` under its
deterministic ``lead_id``, so a
re-delivered lead meets a 409 conflict, which counts as success ("already there") when the
stored lead has the same ``event_digest``; another digest means another event under the same
``source`` + ``event_id``, a ``conflicting_duplicate`` the caller dead-letters (the first one
stays). The digests of a call's conflicts are fetched with one ``_mget`` (realtime: it sees
writes not yet refreshed). Each bulk item is classified by :func:`classify_item`::

    201 / 200          -> created
    409                -> conflict   (already there: success, or a conflicting duplicate)
    404 (no alias)     -> the district's index is created, the lead sent again
    429, 5xx           -> retry      (exponential backoff with full jitter)
    any other 4xx      -> reject     (mapping / bad document: the caller dead-letters it)

A failure of the whole request is translated by :func:`request_error`::

    connection refused, timeout, 401/403/404/408, 429, 5xx -> ServiceUnavailable (retried)
    400, 413 (the body itself is bad or too large)          -> RequestRejected  (raised)

Retries go through the worker's :class:`~connectors.retry.Retrier` (one policy, counted, cut
short by the worker's stop event), with a warning each time: an absent Elasticsearch slows the
pipeline down (the caller holds its Kafka offsets) instead of losing leads, and never holds a
worker that is shutting down (:class:`~connectors.errors.RetryGaveUp`).
:class:`InMemoryLeadIndexer` is the twin with the same semantics for unit tests.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol

from elasticsearch import ApiError, TransportError

from connectors.clients import ElasticsearchClientSettings, retried_elasticsearch_client
from connectors.errors import ConnectorError, RequestRejected, ServiceUnavailable
from connectors.lead_index import district_alias, ensure_district_index_async, new_lead_document
from connectors.retry import Retrier

__all__ = [
    "CONFLICTING_DUPLICATE",
    "ElasticsearchLeadIndexer",
    "InMemoryLeadIndexer",
    "IndexReport",
    "ItemOutcome",
    "LeadIndexer",
    "RejectedLead",
    "alias_missing",
    "bulk_create_operations",
    "classify_item",
    "closing_update",
    "conflicting_duplicates",
    "request_error",
    "utc_now",
]

log = logging.getLogger(__name__)

ItemOutcome = Literal["created", "conflict", "retry", "reject"]
"""What one bulk item's result means for the caller."""

_CLOSE_PAGE = 1000
_CLOSE_MAX_ROUNDS = 1000

CONFLICTING_DUPLICATE = "conflicting_duplicate"
"""The reason given to a lead whose id is taken by a lead of another event with that id."""


@dataclass(frozen=True, slots=True)
class RejectedLead:
    """A lead Elasticsearch refused for good (mapping or document error)."""

    lead: Mapping[str, Any]
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class IndexReport:
    """What a call to :meth:`LeadIndexer.index` achieved; every lead is in exactly one bucket.

    ``conflicting`` holds the leads whose id was taken by a lead with another
    ``event_digest`` (status 409, reason :data:`CONFLICTING_DUPLICATE`): not written.
    """

    created: int = 0
    already_present: int = 0
    rejected: tuple[RejectedLead, ...] = ()
    attempts: int = 1
    conflicting: tuple[RejectedLead, ...] = ()
    #: The leads created by this call and those already there (alert evaluation reads them).
    created_leads: tuple[Mapping[str, Any], ...] = ()
    present_leads: tuple[Mapping[str, Any], ...] = ()


@dataclass
class _Progress:
    """What the attempts of one :meth:`ElasticsearchLeadIndexer.index` call achieved so far."""

    pending: list[Mapping[str, Any]]
    created: int = 0
    created_leads: list[Mapping[str, Any]] = field(default_factory=list)
    #: Leads that met a 409: already there, unless their digest says a conflicting duplicate.
    conflicts: list[Mapping[str, Any]] = field(default_factory=list)
    rejected: list[RejectedLead] = field(default_factory=list)
    attempts: int = 0


class LeadIndexer(Protocol):
    """The port the streaming pipeline writes leads through."""

    async def index(self, leads: Sequence[Mapping[str, Any]]) -> IndexReport:
        """Write ``leads``; return only once every one is created, present or rejected."""
        ...

    async def close_open_leads(
        self, person_ids: Iterable[str], *, reason: str, closed_at: str
    ) -> int:
        """Set ``status=closed`` on every ``new`` lead of ``person_ids``; return how many."""
        ...

    async def close(self) -> None:
        """Release the client."""
        ...


def classify_item(status: int) -> ItemOutcome:
    """Classify one bulk item result by its HTTP status (see the module docstring)."""
    if status in (200, 201):
        return "created"
    if status == 409:
        return "conflict"
    if status == 429 or status >= 500:
        return "retry"
    return "reject"


def bulk_create_operations(
    leads: Iterable[Mapping[str, Any]], *, alias: str, now: str, run_id: str = "stream"
) -> list[dict[str, Any]]:
    """Return the bulk body that creates ``leads`` in their districts' indices (pure).

    Each goes under its ``lead_id``, through its district's alias (``require_alias``: a missing
    alias is a 404, never an index auto-created without aliases), as a version-2 document.
    """
    operations: list[dict[str, Any]] = []
    for lead in leads:
        target = district_alias(alias, lead.get("district"))
        meta = {"_index": target, "_id": str(lead["lead_id"]), "require_alias": True}
        operations.append({"create": meta})
        operations.append(new_lead_document(lead, run_id=run_id, now=now))
    return operations


def closing_update(*, reason: str, closed_at: str) -> dict[str, Any]:
    """Return the partial document that closes a lead (pure; ``update`` merges ``review``).

    Example:
        >>> closing_update(reason="roster_located", closed_at="t")
        {'status': 'closed', 'review': {'closed_reason': 'roster_located', 'closed_at': 't'}}
    """
    return {"status": "closed", "review": {"closed_reason": reason, "closed_at": closed_at}}


def utc_now() -> str:
    """Return the current UTC time in ISO-8601 with its offset (``machine_updated_at``)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def alias_missing(item: Mapping[str, Any]) -> bool:
    """Whether a bulk item failed because its district's alias does not exist yet."""
    error = item.get("error")
    return (
        int(item.get("status", 0)) == 404
        and isinstance(error, Mapping)
        and error.get("type") == "index_not_found_exception"
    )


def conflicting_duplicates(
    leads: Iterable[Mapping[str, Any]], stored: Mapping[str, str | None]
) -> tuple[RejectedLead, ...]:
    """Return the leads whose stored namesake has another ``event_digest`` (pure).

    Args:
        leads: leads whose create met a 409.
        stored: ``lead_id`` -> the stored lead's ``event_digest`` (absent: not found).

    A digest missing on either side (a lead written before digests existed, or gone since)
    cannot be compared, and counts as the same lead: already there.
    """
    return tuple(
        RejectedLead(lead, 409, CONFLICTING_DUPLICATE)
        for lead in leads
        if (theirs := stored.get(str(lead["lead_id"]))) is not None
        and (ours := lead.get("event_digest")) is not None
        and theirs != ours
    )


def request_error(exc: ApiError | TransportError) -> ConnectorError:
    """Translate the failure of a whole request (see the module docstring).

    Only the status and the error's class name are kept: Elasticsearch's error text can quote
    the document.
    """
    status = getattr(getattr(exc, "meta", None), "status", None)
    if isinstance(exc, ApiError) and status in (400, 413):
        return RequestRejected(int(status))
    return ServiceUnavailable(f"Elasticsearch: {_describe(exc)}")


def _error_reason(item: Mapping[str, Any]) -> str:
    error = item.get("error")
    if isinstance(error, Mapping):
        return str(error.get("type", "error"))
    return str(error or "error")


class ElasticsearchLeadIndexer:
    """Bulk-writes leads behind an alias with :class:`AsyncElasticsearch`.

    Args:
        client: The async client (or anything with the same ``bulk`` / ``search`` /
            ``indices.refresh`` methods; tests pass a fault-injecting fake).
        alias: The write alias (``leads``).
        retrier: Backoff, counters and the worker's stop event (tests inject its sleep and
            jitter so they do not wait).
        clock: The time written as ``machine_updated_at``.
    """

    def __init__(
        self,
        client: Any,
        alias: str,
        *,
        retrier: Retrier | None = None,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        self._client = client
        self._alias = alias
        self._retrier = retrier or Retrier()
        self._clock = clock

    @classmethod
    def connect(
        cls,
        settings: ElasticsearchClientSettings,
        alias: str,
        *,
        retrier: Retrier | None = None,
    ) -> ElasticsearchLeadIndexer:
        """Build an indexer with its own ``AsyncElasticsearch`` client (orjson bodies)."""
        return cls(retried_elasticsearch_client(settings), alias, retrier=retrier)

    async def close(self) -> None:
        """Close the underlying client."""
        await self._client.close()

    async def index(self, leads: Sequence[Mapping[str, Any]]) -> IndexReport:
        """Create ``leads``; retry what is retriable until Elasticsearch acknowledged it.

        Returns:
            The report; ``rejected`` leads are for the dead-letter topic.

        Raises:
            RequestRejected: Elasticsearch refused the whole bulk body (400, 413).
            RetryGaveUp: The worker is stopping (nothing is lost: the caller's offsets stay).
        """
        progress = _Progress(pending=list(leads))
        if progress.pending:
            await self._retrier.call(lambda: self._index_once(progress), kind="index")
        conflicting = await self._conflicting(progress.conflicts)
        present = len(progress.conflicts) - len(conflicting)
        return IndexReport(
            progress.created,
            present,
            tuple(progress.rejected),
            max(progress.attempts, 1),
            conflicting,
            tuple(progress.created_leads),
            _without(progress.conflicts, conflicting),
        )

    async def _index_once(self, progress: _Progress) -> None:
        """Send the pending leads once; raise a retriable error while some are left.

        Leads of a district without an index yet are sent again at once, after the index is
        made: a district's first lead is no failure worth a pause and a warning.
        """
        progress.attempts += 1
        retry, homeless = await self._send(progress, progress.pending)
        if homeless:
            await self._ensure_districts(homeless)
            more, homeless = await self._send(progress, homeless)
            retry += more + homeless
        progress.pending = retry
        if retry:
            raise ServiceUnavailable(f"{len(retry)} leads throttled or failed")

    async def _send(
        self, progress: _Progress, leads: list[Mapping[str, Any]]
    ) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
        """Send ``leads`` once; return those to retry and those whose district has no index."""
        now = self._clock()
        items = await self._bulk(bulk_create_operations(leads, alias=self._alias, now=now))
        retry: list[Mapping[str, Any]] = []
        homeless: list[Mapping[str, Any]] = []
        for lead, item in zip(leads, items, strict=True):
            status = int(item.get("status", 500))
            outcome = classify_item(status)
            if outcome == "created":
                progress.created += 1
                progress.created_leads.append(lead)
            elif outcome == "conflict":
                progress.conflicts.append(lead)
            elif outcome == "retry":
                retry.append(lead)
            elif alias_missing(item):
                homeless.append(lead)
            else:
                progress.rejected.append(RejectedLead(lead, status, _error_reason(item)))
        return retry, homeless

    async def _ensure_districts(self, leads: list[Mapping[str, Any]]) -> None:
        """Create the indices (with their aliases) of the districts of ``leads``, at once.

        Concurrently: each creation waits for its shard to start (about a second on a busy
        node), and a bulk can bring many new districts (at most one per lead of it).
        """
        districts = sorted({str(lead.get("district") or "") for lead in leads})
        try:
            await asyncio.gather(
                *(ensure_district_index_async(self._client, self._alias, d) for d in districts)
            )
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc

    async def _conflicting(self, leads: list[Mapping[str, Any]]) -> tuple[RejectedLead, ...]:
        """Which of ``leads`` (each met a 409) are conflicting duplicates: one ``_mget``."""
        if not leads:
            return ()
        # Looked up where they were written: a multi-index alias answers no get by id.
        where = {
            str(lead["lead_id"]): district_alias(self._alias, lead.get("district"))
            for lead in leads
        }
        return conflicting_duplicates(leads, await self._stored_digests(where))

    async def _stored_digests(self, where: Mapping[str, str]) -> dict[str, str | None]:
        docs = [{"_index": index, "_id": lead_id} for lead_id, index in sorted(where.items())]

        async def mget() -> dict[str, str | None]:
            try:
                response = await self._client.mget(docs=docs, source_includes=["event_digest"])
            except ApiError as exc:
                status = exc.meta.status
                if status == 429 or status >= 500:
                    raise ServiceUnavailable(f"Elasticsearch: {_describe(exc)}") from exc
                raise RequestRejected(int(status)) from exc
            except TransportError as exc:
                raise request_error(exc) from exc
            return {
                str(doc["_id"]): (doc.get("_source") or {}).get("event_digest")
                for doc in response["docs"]
                if doc.get("found")
            }

        try:
            return await self._retrier.call(mget, kind="index")
        except RequestRejected as exc:
            # Retrying a refused request would stall the pipeline for good: the leads count
            # as already there, and the operator is told.
            log.error(
                "elasticsearch: digests of %d conflicts unreadable (HTTP %d)", len(docs), exc.status
            )
            return {}

    async def close_open_leads(
        self, person_ids: Iterable[str], *, reason: str, closed_at: str
    ) -> int:
        """Close every ``new`` lead of ``person_ids`` (search, then bulk update, page by page).

        The lead index has no update-by-query on the stripped zip, hence search + bulk update,
        each update in the index the search found it in (whichever district's), conditional on
        the ``_seq_no`` seen: a lead an officer took up meanwhile is not closed under them (the
        409 sends it to the next round, which finds it only if it is still ``new``). A refresh
        first makes every acknowledged write visible to the search.
        """
        wanted = sorted(set(person_ids))
        closed = 0
        for start in range(0, len(wanted), _CLOSE_PAGE):
            closed += await self._close_page(wanted[start : start + _CLOSE_PAGE], reason, closed_at)
        return closed

    async def _close_page(self, person_ids: list[str], reason: str, closed_at: str) -> int:
        closed = 0
        update = closing_update(reason=reason, closed_at=closed_at)
        for _ in range(_CLOSE_MAX_ROUNDS):
            hits = await self._search_open(person_ids)
            if not hits:
                return closed
            operations: list[dict[str, Any]] = []
            for hit in hits:
                operations.append({"update": _conditional(hit)})
                operations.append({"doc": update})
            items = await self._retrier.call(partial(self._bulk, operations), kind="close")
            outcomes = [classify_item(int(item.get("status", 500))) for item in items]
            closed += outcomes.count("created")
            if all(outcome == "reject" for outcome in outcomes):
                # Searching again would find the same leads for ever: give up loudly.
                log.error("elasticsearch: %d leads could not be closed", len(outcomes))
                return closed
        # Leads that conflict round after round (written again by a racing writer each time):
        # bounded, so a close never holds the writers' lock for ever; the next request retries.
        log.error("elasticsearch: leads still open after %d rounds of closing", _CLOSE_MAX_ROUNDS)
        return closed

    async def _search_open(self, person_ids: list[str]) -> list[Mapping[str, Any]]:
        query = {
            "bool": {"filter": [{"terms": {"person_id": person_ids}}, {"term": {"status": "new"}}]}
        }

        async def search() -> list[Mapping[str, Any]]:
            try:
                await self._client.indices.refresh(index=self._alias)
                response = await self._client.search(
                    index=self._alias,
                    query=query,
                    size=_CLOSE_PAGE,
                    source=False,
                    seq_no_primary_term=True,
                )
            except (ApiError, TransportError) as exc:
                raise request_error(exc) from exc
            return list(response["hits"]["hits"])

        return await self._retrier.call(search, kind="close")

    async def _bulk(self, operations: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
        """Send one bulk request; return the item results (errors translated, not retried)."""
        try:
            response = await self._client.bulk(operations=operations)
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc
        return [next(iter(entry.values())) for entry in response["items"]]

    async def count(self, *, query: Mapping[str, Any] | None = None) -> int:
        """Count documents behind the alias (after a refresh).

        Raises:
            ServiceUnavailable: Elasticsearch did not answer.
            ConnectorError: Elasticsearch refused the request.
        """
        try:
            await self._client.indices.refresh(index=self._alias)
            response = await self._client.count(index=self._alias, query=query)
        except ApiError as exc:
            raise ConnectorError(f"count failed: {_describe(exc)}") from exc
        except TransportError as exc:
            raise ServiceUnavailable(f"Elasticsearch did not answer: {exc}") from exc
        return int(response["count"])


def _conditional(hit: Mapping[str, Any]) -> dict[str, Any]:
    """Return the bulk ``update`` metadata that writes ``hit`` only if unchanged since read."""
    meta = {"_index": hit["_index"], "_id": hit["_id"]}
    if "_seq_no" in hit and "_primary_term" in hit:
        meta |= {"if_seq_no": hit["_seq_no"], "if_primary_term": hit["_primary_term"]}
    return meta


def _without(
    leads: list[Mapping[str, Any]], conflicting: tuple[RejectedLead, ...]
) -> tuple[Mapping[str, Any], ...]:
    taken = {id(rejected.lead) for rejected in conflicting}
    return tuple(lead for lead in leads if id(lead) not in taken)


def _describe(exc: Exception) -> str:
    status = getattr(getattr(exc, "meta", None), "status", None)
    return f"{type(exc).__name__} {status}" if status else type(exc).__name__


@dataclass
class InMemoryLeadIndexer:
    """The in-memory twin of :class:`ElasticsearchLeadIndexer` with the same semantics.

    A lead whose id is present is already there when the stored lead has the same
    ``event_digest``, a conflicting duplicate when it has another. ``reject`` maps a lead_id
    to the HTTP status and reason the twin answers for it, to test the dead-letter path
    without a real mapping error. Documents are version 2 (``run_id: stream``, empty
    ``review``); ``index_of`` tells the district alias each lead was routed to. Keyed by
    ``lead_id`` alone: a lead whose person changed district meets its old self here, where
    Elasticsearch would hold both (each in its district's index).
    """

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    reject: dict[str, tuple[int, str]] = field(default_factory=dict)
    calls: int = 0
    alias: str = "leads"
    index_of: dict[str, str] = field(default_factory=dict)
    clock: Callable[[], str] = utc_now

    async def index(self, leads: Sequence[Mapping[str, Any]]) -> IndexReport:
        """Create each lead unless present (conflict) or marked for rejection."""
        self.calls += 1
        created: list[Mapping[str, Any]] = []
        rejected: list[RejectedLead] = []
        conflicts: list[Mapping[str, Any]] = []
        for lead in leads:
            lead_id = str(lead["lead_id"])
            if lead_id in self.reject:
                status, reason = self.reject[lead_id]
                rejected.append(RejectedLead(lead, status, reason))
            elif lead_id in self.documents:
                conflicts.append(lead)
            else:
                self.documents[lead_id] = new_lead_document(lead, run_id="stream", now=self.clock())
                self.index_of[lead_id] = district_alias(self.alias, lead.get("district"))
                created.append(lead)
        stored = {
            str(lead["lead_id"]): self.documents[str(lead["lead_id"])].get("event_digest")
            for lead in conflicts
        }
        conflicting = conflicting_duplicates(conflicts, stored)
        present = len(conflicts) - len(conflicting)
        return IndexReport(
            len(created),
            present,
            tuple(rejected),
            1,
            conflicting,
            tuple(created),
            _without(conflicts, conflicting),
        )

    async def close_open_leads(
        self, person_ids: Iterable[str], *, reason: str, closed_at: str
    ) -> int:
        """Close every ``new`` lead of ``person_ids``."""
        wanted = set(person_ids)
        closed = 0
        for doc in self.documents.values():
            if doc.get("person_id") in wanted and doc.get("status") == "new":
                update = closing_update(reason=reason, closed_at=closed_at)
                # As Elasticsearch's partial update: objects are merged, not replaced.
                doc["review"] = {**doc.get("review", {}), **update.pop("review")}
                doc.update(update)
                closed += 1
        return closed

    async def close(self) -> None:
        """Nothing to release."""
