"""The watchlist on every worker, and closing the leads of people who left the trace.

Each worker runs a :class:`connectors.kafka.KafkaRosterFollower` (outside the consumer group,
every roster partition) whose batches land in :meth:`Watchlist.on_roster`: each record goes
through ``Matcher.apply_roster`` (the matcher's index changes in place) and the person's status
is kept for the lead writer. ``Watchlist.ready`` is set once the follower reached the end
offsets it saw at start; the feed agent waits for it before matching anything.

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
from typing import Any

import orjson
from connectors.elasticsearch import LeadIndexer
from connectors.kafka import RosterMessage

from streams.pipeline import CLOSING_STATUSES, MatcherPort, utc_now

__all__ = ["LeadCloser", "RosterStats", "Watchlist"]

log = logging.getLogger(__name__)


@dataclass
class RosterStats:
    """What the watchlist has seen."""

    applied: int = 0
    invalid: int = 0
    tombstones: int = 0


class Watchlist:
    """The whole roster on this worker: the matcher's index plus each person's status."""

    def __init__(
        self, matcher: MatcherPort, *, on_traced_out: Callable[[str], None] | None = None
    ) -> None:
        self._matcher = matcher
        #: Called with the id of each person whose status becomes ``located`` / ``closed``.
        self.on_traced_out = on_traced_out
        self._status: dict[str, str] = {}
        self.ready = asyncio.Event()
        self.stats = RosterStats()

    def status_of(self, person_id: str) -> str | None:
        """Return the person's current roster status, or ``None`` if unknown."""
        return self._status.get(person_id)

    def __len__(self) -> int:
        return len(self._status)

    async def on_roster(self, messages: Sequence[RosterMessage]) -> None:
        """Apply one batch of roster messages in order."""
        for message in messages:
            self.apply(message)
        # Matching a big roster is CPU work: let the loop breathe between batches.
        await asyncio.sleep(0)

    def apply(self, message: RosterMessage) -> None:
        """Apply one roster message to the matcher and the status map."""
        raw = _roster_raw(message)
        if raw is None:
            self.stats.invalid += 1
            log.warning(
                "roster: unreadable record at partition %d offset %d",
                message.partition,
                message.offset,
            )
            return
        change = self._matcher.apply_roster(raw)
        if change.action == "invalid":
            # The person keeps their previous state: a bad update must not untrace anyone.
            self.stats.invalid += 1
            log.warning(
                "roster: invalid record at partition %d offset %d (%s)",
                message.partition,
                message.offset,
                change.reason,
            )
            return
        self.stats.applied += 1
        if message.value is None:
            self.stats.tombstones += 1
        self._status[str(change.person_id)] = str(change.status)
        if change.status in CLOSING_STATUSES and self.on_traced_out is not None:
            self.on_traced_out(str(change.person_id))


def _roster_raw(message: RosterMessage) -> dict[str, Any] | None:
    if message.value is None:
        # A tombstone deletes the person: the matcher removes anyone no longer dropped out,
        # so it reads as a minimal ``closed`` record.
        if not message.key:
            return None
        return {
            "person_id": message.key.decode("utf-8", "replace"),
            "name": "-",
            "status": "closed",
            "status_changed_at": "1970-01-01T00:00:00+00:00",
        }
    try:
        raw = orjson.loads(message.value)
    except orjson.JSONDecodeError:
        return None
    return raw if isinstance(raw, dict) else None


class LeadCloser:
    """Close the open leads of people who left the trace, in batches, under the writer's lock.

    Args:
        indexer: Where the leads live.
        status_of: The current status, re-checked at close time (a person may be back to
            ``dropped_out`` by then, and must not lose their leads).
        lock: The lead writer's lock.
    """

    def __init__(
        self, indexer: LeadIndexer, status_of: Callable[[str], str | None], lock: asyncio.Lock
    ) -> None:
        self._indexer = indexer
        self._status_of = status_of
        self._lock = lock
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
                async with self._lock:
                    closed += await self._indexer.close_open_leads(
                        people, reason=f"roster_{status}", closed_at=utc_now()
                    )
            except Exception:  # keep them pending: a later wake-up tries again
                log.exception("closing leads of %d people failed", len(people))
                self._pending.update(people)
                await asyncio.sleep(1.0)
                self._wake.set()
        self.closed += closed
        if closed:
            log.info("closed %d open leads of %d people", closed, len(pending))
        return closed
