"""The lead store: batch reruns refresh machine fields, officers write review state; never both.

Core APIs only (``_mget``, bulk ``create`` / ``update`` with ``doc``, point-in-time search),
so the same code runs on the stripped local zip and on a full Elasticsearch: no Painless, no
update-by-query. Every lead lives in its district's index (``connectors.lead_index``) and is
read and written through its district's alias, where a get by id works. The decisions are
pure, in :mod:`connectors.lead_plan`; this module does the I/O.

:meth:`LeadStore.refresh` (a batch rerun's leads, one ``_mget`` per page of them), lead by lead
(:func:`plan_refresh`, pure)::

    absent                          -> create (status new, empty review)     created
    status confirmed / rejected     -> nothing                               kept_reviewed
    same machine fields, qualifies  -> nothing                               unchanged
    otherwise                       -> update doc = machine fields only,     refreshed
                                       if_seq_no / if_primary_term

A 409 (someone wrote the lead since the ``_mget``) reads it again and plans again, at most
``max_rounds`` times (then counted ``unresolved`` and logged); 429 / 5xx pause through the
:class:`~connectors.retry.Retrier` and go round again. :meth:`LeadStore.mark_not_qualifying`
sets ``qualifies: false`` on the leads of a run's scope the run no longer produced (never
deletes, never on a decided lead), and :meth:`LeadStore.set_review` is the review service's one
write: ``status`` and ``review.*`` only, conditional on the sequence number the officer saw,
:class:`~connectors.errors.ReviewConflict` when someone else wrote first.

Async, on :class:`elasticsearch.AsyncElasticsearch` like the indexer (the review service is
async). A synchronous job keeps one event loop for the store's life::

    with asyncio.Runner() as runner:
        retrier = Retrier(RetryPolicy(deadline_s=120))
        store = LeadStore(AsyncElasticsearch(url), "leads", retrier=retrier)
        counts = runner.run(store.refresh(leads, run_id=job_id, model_version=version))
        counts += runner.run(store.mark_not_qualifying(scope, produced, run_id=job_id))
        runner.run(store.close())
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final

from elasticsearch import ApiError, TransportError

from connectors.elasticsearch import (
    RejectedLead,
    alias_missing,
    classify_item,
    request_error,
    utc_now,
)
from connectors.errors import LeadNotFound, ReviewConflict, ServiceUnavailable
from connectors.lead_index import district_alias, ensure_district_index_async
from connectors.lead_plan import (
    REVIEW_KEYS,
    EventScope,
    RefreshAction,
    RefreshCounts,
    ReviewVersion,
    Scope,
    StoredLead,
    TimeScope,
    check_review,
    chunks,
    plan_refresh,
    same_machine_fields,
    scope_queries,
)
from connectors.retry import Retrier

# The plan's types are re-exported: callers need one module.
__all__ = [
    "REVIEW_KEYS",
    "EventScope",
    "LeadStore",
    "RefreshAction",
    "RefreshCounts",
    "ReviewVersion",
    "Scope",
    "StoredLead",
    "TimeScope",
    "plan_refresh",
    "same_machine_fields",
    "scope_queries",
]

_KEEP_ALIVE: Final = "2m"  # per page: a page's updates take far less

log = logging.getLogger(__name__)


@dataclass
class _Progress:
    """What the rounds of one page of a refresh achieved so far."""

    pending: list[Mapping[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)
    rejected: list[RejectedLead] = field(default_factory=list)
    conflicts: list[Mapping[str, Any]] = field(default_factory=list)

    def count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1


class LeadStore:
    """Refreshes, supersedes and reviews leads behind ``alias`` (see the module docstring).

    Args:
        client: An :class:`~elasticsearch.AsyncElasticsearch` (or anything with its ``mget``,
            ``bulk``, ``update``, ``get``, ``search``, point-in-time and ``indices`` methods).
        alias: The leads alias (``leads``); each district's alias is derived from it.
        retrier: Backoff for 429 / 5xx / no answer; give it a deadline or a stop event in a job.
        clock: The time written as ``machine_updated_at``.
        page: Leads per ``_mget`` and bulk.
        max_rounds: Re-reads of a lead that keeps meeting 409s before it counts ``unresolved``.
    """

    def __init__(
        self,
        client: Any,
        alias: str,
        *,
        retrier: Retrier | None = None,
        clock: Callable[[], str] = utc_now,
        page: int = 500,
        max_rounds: int = 5,
    ) -> None:
        if page < 1 or max_rounds < 1:
            raise ValueError("page and max_rounds must be at least 1")
        self._client = client
        self._alias = alias
        self._retrier = retrier or Retrier()
        self._clock = clock
        self._page = page
        self._max_rounds = max_rounds

    async def close(self) -> None:
        """Close the underlying client."""
        await self._client.close()

    async def refresh(
        self, leads: Iterable[Mapping[str, Any]], *, run_id: str, model_version: str
    ) -> RefreshCounts:
        """Write a rerun's leads: create the new, refresh the changed, never touch a decision.

        Args:
            leads: The run's leads (``matchers.leads.build_lead`` documents).
            run_id: The job's id, recorded on every lead written.
            model_version: The model the run scored with; every lead must carry it.

        Raises:
            ValueError: ``run_id`` is blank or a lead carries another model version.
            RetryGaveUp: The retrier's deadline passed or its stop was set.
        """
        if not run_id.strip():
            raise ValueError("run_id must not be blank")
        unique: dict[str, Mapping[str, Any]] = {}
        total = RefreshCounts()
        for lead in leads:
            if lead.get("model_version") != model_version:
                raise ValueError("a lead of another model version in this run")
            if str(lead["lead_id"]) in unique:
                total += RefreshCounts(duplicates=1)
                continue
            unique[str(lead["lead_id"])] = lead
        for chunk in chunks(list(unique.values()), self._page):
            total += await self._refresh_page(chunk, run_id)
        return total

    async def _refresh_page(self, leads: list[Mapping[str, Any]], run_id: str) -> RefreshCounts:
        progress = _Progress(pending=leads)
        for _ in range(self._max_rounds):
            await self._retrier.call(lambda: self._round(progress, run_id), kind="index")
            progress.pending += progress.conflicts
            progress.conflicts = []
            if not progress.pending:
                break
        if progress.pending:
            log.error("lead store: %d leads still conflicting", len(progress.pending))
            progress.counts["unresolved"] = len(progress.pending)
        return RefreshCounts(**progress.counts, rejected=tuple(progress.rejected))

    async def _round(self, progress: _Progress, run_id: str) -> None:
        """Read the pending leads, write what changed; raise a retriable error on 429 / 5xx.

        Leads that met a 409 move to ``progress.conflicts``, and those of a district without an
        index yet (made here) stay ``pending``, both for the next round; what was written or
        decided leaves ``pending``, so a retried round never counts it twice.
        """
        stored = await self._mget(progress.pending)
        now = self._clock()
        operations: list[dict[str, Any]] = []
        sent: list[tuple[Mapping[str, Any], RefreshAction]] = []
        untouched: list[RefreshAction] = []
        for lead in progress.pending:
            lead_id = str(lead["lead_id"])
            hit = stored.get(lead_id)
            action, document = plan_refresh(
                lead, None if hit is None else hit["_source"], run_id=run_id, now=now
            )
            if document is None:
                untouched.append(action)
                continue
            operations += self._operation(lead, action, document, hit)
            sent.append((lead, action))
        # Nothing is counted or taken off ``pending`` before the bulk answered: a failed
        # request retries the whole round.
        items = await self._bulk(operations) if operations else []
        for action in untouched:
            progress.count(action)
        progress.pending = []
        await self._settle(progress, sent, items)

    def _operation(
        self,
        lead: Mapping[str, Any],
        action: RefreshAction,
        document: dict[str, Any],
        hit: Mapping[str, Any] | None,
    ) -> list[dict[str, Any]]:
        meta: dict[str, Any] = {
            "_index": district_alias(self._alias, lead.get("district")),
            "_id": str(lead["lead_id"]),
            "require_alias": True,
        }
        if action == "create":
            return [{"create": meta}, document]
        assert hit is not None  # an update is planned only for a stored lead
        meta |= {"if_seq_no": hit["_seq_no"], "if_primary_term": hit["_primary_term"]}
        return [{"update": meta}, {"doc": document}]

    async def _settle(
        self,
        progress: _Progress,
        sent: list[tuple[Mapping[str, Any], RefreshAction]],
        items: list[Mapping[str, Any]],
    ) -> None:
        throttled: list[Mapping[str, Any]] = []
        homeless: list[Mapping[str, Any]] = []
        for (lead, action), item in zip(sent, items, strict=True):
            status = int(item.get("status", 500))
            outcome = classify_item(status)
            if outcome == "created":
                progress.count("created" if action == "create" else "refreshed")
            elif outcome == "conflict":
                progress.conflicts.append(lead)
            elif outcome == "retry":
                throttled.append(lead)
            elif alias_missing(item):
                homeless.append(lead)
            else:
                error = item.get("error")
                reason = error.get("type", "error") if isinstance(error, Mapping) else "error"
                progress.rejected.append(RejectedLead(lead, status, str(reason)))
        # Sent again at once (homeless) or after the retrier's pause (throttled).
        progress.pending = homeless + throttled
        for district in sorted({str(lead.get("district") or "") for lead in homeless}):
            await self._ensure_district(district)
        if throttled:
            raise ServiceUnavailable(f"{len(throttled)} leads throttled or failed")

    async def mark_not_qualifying(
        self, scope: Scope, produced_ids: Iterable[str], *, run_id: str
    ) -> RefreshCounts:
        """Mark ``qualifies: false`` the leads of ``scope`` the run did not produce.

        Never deletes, never touches a ``confirmed`` / ``rejected`` lead, never one already
        marked. Point-in-time search over the whole alias (every district), page by page; each
        update conditional on the ``_seq_no`` seen, a 409 looked at again in the next pass.

        Returns:
            ``superseded``: how many leads were marked.
        """
        produced = set(produced_ids)
        superseded = 0
        for _ in range(self._max_rounds):
            marked, conflicts = await self._supersede_pass(scope, produced, run_id)
            superseded += marked
            if not conflicts:
                return RefreshCounts(superseded=superseded)
        log.error("lead store: leads still conflicting after %d passes", self._max_rounds)
        return RefreshCounts(superseded=superseded, unresolved=conflicts)

    async def _supersede_pass(
        self, scope: Scope, produced: set[str], run_id: str
    ) -> tuple[int, int]:
        await self._retried(partial(self._client.indices.refresh, index=self._alias))
        update = {"qualifies": False, "run_id": run_id, "machine_updated_at": self._clock()}
        marked = conflicts = 0
        for query in scope_queries(scope):
            async for hits in self._pages(query):
                stale = [hit for hit in hits if hit["_id"] not in produced]
                if not stale:
                    continue
                operations: list[dict[str, Any]] = []
                for hit in stale:
                    operations += [{"update": _conditional(hit)}, {"doc": update}]
                items = await self._retrier.call(partial(self._bulk, operations), kind="index")
                outcomes = [classify_item(int(item.get("status", 500))) for item in items]
                marked += outcomes.count("created")
                conflicts += len(outcomes) - outcomes.count("created")
        return marked, conflicts

    async def _pages(self, query: Mapping[str, Any]) -> AsyncIterator[list[Mapping[str, Any]]]:
        """Yield the hits of ``query`` page by page under one point in time (then closed)."""
        opened = await self._retried(
            partial(self._client.open_point_in_time, index=self._alias, keep_alive=_KEEP_ALIVE)
        )
        pit = {"id": opened["id"], "keep_alive": _KEEP_ALIVE}
        after: list[Any] | None = None
        try:
            while True:
                search = partial(
                    self._client.search,
                    pit=dict(pit),
                    query=query,
                    size=self._page,
                    sort=["_shard_doc"],
                    search_after=after,
                    source=False,
                    seq_no_primary_term=True,
                )
                response = await self._retried(search)
                hits = response["hits"]["hits"]
                if not hits:
                    return
                pit["id"] = response.get("pit_id", pit["id"])
                after = hits[-1]["sort"]
                yield hits
        finally:
            await self._release(pit["id"])

    async def _release(self, pit_id: str) -> None:
        try:
            await self._client.options(ignore_status=404).close_point_in_time(id=pit_id)
        except (ApiError, TransportError) as exc:
            # It expires on its own after the keep-alive: worth a line, not a failed run.
            log.warning("lead store: point in time not closed (%s)", type(exc).__name__)

    async def _retried(self, request: Callable[[], Awaitable[Any]]) -> Any:
        return await self._retrier.call(partial(self._call, request), kind="index")

    async def get(self, lead_id: str, district: str | None) -> StoredLead:
        """Read one lead of a district, with the version a review write must be based on.

        Raises:
            LeadNotFound: no such lead in that district.
        """

        async def read() -> Any:
            try:
                return await self._client.get(
                    index=district_alias(self._alias, district), id=lead_id
                )
            except ApiError as exc:
                if exc.meta.status == 404:
                    raise LeadNotFound(lead_id) from exc
                raise request_error(exc) from exc
            except TransportError as exc:
                raise request_error(exc) from exc

        found = await self._retrier.call(read, kind="index")
        if not found.get("found"):
            raise LeadNotFound(lead_id)
        version = ReviewVersion(int(found["_seq_no"]), int(found["_primary_term"]))
        return StoredLead(found["_source"], version)

    async def set_review(
        self,
        lead_id: str,
        district: str | None,
        changes: Mapping[str, Any],
        *,
        if_seq_no: int,
        if_primary_term: int,
    ) -> ReviewVersion:
        """Write an officer's ``status`` and ``review.*``, only if nobody wrote the lead since.

        Args:
            lead_id: The lead.
            district: The lead's district (its index is derived from it).
            changes: ``{"status": ..., "review": {...}}``; ``review`` keys are merged into the
                stored ones (``REVIEW_KEYS``); nothing else may be written here.
            if_seq_no: The ``_seq_no`` the officer's decision was based on.
            if_primary_term: Its ``_primary_term``.

        Returns:
            The lead's new version (the base of the next write).

        Raises:
            ValueError: ``changes`` holds a machine field or an unknown status or review key.
            ReviewConflict: someone wrote the lead since (HTTP 409): read it again.
            LeadNotFound: no such lead in that district.
        """
        check_review(changes)

        async def write() -> Any:
            try:
                return await self._client.update(
                    index=district_alias(self._alias, district),
                    id=lead_id,
                    doc=dict(changes),
                    if_seq_no=if_seq_no,
                    if_primary_term=if_primary_term,
                )
            except ApiError as exc:
                if exc.meta.status == 409:
                    raise ReviewConflict(lead_id) from exc
                if exc.meta.status == 404:
                    raise LeadNotFound(lead_id) from exc
                raise request_error(exc) from exc
            except TransportError as exc:
                raise request_error(exc) from exc

        response = await self._retrier.call(write, kind="index")
        return ReviewVersion(int(response["_seq_no"]), int(response["_primary_term"]))

    async def _mget(self, leads: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
        """Return the stored documents of ``leads`` found in their districts (realtime)."""
        docs = [
            {
                "_index": district_alias(self._alias, lead.get("district")),
                "_id": str(lead["lead_id"]),
            }
            for lead in leads
        ]
        response = await self._call(lambda: self._client.mget(docs=docs))
        found: dict[str, Mapping[str, Any]] = {}
        for doc in response["docs"]:
            error = doc.get("error")
            if isinstance(error, Mapping) and error.get("type") != "index_not_found_exception":
                raise ServiceUnavailable(f"Elasticsearch: mget item {error.get('type')}")
            if doc.get("found"):
                found[str(doc["_id"])] = doc
        return found

    async def _ensure_district(self, district: str) -> None:
        await self._call(lambda: ensure_district_index_async(self._client, self._alias, district))

    async def _bulk(self, operations: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
        response = await self._call(lambda: self._client.bulk(operations=operations))
        return [next(iter(entry.values())) for entry in response["items"]]

    @staticmethod
    async def _call(request: Callable[[], Awaitable[Any]]) -> Any:
        """Await one request, its errors translated (not retried: the caller's retrier does)."""
        try:
            return await request()
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc


def _conditional(hit: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "_index": hit["_index"],
        "_id": hit["_id"],
        "if_seq_no": hit["_seq_no"],
        "if_primary_term": hit["_primary_term"],
    }
