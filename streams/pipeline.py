"""What the agents do with one event or one batch of leads, free of Faust so it can be tested.

* :class:`EventHandler`: raw feed bytes -> validated dict -> ``Matcher.match`` -> lead messages,
  or one dead letter (bad input, or a matcher failure) -- never an exception.
* :class:`LeadWriter`: a batch of lead messages -> closed on write when the person has left the
  trace (roster ``located`` / ``closed``) -> the lead indexer, retried until acknowledged;
  leads Elasticsearch rejects come back as dead letters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from connectors.deadletter import (
    DeadLetterStage,
    MessageOrigin,
    build_dead_letter,
    encode_dead_letter,
)
from connectors.elasticsearch import LeadIndexer, closing_update
from matchers.errors import InvalidRecord
from matchers.leads import lead_bytes

__all__ = [
    "CLOSING_STATUSES",
    "EventHandler",
    "EventParser",
    "EventResult",
    "LeadWriter",
    "MatcherPort",
    "Outgoing",
    "PipelineStats",
    "dead_letter_message",
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

    def match(self, raw_event: Mapping[str, Any]) -> Any:
        """Match one event; return the ``MatchOutcome`` (``.leads``: lead dicts)."""
        ...


class EventParser(Protocol):
    """``matchers.records.parse_event_bytes``: bytes -> dict, or ``InvalidRecord``."""

    def __call__(self, data: bytes, *, max_bytes: int) -> dict[str, Any]:
        """Validate and decode one event."""
        ...


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
    by_reason: dict[str, int] = field(default_factory=dict)


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
    """Validate and match one raw feed event; never raises."""

    def __init__(
        self,
        matcher: MatcherPort,
        parse: EventParser,
        *,
        max_bytes: int,
        stats: PipelineStats | None = None,
    ) -> None:
        self._matcher = matcher
        self._parse = parse
        self._max_bytes = max_bytes
        self.stats = stats or PipelineStats()

    def __call__(self, value: bytes | None, origin: MessageOrigin) -> EventResult:
        """Return the lead messages of the event, or its dead letter."""
        self.stats.events += 1
        try:
            raw = self._parse(value if value is not None else b"", max_bytes=self._max_bytes)
        except InvalidRecord as exc:
            return self._dead(value, origin, exc.reason, "validate", None)
        try:
            outcome = self._matcher.match(raw)
        except InvalidRecord as exc:
            return self._dead(value, origin, exc.reason, "validate", None)
        except Exception as exc:  # a matcher bug must not stop the stream: keep the event
            log.exception(
                "matcher failed on %s[%d]@%d", origin.topic, origin.partition, origin.offset
            )
            return self._dead(value, origin, "match_failed", "match", type(exc).__name__)
        try:
            leads = tuple(
                Outgoing(str(lead["lead_id"]).encode(), lead_bytes(lead)) for lead in outcome.leads
            )
        except Exception as exc:  # a lead that does not serialise: keep the event
            log.exception("lead encoding failed on %s[%d]", origin.topic, origin.partition)
            return self._dead(value, origin, "lead_unencodable", "match", type(exc).__name__)
        self.stats.leads_emitted += len(leads)
        return EventResult(leads=leads)

    def _dead(
        self,
        value: bytes | None,
        origin: MessageOrigin,
        reason: str,
        stage: DeadLetterStage,
        detail: str | None,
    ) -> EventResult:
        self.stats.dead_letters += 1
        self.stats.by_reason[reason] = self.stats.by_reason.get(reason, 0) + 1
        message = dead_letter_message(value, origin, reason=reason, stage=stage, detail=detail)
        return EventResult(dead_letter=message)


class LeadWriter:
    """Write a batch of lead messages; return only when Elasticsearch has every one.

    Args:
        indexer: The lead indexer (Elasticsearch or its in-memory twin).
        status_of: The current roster status of a person on this worker (``None``: unknown).
        lock: Shared with the lead closer, so a close never runs between the status check
            and the write of a batch (see ``streams/roster.py``).
        retry_pause_s: Pause after an unexpected failure before trying the batch again.
    """

    def __init__(
        self,
        indexer: LeadIndexer,
        status_of: Callable[[str], str | None],
        *,
        lock: asyncio.Lock | None = None,
        stats: PipelineStats | None = None,
        retry_pause_s: float = 1.0,
    ) -> None:
        self._indexer = indexer
        self._status_of = status_of
        self.lock = lock or asyncio.Lock()
        self.stats = stats or PipelineStats()
        self._retry_pause_s = retry_pause_s

    async def write(self, messages: Sequence[tuple[bytes | None, MessageOrigin]]) -> list[Outgoing]:
        """Index the batch; return the dead letters to publish (undecodable or rejected)."""
        dead: list[Outgoing] = []
        leads: list[tuple[dict[str, Any], bytes | None, MessageOrigin]] = []
        for value, origin in messages:
            lead = _decode_lead(value)
            if lead is None:
                dead.append(
                    dead_letter_message(value, origin, reason="lead_unreadable", stage="index")
                )
            else:
                leads.append((lead, value, origin))
        attempt = 0
        while True:
            try:
                return dead + await self._write(leads)
            except Exception:  # never let the batch be acknowledged unwritten: try again
                attempt += 1
                log.exception("lead batch failed; retry %d", attempt)
                await asyncio.sleep(min(30.0, self._retry_pause_s * attempt))

    async def _write(
        self, leads: list[tuple[dict[str, Any], bytes | None, MessageOrigin]]
    ) -> list[Outgoing]:
        async with self.lock:
            documents = [self._close_if_traced_out(lead) for lead, _, _ in leads]
            report = await self._indexer.index(documents)
        self.stats.leads_created += report.created
        self.stats.leads_present += report.already_present
        origins = {str(lead["lead_id"]): (value, origin) for lead, value, origin in leads}
        dead = []
        for rejected in report.rejected:
            value, origin = origins[str(rejected.lead["lead_id"])]
            dead.append(
                dead_letter_message(
                    value,
                    origin,
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
