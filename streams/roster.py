"""The watchlist on every worker, and closing the leads of people who left the trace.

Each worker runs a :class:`connectors.kafka.KafkaRosterFollower` (outside the consumer group,
every roster partition) whose batches land in :meth:`Watchlist.on_roster`: each record goes
through ``Matcher.apply_roster`` (the matcher's index changes in place) and the person's status
is kept for the lead writer. ``Watchlist.ready`` is set once the follower reached the end
offsets it saw at start; the feed agent waits for it before matching anything.

Dead letters of invalid roster records, once per consumer group: every worker's follower sees
every record, so none of them may dead-letter what it sees. Instead the follower notes each
invalid record's reason in :class:`RosterVerdicts` (keyed by partition and offset), and the
roster agent -- inside the consumer group, so each roster partition has one owner -- asks for
the verdict of each record it reads, waiting until this worker's follower got that far, and
publishes the dead letter. The record is normalised once per worker (by the follower), never
twice. Offsets of the agent move only after its dead letters were published, so a record is
dead-lettered once, or again after a crash between publish and commit (at least once).

The last valid state, durably: an invalid update leaves a person as they were, but after a
restart the follower re-reads the compacted roster, where the older valid record may be gone.
So when the roster agent dead-letters an invalid update of a known person it first publishes
that person's last valid record, byte for byte, to ``tracer.roster.valid`` (compacted, keyed by
``person_id``; :class:`streams.last_valid.LastValidKeeper`). The follower reads that topic
before the roster (:meth:`Watchlist.on_fallback`); a record there applies when the person's
newest roster record is invalid and nothing valid of them was read before it, and any valid
roster record supersedes it. To find the bytes, the watchlist keeps the roster offset of each
person's last valid record packed with their status in one int (about 32 MB at a million
people, against 31 MB for the status alone).

A roster record over ``max_roster_bytes`` is invalid (``oversized``) before it is parsed: the
person keeps their previous state and the record is dead-lettered once, as a bounded stub (the
whole record stays in the roster topic). A record that size would otherwise put a name of up
to a megabyte on the watchlist, quoted several times by every lead of that person.

Ordering of a close against leads in flight, per worker: the :class:`LeadCloser` and the
lead writer share one lock. A lead batch checks each person's status and writes under the lock;
the closer searches and closes under the same lock. So a lead checked before this worker saw
``located`` is written before the closer's search (and closed by it); a lead checked after is
written closed. Every worker closes after its own writes, so all writers are covered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from connectors.elasticsearch import LeadIndexer
from connectors.errors import RetryGaveUp
from connectors.kafka import RosterMessage
from connectors.retry import Retrier
from contract import CLOSING_STATUSES, ROSTER_STATUSES

from streams.pipeline import MatcherPort, utc_now

__all__ = [
    "DEFAULT_MAX_ROSTER_BYTES",
    "LeadCloser",
    "RosterStats",
    "RosterVerdict",
    "RosterVerdicts",
    "Watchlist",
]

log = logging.getLogger(__name__)

#: The largest roster record accepted: a person's record is a few hundred bytes.
DEFAULT_MAX_ROSTER_BYTES = 64 * 1024


@dataclass
class RosterStats:
    """What the watchlist has seen."""

    applied: int = 0
    invalid: int = 0
    tombstones: int = 0
    #: People traced after this worker had matched events that occurred after their trace
    #: began: those events may lack their leads here (they need retro-matching, which
    #: ``tracer reprocess`` does; docs/design.md, "Late drop-outs").
    late_traces: int = 0
    #: Invalid latest records of people whose last valid record came from
    #: ``tracer.roster.valid`` (the roster's own copy was compacted away).
    restored: int = 0


@dataclass(frozen=True, slots=True)
class RosterVerdict:
    """Why one roster record is invalid, and where the person's last valid record is.

    Attributes:
        reason: why the record is invalid.
        person_id: whose record it was (``None``: no usable key or id).
        last_valid_offset: offset, in the same partition, of the person's last valid roster
            record; ``None`` when there is none to keep (an unknown person, or a state that
            itself came from ``tracer.roster.valid``).
    """

    reason: str
    person_id: str | None = None
    last_valid_offset: int | None = None


class RosterVerdicts:
    """Which roster records this worker's follower found invalid, and how far it has read.

    Only invalid records are kept (partition -> offset -> reason), and only until the roster
    agent asked for them; records of partitions another worker owns stay (few: invalid ones).
    """

    def __init__(self) -> None:
        self._read: dict[int, int] = {}
        self._invalid: dict[int, dict[int, RosterVerdict]] = {}
        self._moved = asyncio.Event()

    def note(self, partition: int, offset: int, reason: str | RosterVerdict | None) -> None:
        """Record that the follower read ``offset`` (invalid when ``reason`` is given)."""
        if reason is not None:
            verdict = RosterVerdict(reason) if isinstance(reason, str) else reason
            self._invalid.setdefault(partition, {})[offset] = verdict
        if offset >= self._read.get(partition, -1):
            self._read[partition] = offset

    def wake(self) -> None:
        """Wake the waiters of :meth:`verdict` (after a batch of :meth:`note` calls)."""
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    async def verdict(self, partition: int, offset: int) -> str | None:
        """Wait until the follower read ``offset``; return why it was invalid (``None``: valid).

        Forgets every verdict of the partition up to ``offset``: the group's consumer reads a
        partition in order, so it will not ask for them again.
        """
        judged = await self.judge(partition, offset)
        return None if judged is None else judged.reason

    async def judge(self, partition: int, offset: int) -> RosterVerdict | None:
        """:meth:`verdict` with the person and their last valid record (``None``: valid)."""
        while self._read.get(partition, -1) < offset:
            await self._moved.wait()
        invalid = self._invalid.get(partition)
        if not invalid:
            return None
        reason = invalid.pop(offset, None)
        for older in [o for o in invalid if o < offset]:
            del invalid[older]
        return reason


class Watchlist:
    """The whole roster on this worker: the matcher's index plus each person's status."""

    def __init__(
        self,
        matcher: MatcherPort,
        *,
        on_traced_out: Callable[[str], None] | None = None,
        max_record_bytes: int = DEFAULT_MAX_ROSTER_BYTES,
    ) -> None:
        self._matcher = matcher
        self._max_record_bytes = max_record_bytes
        #: Called with the id of each person whose status becomes ``located`` / ``closed``.
        self.on_traced_out = on_traced_out
        #: person_id -> (offset of the last valid roster record + 1) * 4 + status code; an
        #: offset of -1 marks a state restored from ``tracer.roster.valid``.
        self._state: dict[str, int] = {}
        #: person_id -> last valid record bytes from ``tracer.roster.valid``, until caught up.
        self._fallback: dict[str, bytes] = {}
        self.ready = asyncio.Event()
        self.stats = RosterStats()
        self.verdicts = RosterVerdicts()
        #: roster partition -> the next offset to apply: what the matcher has seen (the event
        #: archive stamps matched events with it; streams/retro.py).
        self.positions: dict[int, int] = {}

    def status_of(self, person_id: str) -> str | None:
        """Return the person's current roster status, or ``None`` if unknown."""
        state = self._state.get(person_id)
        return None if state is None else ROSTER_STATUSES[state % 4]

    def _last_valid_offset(self, person_id: str) -> int | None:
        state = self._state.get(person_id)
        return None if state is None or state < 4 else state // 4 - 1

    def on_fallback(self, messages: Sequence[RosterMessage]) -> None:
        """Note last valid records read from ``tracer.roster.valid`` (before the roster)."""
        for message in messages:
            if message.key and message.value is not None:
                self._fallback[message.key.decode("utf-8", "replace")] = message.value
            elif message.key:
                self._fallback.pop(message.key.decode("utf-8", "replace"), None)

    def __len__(self) -> int:
        return len(self._state)

    def mark_ready(self) -> bool:
        """Declare the initial roster load over (once): freeze it, then set :attr:`ready`.

        The loaded watchlist is millions of long-lived objects. Left in the cyclic collector's
        reach, every full collection walks them all: 0.5-0.65 s of CPU at 100,000 people, and
        ``bench/alerts.py``'s workers met two or three a minute at full rate. Frozen, it is
        about nothing. ``tracer reprocess`` freezes its watchlist the same way
        (``Matcher.freeze``); roster changes after the load are collected as usual.

        Returns:
            Whether this call did it (``False``: the watchlist was ready already).
        """
        if self.ready.is_set():
            return False
        self._matcher.freeze()
        self.ready.set()
        return True

    async def on_roster(self, messages: Sequence[RosterMessage]) -> None:
        """Apply one batch of roster messages in order."""
        if self.ready.is_set() and self._fallback:
            self._fallback.clear()  # caught up: a running worker keeps the last valid state
        for message in messages:
            self.apply(message)
        self.verdicts.wake()
        if self.ready.is_set():  # live changes are few; the initial load is not logged
            log.info("roster: %d records applied", len(messages))
        # Matching a big roster is CPU work: let the loop breathe between batches.
        await asyncio.sleep(0)

    def apply(self, message: RosterMessage) -> str | None:
        """Apply one roster message to the matcher and the status map.

        Returns:
            Why the record is invalid (the person keeps their previous state), or ``None``.
        """
        reason = self._apply(message)
        if message.offset >= 0:
            self.positions[message.partition] = message.offset + 1
        if reason is None:
            self.verdicts.note(message.partition, message.offset, None)
        else:
            self.verdicts.note(message.partition, message.offset, self._judge(message, reason))
            self.stats.invalid += 1
            log.warning(
                "roster: invalid record at partition %d offset %d (%s)",
                message.partition,
                message.offset,
                reason,
            )
        return reason

    def _judge(self, message: RosterMessage, reason: str) -> RosterVerdict:
        """The verdict on an invalid record; restores the person from the fallback if due."""
        person_id = _person_id(message)
        if person_id is None:
            return RosterVerdict(reason)
        fallback = self._fallback.pop(person_id, None)
        if fallback is not None and person_id not in self._state:
            # The roster's own last valid record is gone (compacted): the kept copy applies.
            restored = _roster_raw(RosterMessage(message.key, fallback, -1, -1, None))
            if not isinstance(restored, str) and self._change(restored, -1) is None:
                self.stats.restored += 1
        return RosterVerdict(reason, person_id, self._last_valid_offset(person_id))

    def _apply(self, message: RosterMessage) -> str | None:
        if message.value is not None and len(message.value) > self._max_record_bytes:
            return "oversized"
        raw = _roster_raw(message)
        if isinstance(raw, str):
            return raw
        return self._change(raw, message.offset, tombstone=message.value is None)

    def _change(self, raw: dict[str, Any], offset: int, *, tombstone: bool = False) -> str | None:
        """Apply a readable record (from ``offset``; -1: the fallback topic); why not, or None."""
        change = self._matcher.apply_roster(raw)
        if change.action == "invalid":
            # The person keeps their previous state: a bad update must not untrace anyone.
            return str(change.reason or "invalid")
        self.stats.applied += 1
        if getattr(change, "late", False):
            self.stats.late_traces += 1
            log.warning(
                "roster: a person's trace began before events this worker already matched;"
                " their leads from those events need retro-matching (%d people so far)",
                self.stats.late_traces,
            )
        if tombstone:
            self.stats.tombstones += 1
        person_id = str(change.person_id)
        self._fallback.pop(person_id, None)  # a valid roster record supersedes the kept one
        self._state[person_id] = (offset + 1) * 4 + _CODES.get(str(change.status), 0)
        if change.status in CLOSING_STATUSES and self.on_traced_out is not None:
            self.on_traced_out(str(change.person_id))
        return None


