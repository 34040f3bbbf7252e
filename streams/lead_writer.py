"""What the lead indexer agent does with a batch of leads, free of Faust so it can be tested.

:class:`LeadWriter`: lead messages -> closed on write when the person has left the trace
(roster ``located`` / ``closed``) -> the lead indexer, in bulks of at most ``max_actions`` (and
``max_bulk_bytes``), each retried until acknowledged; leads Elasticsearch rejects come back as
dead letters, and so does a lead over ``max_lead_bytes`` (``lead_too_large``), one that is not
a lead (``lead_unreadable``) or one not of the shape the matcher writes (``lead_invalid``, see
``connectors/lead_schema.py``; the worker's check). Retries go through the worker's
:class:`~connectors.retry.Retrier`; when the worker stops, :meth:`LeadWriter.write` raises
:class:`~connectors.errors.RetryGaveUp` and the agent keeps the batch from being committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any

import orjson
from alerts.service import WrittenLead
from connectors.deadletter import DEFAULT_MAX_DEAD_LETTER_BYTES
from connectors.elasticsearch import LeadIndexer, closing_update
from connectors.errors import RequestRejected, RetryGaveUp
from connectors.retry import Retrier

from streams.pipeline import (
    CLOSING_STATUSES,
    DEFAULT_MAX_LEAD_BYTES,
    FetchedRecord,
    Outgoing,
    PipelineStats,
    dead_letter_message,
    origin_of,
    utc_now,
)

__all__ = ["DEFAULT_MAX_BULK_BYTES", "LeadWriter"]

#: The largest bulk body: Elasticsearch refuses requests over ``http.max_content_length``
#: (100 MB by default) with a 413, which no retry cures.
DEFAULT_MAX_BULK_BYTES = 16 * 1024 * 1024


class LeadWriter:
    """Write a batch of lead messages; return only when Elasticsearch has every one.

    Args:
        indexer: The lead indexer (Elasticsearch or its in-memory twin).
        status_of: The current roster status of a person on this worker (``None``: unknown).
        lock: Shared with the lead closer, so a close never runs between the status check
            and the write of a batch (see ``streams/roster.py``).
        stats: The worker's counters.
        max_actions: Leads per bulk request.
        max_bulk_bytes: Bytes of lead documents per bulk request.
        max_lead_bytes: A larger lead is dead-lettered (``lead_too_large``), never indexed.
        max_dead_letter_bytes: The bound of every dead letter.
        retrier: Retries a bulk that failed unexpectedly, counted as ``index``, until the
            worker stops (then :class:`~connectors.errors.RetryGaveUp`).
        check: What is wrong with a decoded lead (``None``: nothing); a lead it finds fault
            with is dead-lettered ``lead_invalid`` with its answer as detail. ``tracer
            worker`` passes :func:`connectors.lead_schema.lead_problem`.
        on_written: Hears each bulk's acknowledged leads, created or already there (alert
            evaluation); if it fails, the bulk is retried (its leads then already there).
    """

    def __init__(
        self,
        indexer: LeadIndexer,
        status_of: Callable[[str], str | None],
        *,
        lock: asyncio.Lock | None = None,
        stats: PipelineStats | None = None,
        max_actions: int = 500,
        max_bulk_bytes: int = DEFAULT_MAX_BULK_BYTES,
        max_lead_bytes: int = DEFAULT_MAX_LEAD_BYTES,
        max_dead_letter_bytes: int = DEFAULT_MAX_DEAD_LETTER_BYTES,
        retrier: Retrier | None = None,
        check: Callable[[dict[str, Any]], str | None] | None = None,
        on_written: Callable[[Sequence[WrittenLead]], Awaitable[None]] | None = None,
    ) -> None:
        self._indexer = indexer
        self._check = check
        self.on_written = on_written
        self._max_actions = max_actions
        self._max_bulk_bytes = max_bulk_bytes
        self._max_lead_bytes = max_lead_bytes
        self._max_dead_letter_bytes = max_dead_letter_bytes
        self._status_of = status_of
        self.lock = lock or asyncio.Lock()
        self.stats = stats or PipelineStats()
        self._retrier = retrier or Retrier()

    async def write(self, records: Iterable[FetchedRecord]) -> list[Outgoing]:
        """Index the leads; return the dead letters to publish (unreadable, too large, rejected).

        The leads go in bulks of at most ``max_actions`` leads and ``max_bulk_bytes``; each bulk
        is retried until Elasticsearch acknowledged every lead of it.

        Raises:
            RetryGaveUp: The worker is stopping; the batch must not be committed.
        """
        dead: list[Outgoing] = []
        leads: list[tuple[dict[str, Any], FetchedRecord]] = []
        for record in records:
            size = len(record.value or b"")
            lead = _decode_lead(record.value) if size <= self._max_lead_bytes else None
            if lead is None:
                reason = "lead_unreadable" if size <= self._max_lead_bytes else "lead_too_large"
                dead.append(self._dead(record, reason, None))
            elif self._check is not None and (problem := self._check(lead)) is not None:
                # Whoever can publish to the leads topic must not write officers' documents.
                dead.append(self._dead(record, "lead_invalid", problem))
            else:
                leads.append((lead, record))
        for chunk in _chunks(leads, self._max_actions, self._max_bulk_bytes):
            dead += await self._write_until_acknowledged(chunk)
        return dead

    async def _write_until_acknowledged(
        self, leads: list[tuple[dict[str, Any], FetchedRecord]]
    ) -> list[Outgoing]:
        try:
            # Anything but a refusal or a stop is tried again: never let the batch be
            # acknowledged unwritten.
            return await self._retrier.call(
                lambda: self._write(leads), kind="index", retriable=_worth_another_bulk
            )
        except RequestRejected as exc:
            if len(leads) == 1:
                return [self._dead(leads[0][1], "index_request_rejected", str(exc.status))]
            # The body as a whole was refused (a lead Elasticsearch cannot parse at all):
            # write them one by one, so only the culprit is dead-lettered.
            dead: list[Outgoing] = []
            for one in leads:
                dead += await self._write_until_acknowledged([one])
            return dead

    async def _write(self, leads: list[tuple[dict[str, Any], FetchedRecord]]) -> list[Outgoing]:
        async with self.lock:
            documents = [self._close_if_traced_out(lead) for lead, _ in leads]
            report = await self._indexer.index(documents)
        self.stats.leads_created += report.created
        self.stats.leads_present += report.already_present
        # By document, not lead_id: two leads of one batch may share an id (a conflicting
        # duplicate), and each dead letter must carry its own message.
        records = {id(doc): record for doc, (_, record) in zip(documents, leads, strict=True)}
        if self.on_written is not None:
            await self.on_written(_written(report.created_leads, report.present_leads, records))
        return [
            self._dead(records[id(rejected.lead)], rejected.reason, rejected.status)
            for rejected in (*report.rejected, *report.conflicting)
        ]

    def _dead(self, record: FetchedRecord, reason: str, status: int | str | None) -> Outgoing:
        self.stats.count_dead_letter(reason, stage="index")
        return dead_letter_message(
            record.value,
            origin_of(record),
            reason=reason,
            stage="index",
            detail=None if status is None else str(status),
            max_bytes=self._max_dead_letter_bytes,
        )

    def _close_if_traced_out(self, lead: dict[str, Any]) -> dict[str, Any]:
        status = self._status_of(str(lead.get("person_id")))
        if status not in CLOSING_STATUSES or lead.get("status") != "new":
            return lead
        self.stats.leads_closed_on_write += 1
        return lead | closing_update(reason=f"roster_{status}", closed_at=utc_now())


def _written(
    created: Iterable[Any], present: Iterable[Any], records: dict[int, FetchedRecord]
) -> list[WrittenLead]:
    written = [WrittenLead(lead, True, records[id(lead)].timestamp) for lead in created]
    return written + [WrittenLead(lead, False, records[id(lead)].timestamp) for lead in present]


def _worth_another_bulk(exc: BaseException) -> bool:
    return not isinstance(exc, RequestRejected | RetryGaveUp)


def _chunks(
    leads: list[tuple[dict[str, Any], FetchedRecord]], max_actions: int, max_bytes: int
) -> Iterator[list[tuple[dict[str, Any], FetchedRecord]]]:
    """Split ``leads`` into bulks of at most ``max_actions`` leads and about ``max_bytes``."""
    chunk: list[tuple[dict[str, Any], FetchedRecord]] = []
    size = 0
    for lead, record in leads:
        grows = len(record.value or b"")
        if chunk and (len(chunk) >= max_actions or size + grows > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append((lead, record))
        size += grows
    if chunk:
        yield chunk


def _decode_lead(value: bytes | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        lead = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(lead, dict) or not lead.get("lead_id") or not lead.get("person_id"):
        return None
    return lead
