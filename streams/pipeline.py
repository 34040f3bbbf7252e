"""What the agents do with a batch of events or of leads, free of Faust so it can be tested.

The agents get the records one fetch returned for one partition (:class:`FetchedRecord`:
aiokafka's ``ConsumerRecord`` fits; see ``streams/transport.py``).

* :class:`EventHandler`: raw feed bytes -> validated dict -> ``Matcher.match`` -> lead messages,
  or one dead letter (bad input, or a matcher failure) per event -- never an exception.
* :class:`LeadWriter`: lead messages -> closed on write when the person has left the trace
  (roster ``located`` / ``closed``) -> the lead indexer, in bulks of at most ``max_actions``,
  each retried until acknowledged; leads Elasticsearch rejects come back as dead letters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import orjson
from connectors.deadletter import (
    DeadLetterStage,
    MessageOrigin,
    build_dead_letter,
    encode_dead_letter,
)
from connectors.elasticsearch import CONFLICTING_DUPLICATE, LeadIndexer, closing_update
from matchers.errors import InvalidRecord
from matchers.leads import lead_bytes
from matchers.records import OccurredAtLimit, occurred_at_limit

__all__ = [
    "CLOSING_STATUSES",
    "BatchResult",
    "EventHandler",
    "EventParser",
    "EventResult",
    "FetchedRecord",
    "LeadWriter",
    "MatcherPort",
    "Outgoing",
    "PipelineStats",
    "dead_letter_message",
    "origin_of",
    "utc_now",
]

log = logging.getLogger(__name__)

#: Roster statuses that end the trace: open leads are closed, new ones written closed.
CLOSING_STATUSES = frozenset({"located", "closed"})


class MatcherPort(Protocol):
    """The slice of ``matchers.matcher.Matcher`` the pipeline uses."""

    def apply_roster(self, raw: Mapping[str, Any]) -> Any:
        """Upsert or remove one roster person in place; return the ``RosterChange``."""
        ...

    def match(
        self, raw_event: Mapping[str, Any], *, not_after: OccurredAtLimit | None = None
    ) -> Any:
        """Match one event; return the ``MatchOutcome`` (``.leads``: lead dicts)."""
        ...


class EventParser(Protocol):
    """``matchers.records.parse_event_bytes``: bytes -> dict, or ``InvalidRecord``."""

    def __call__(self, data: bytes, *, max_bytes: int) -> dict[str, Any]:
        """Validate and decode one event."""
        ...


class FetchedRecord(Protocol):
    """One record as read from Kafka (aiokafka's ``ConsumerRecord`` fits)."""

    @property
    def topic(self) -> str:
        """The topic it was read from."""
        ...

    @property
    def partition(self) -> int:
        """Its partition."""
        ...

    @property
    def offset(self) -> int:
        """Its offset in the partition."""
        ...

    @property
    def timestamp(self) -> int | None:
        """Its timestamp, milliseconds since the epoch."""
        ...

    @property
    def key(self) -> bytes | None:
        """Its key bytes."""
        ...

    @property
    def value(self) -> bytes | None:
        """Its value bytes (``None``: a tombstone)."""
        ...


def origin_of(record: FetchedRecord) -> MessageOrigin:
    """Return where ``record`` came from (topic, partition, offset, key, timestamp)."""
    return MessageOrigin(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        timestamp_ms=record.timestamp,
    )


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish: key and value bytes."""

    key: bytes | None
    value: bytes


@dataclass(frozen=True, slots=True)
class EventResult:
    """The messages one feed event gives: its leads, or a dead letter."""

    leads: tuple[Outgoing, ...] = ()
    dead_letter: Outgoing | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The messages a batch of feed events gives: their leads and their dead letters."""

    leads: list[Outgoing]
    dead_letters: list[Outgoing]


@dataclass
class PipelineStats:
    """Counters of one worker (the demo and the benchmark read them from the log)."""

    events: int = 0
    leads_emitted: int = 0
    dead_letters: int = 0
    leads_created: int = 0
    leads_present: int = 0
    leads_closed_on_write: int = 0
    roster_dead_letters: int = 0
    #: Pairs left without a lead because the event occurred before the person's trace began
    #: (``MatchOutcome.before_trace``; ``tracer reprocess`` counts the same).
    matches_before_trace: int = 0
    #: CPU seconds (this thread) spent validating and matching events: the rest of the worker's
    #: CPU is the pipeline's own (Kafka, Faust, Elasticsearch), see bench/e2e.py.
    handler_cpu_s: float = 0.0
    by_reason: dict[str, int] = field(default_factory=dict)
    #: Retries by kind of work (``publish``, ``index``, ``close``, ``roster``): the health
    #: endpoint exposes them.
    retries: dict[str, int] = field(default_factory=dict)
    #: Kind of work -> ``time.monotonic()`` when its current run of failures began; the entry is
    #: removed when that kind of work succeeds again (the health endpoint reports "degraded").
    failing_since: dict[str, float] = field(default_factory=dict)


def utc_now() -> str:
    """Return the wall-clock time as ISO-8601 UTC (lifecycle stamps only, never lead ids)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def dead_letter_message(
    value: bytes | None,
    origin: MessageOrigin,
    *,
    reason: str,
    stage: DeadLetterStage,
    detail: str | None = None,
) -> Outgoing:
    """Build the dead-letter message (keyed by the original key) for one message."""
    payload = build_dead_letter(value, reason=reason, origin=origin, stage=stage, detail=detail)
    return Outgoing(origin.key, encode_dead_letter(payload))


class EventHandler:
    """Validate and match raw feed events; never raises."""

    def __init__(
        self,
        matcher: MatcherPort,
        parse: EventParser,
        *,
        max_bytes: int,
        stats: PipelineStats | None = None,
        future_margin: timedelta = timedelta(days=1),
    ) -> None:
        self._matcher = matcher
        self._parse = parse
        self._max_bytes = max_bytes
        self._future_margin = future_margin
        self.stats = stats or PipelineStats()

    def __call__(self, record: FetchedRecord) -> EventResult:
        """Return the lead messages of one event, or its dead letter."""
        result = self.batch((record,))
        return EventResult(tuple(result.leads), next(iter(result.dead_letters), None))

    def batch(self, records: Iterable[FetchedRecord]) -> BatchResult:
        """Return the lead messages and the dead letters of a batch of events, in order."""
        started = time.thread_time()
        leads: list[Outgoing] = []
        dead: list[Outgoing] = []
        # The matchers read no clock: the latest occurred_at accepted, once per batch.
        not_after = occurred_at_limit(datetime.now(UTC), self._future_margin)
        for record in records:
            letter = self._one(record, leads, not_after)
            if letter is not None:
                dead.append(letter)
        self.stats.handler_cpu_s += time.thread_time() - started
        return BatchResult(leads, dead)

    def _one(
        self, record: FetchedRecord, leads: list[Outgoing], not_after: OccurredAtLimit
    ) -> Outgoing | None:
        """Append the event's lead messages to ``leads``; return its dead letter, if any."""
        self.stats.events += 1
        value = record.value
        try:
            raw = self._parse(value if value is not None else b"", max_bytes=self._max_bytes)
            outcome = self._matcher.match(raw, not_after=not_after)
        except InvalidRecord as exc:
            return self._dead(record, exc.reason, "validate", exc.detail)
        except Exception as exc:  # a matcher bug must not stop the stream: keep the event
            log.exception(
                "matcher failed on %s[%d]@%d", record.topic, record.partition, record.offset
            )
            return self._dead(record, "match_failed", "match", type(exc).__name__)
        self.stats.matches_before_trace += getattr(outcome, "before_trace", 0)
        if not outcome.leads:
            return None
        try:
            made = [
                Outgoing(str(lead["lead_id"]).encode(), lead_bytes(lead)) for lead in outcome.leads
            ]
        except Exception as exc:  # a lead that does not serialise: keep the event
            log.exception("lead encoding failed on %s[%d]", record.topic, record.partition)
            return self._dead(record, "lead_unencodable", "match", type(exc).__name__)
        self.stats.leads_emitted += len(made)
        leads.extend(made)
        return None

    def _dead(
        self,
        record: FetchedRecord,
        reason: str,
        stage: DeadLetterStage,
        detail: str | None,
    ) -> Outgoing:
        self.stats.dead_letters += 1
        self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + 1
        return dead_letter_message(
            record.value, origin_of(record), reason=reason, stage=stage, detail=detail
        )


class LeadWriter:
    """Write a batch of lead messages; return only when Elasticsearch has every one.

    Args:
        indexer: The lead indexer (Elasticsearch or its in-memory twin).
        status_of: The current roster status of a person on this worker (``None``: unknown).
        lock: Shared with the lead closer, so a close never runs between the status check
            and the write of a batch (see ``streams/roster.py``).
        max_actions: Leads per bulk request.
        retry_pause_s: Pause after an unexpected failure before trying the batch again.
    """

    def __init__(
        self,
        indexer: LeadIndexer,
        status_of: Callable[[str], str | None],
        *,
        lock: asyncio.Lock | None = None,
        stats: PipelineStats | None = None,
        max_actions: int = 500,
        retry_pause_s: float = 1.0,
    ) -> None:
        self._indexer = indexer
        self._max_actions = max_actions
        self._status_of = status_of
        self.lock = lock or asyncio.Lock()
        self.stats = stats or PipelineStats()
        self._retry_pause_s = retry_pause_s

    async def write(self, records: Iterable[FetchedRecord]) -> list[Outgoing]:
        """Index the leads; return the dead letters to publish (undecodable or rejected).

        The leads go in bulks of at most ``max_actions``; each bulk is retried until
        Elasticsearch acknowledged every lead of it.
        """
        dead: list[Outgoing] = []
        leads: list[tuple[dict[str, Any], FetchedRecord]] = []
        for record in records:
            lead = _decode_lead(record.value)
            if lead is None:
                dead.append(
                    dead_letter_message(
                        record.value, origin_of(record), reason="lead_unreadable", stage="index"
                    )
                )
            else:
                leads.append((lead, record))
        for start in range(0, len(leads), self._max_actions):
            dead += await self._write_until_acknowledged(leads[start : start + self._max_actions])
        return dead

    async def _write_until_acknowledged(
        self, leads: list[tuple[dict[str, Any], FetchedRecord]]
    ) -> list[Outgoing]:
        attempt = 0
        while True:
            try:
                dead = await self._write(leads)
                self.stats.failing_since.pop("index", None)  # health: written again
                return dead
            except Exception:  # never let the batch be acknowledged unwritten: try again
                attempt += 1
                self.stats.retries["index"] = self.stats.retries.get("index", 0) + 1
                self.stats.failing_since.setdefault("index", time.monotonic())
                log.exception("lead batch failed; retry %d", attempt)
                await asyncio.sleep(min(30.0, self._retry_pause_s * attempt))

    async def _write(self, leads: list[tuple[dict[str, Any], FetchedRecord]]) -> list[Outgoing]:
        async with self.lock:
            documents = [self._close_if_traced_out(lead) for lead, _ in leads]
            report = await self._indexer.index(documents)
        self.stats.leads_created += report.created
        self.stats.leads_present += report.already_present
        # By document, not lead_id: two leads of one batch may share an id (a conflicting
        # duplicate), and each dead letter must carry its own message.
        records = {id(doc): record for doc, (_, record) in zip(documents, leads, strict=True)}
        dead = []
        for rejected in (*report.rejected, *report.conflicting):
            record = records[id(rejected.lead)]
            if rejected.reason == CONFLICTING_DUPLICATE:
                self.stats.by_reason[rejected.reason] = (
                    self.stats.by_reason.get(rejected.reason, 0) + 1
                )
            dead.append(
                dead_letter_message(
                    record.value,
                    origin_of(record),
                    reason=rejected.reason,
                    stage="index",
                    detail=str(rejected.status),
                )
            )
        self.stats.dead_letters += len(dead)
        return dead

    def _close_if_traced_out(self, lead: dict[str, Any]) -> dict[str, Any]:
        status = self._status_of(str(lead.get("person_id")))
        if status not in CLOSING_STATUSES or lead.get("status") != "new":
            return lead
        self.stats.leads_closed_on_write += 1
        return lead | closing_update(reason=f"roster_{status}", closed_at=utc_now())


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
