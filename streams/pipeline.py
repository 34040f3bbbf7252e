"""What the agents do with a batch of events or of leads, free of Faust so it can be tested.

The agents get the records one fetch returned for one partition (:class:`FetchedRecord`:
aiokafka's ``ConsumerRecord`` fits; see ``streams/transport.py``).

* :class:`EventHandler`: raw feed bytes -> validated dict -> ``Matcher.match`` -> lead messages,
  or one dead letter (bad input, or a matcher failure) per event -- never an exception.
* :class:`~streams.lead_writer.LeadWriter` (its own module): lead messages -> the lead
  indexer, each bulk retried until acknowledged.

Everything they emit is bounded: a lead over ``max_lead_bytes`` is dead-lettered
(``lead_too_large``) instead of published or indexed, and a dead letter never exceeds
``max_dead_letter_bytes`` (``connectors/deadletter.py``). This module also holds what the
handlers share: the record protocol, the outgoing message, the counters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from connectors.deadletter import (
    DEFAULT_MAX_DEAD_LETTER_BYTES,
    DeadLetterStage,
    MessageOrigin,
    build_dead_letter,
    dead_letter_key,
    encode_dead_letter,
)
from contract import CLOSING_STATUSES  # re-exported: the handlers' status rule, stated there
from matchers.errors import InvalidRecord
from matchers.leads import lead_bytes
from matchers.records import OccurredAtLimit, occurred_at_limit

__all__ = [
    "CLOSING_STATUSES",
    "DEFAULT_MAX_LEAD_BYTES",
    "LOOP_SLICE_SECONDS",
    "LOOP_STEP_EVENTS",
    "BatchResult",
    "EventHandler",
    "EventParser",
    "EventResult",
    "FetchedRecord",
    "MatcherPort",
    "Outgoing",
    "PipelineStats",
    "dead_letter_message",
    "origin_of",
    "utc_now",
]

log = logging.getLogger(__name__)

#: The largest lead document published or indexed. A lead is a few KB; it grows with the
#: names and addresses it quotes (``person_name``, ``event_name`` and the explanation's details
#: quote each twice), which the roster and event size limits bound.
DEFAULT_MAX_LEAD_BYTES = 256 * 1024


#: CPU work (matching, retro's rematching) between two yields to the event loop (seconds of wall
#: time), checked every ``LOOP_STEP_EVENTS`` events. A fetch's batch (up to 512 KiB, about a
#: thousand events) matched in one go held the loop 0.3-2 s on a loaded machine (``bench.alerts``'
#: loop probe), and every other coroutine of the worker -- the lead writer's bulks, the alerts'
#: outbox and publisher, the producers' senders -- moved one step per such stall: a notification
#: took 3-9 s to reach its topic. By time, not by count: an event's cost varies with the machine's
#: load and the roster.
LOOP_SLICE_SECONDS = 0.02
LOOP_STEP_EVENTS = 16


class MatcherPort(Protocol):
    """The slice of ``matchers.watchlist.matcher.Matcher`` the pipeline uses."""

    def apply_roster(self, raw: Mapping[str, Any]) -> Any:
        """Upsert or remove one roster person in place; return the ``RosterChange``."""
        ...

    def match(
        self, raw_event: Mapping[str, Any], *, not_after: OccurredAtLimit | None = None
    ) -> Any:
        """Match one event; return the ``MatchOutcome`` (``.leads``: lead dicts)."""
        ...

    def freeze(self) -> None:
        """Move what is loaded so far out of the cyclic garbage collector's reach."""
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
    """One message to publish: key and value bytes, and where it comes from.

    ``origin`` (the event or record the message was made from) is what a dead-letter stub
    names when Kafka refuses the message itself.
    """

    key: bytes | None
    value: bytes
    origin: MessageOrigin | None = None


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
    #: Messages Kafka refused for good whose dead-letter stub it refused too (logged, no values).
    undeliverable: int = 0

    def count_dead_letter(self, reason: str, *, stage: DeadLetterStage) -> None:
        """Count one dead letter by its reason: the one path every producer of one takes.

        Validation, matching, indexing, publishing, the roster agent and the transport's
        undecodable batches all count here, so ``dead_letters`` is the sum of ``by_reason``
        and ``/metrics`` sees every dead letter the worker wrote.
        """
        self.dead_letters += 1
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
        if stage == "roster":
            self.roster_dead_letters += 1


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
    max_bytes: int = DEFAULT_MAX_DEAD_LETTER_BYTES,
) -> Outgoing:
    """Build the dead-letter message (keyed by the original key) for one message.

    Both its value and its key are bounded (a long original key is replaced by its hash).
    """
    payload = build_dead_letter(
        value, reason=reason, origin=origin, stage=stage, detail=detail, max_bytes=max_bytes
    )
    return Outgoing(dead_letter_key(origin.key), encode_dead_letter(payload), origin)


class EventHandler:
    """Validate and match raw feed events; never raises.

    Args:
        matcher: The matcher.
        parse: The envelope check and JSON decode of one event.
        max_bytes: The largest event accepted.
        stats: The worker's counters.
        max_lead_bytes: The largest lead document; an event whose lead is larger is
            dead-lettered (``lead_too_large``) instead.
        max_dead_letter_bytes: The bound of every dead letter.
    """

    def __init__(
        self,
        matcher: MatcherPort,
        parse: EventParser,
        *,
        max_bytes: int,
        stats: PipelineStats | None = None,
        max_lead_bytes: int = DEFAULT_MAX_LEAD_BYTES,
        max_dead_letter_bytes: int = DEFAULT_MAX_DEAD_LETTER_BYTES,
        future_margin: timedelta = timedelta(days=1),
    ) -> None:
        self._matcher = matcher
        self._parse = parse
        self._max_bytes = max_bytes
        self._future_margin = future_margin
        self.stats = stats or PipelineStats()
        self._max_lead_bytes = max_lead_bytes
        self._max_dead_letter_bytes = max_dead_letter_bytes

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
        origin = origin_of(record)
        try:
            made = [
                Outgoing(str(lead["lead_id"]).encode(), lead_bytes(lead), origin)
                for lead in outcome.leads
            ]
        except Exception as exc:  # a lead that does not serialise: keep the event
            log.exception("lead encoding failed on %s[%d]", record.topic, record.partition)
            return self._dead(record, "lead_unencodable", "match", type(exc).__name__)
        fitting = [lead for lead in made if len(lead.value) <= self._max_lead_bytes]
        self.stats.leads_emitted += len(fitting)
        leads.extend(fitting)
        if len(fitting) < len(made):
            # Kafka (1 MB) or Elasticsearch would refuse it, or an officer could not read it:
            # the event is kept whole in the dead letter, its other leads go on.
            largest = max(len(lead.value) for lead in made)
            detail = f"lead of {largest} bytes > {self._max_lead_bytes}"
            return self._dead(record, "lead_too_large", "match", detail)
        return None

    def _dead(
        self,
        record: FetchedRecord,
        reason: str,
        stage: DeadLetterStage,
        detail: str | None,
    ) -> Outgoing:
        self.stats.count_dead_letter(reason, stage=stage)
        return dead_letter_message(
            record.value,
            origin_of(record),
            reason=reason,
            stage=stage,
            detail=detail,
            max_bytes=self._max_dead_letter_bytes,
        )