_CODES: dict[str, int] = {status: code for code, status in enumerate(ROSTER_STATUSES)}


def _person_id(message: RosterMessage) -> str | None:
    """The person an invalid record is about: its key (the contract's), else its person_id."""
    if message.key:
        return message.key.decode("utf-8", "replace")
    try:
        raw = orjson.loads(message.value or b"")
    except orjson.JSONDecodeError:
        return None
    person_id = raw.get("person_id") if isinstance(raw, dict) else None
    return person_id if isinstance(person_id, str) and person_id else None


def _roster_raw(message: RosterMessage) -> dict[str, Any] | str:
    """Return the record as a dict, or why it cannot be read."""
    if message.value is None:
        # A tombstone deletes the person: the matcher removes anyone no longer dropped out,
        # so it reads as a minimal ``closed`` record.
        if not message.key:
            return "tombstone_without_key"
        return {
            "person_id": message.key.decode("utf-8", "replace"),
            "name": "-",
            "status": "closed",
            "status_changed_at": "1970-01-01T00:00:00+00:00",
        }
    try:
        raw = orjson.loads(message.value)
    except orjson.JSONDecodeError:
        return "not_json"
    return raw if isinstance(raw, dict) else "not_object"


class LeadCloser:
    """Close the open leads of people who left the trace, in batches, under the writer's lock.

    Args:
        indexer: Where the leads live.
        status_of: The current status, re-checked at close time (a person may be back to
            ``dropped_out`` by then, and must not lose their leads).
        lock: The lead writer's lock.
        retrier: Retries a failed close, counted as ``close``, until the worker stops.
    """

    def __init__(
        self,
        indexer: LeadIndexer,
        status_of: Callable[[str], str | None],
        lock: asyncio.Lock,
        *,
        retrier: Retrier | None = None,
    ) -> None:
        self._indexer = indexer
        self._status_of = status_of
        self._lock = lock
        self._retrier = retrier or Retrier()
        self._pending: set[str] = set()
        self._wake = asyncio.Event()
        self.closed = 0

    def request(self, person_id: str) -> None:
        """Ask for the person's open leads to be closed soon."""
        self._pending.add(person_id)
        self._wake.set()

    async def run(self) -> None:
        """Close requested people for ever (a background task of the worker)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.close_pending()

    async def close_pending(self) -> int:
        """Close the leads of everyone requested so far; return how many leads were closed."""
        pending, self._pending = self._pending, set()
        by_status: dict[str, list[str]] = {}
        for person_id in pending:
            status = self._status_of(person_id)
            if status in CLOSING_STATUSES:
                by_status.setdefault(str(status), []).append(person_id)
        closed = 0
        for status, people in sorted(by_status.items()):
            try:
                # Any failure is tried again (backoff, counted): a close must not be lost.
                closed += await self._retrier.call(
                    partial(self._close, status, people),
                    kind="close",
                    retriable=lambda exc: not isinstance(exc, RetryGaveUp),
                )
            except RetryGaveUp:  # the worker stops: the roster is read again at start
                self._pending.update(people)
                break
        self.closed += closed
        if closed:
            log.info("closed %d open leads of %d people", closed, len(pending))
        return closed

    async def _close(self, status: str, people: list[str]) -> int:
        async with self._lock:
            return await self._indexer.close_open_leads(
                people, reason=f"roster_{status}", closed_at=utc_now()
            )
