"""The event archive's writer on the live path: batched, asynchronous, bounded, never lossy.

The feed agent matches a batch and hands its archive documents over (:meth:`EventArchiver.submit`,
synchronous, right after matching); a background task (:meth:`EventArchiver.run`) writes what
is queued in bulks of up to ``max_docs`` documents, several feed batches to a bulk, each bulk
retried through the worker's :class:`~connectors.retry.Retrier` until Elasticsearch
acknowledged it. Matching never waits for Elasticsearch, only for room: past ``max_queued``
documents waiting, :meth:`~EventArchiver.submit` returns a wait that the feed agent awaits
(backpressure; while Elasticsearch is down the feed stops at that bound).

Never lost: a batch's offsets must not be committed before its documents are archived. The
feed agent keeps the batch's acknowledgement back (:func:`streams.agents` ``_hold_ack``) and the
writer gives it once the bulk holding its documents was acknowledged (``on_written``). Faust
commits a partition up to the first offset not acknowledged, so later batches acknowledged
earlier wait for it. A worker that stops or crashes first has the batch read again after the
restart (documents are create-only: the second write is a no-op).

Ordering with retro-matching: the documents of every batch matched before a drop-out was
applied have been submitted before the roster follower could apply it (matching and
:meth:`~EventArchiver.submit` run without an await in between), so :meth:`~EventArchiver.settled`
called for the drop-out waits for exactly those writes, queued or in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from connectors.errors import RetryGaveUp
from connectors.event_archive import EventArchive, roster_marks

__all__ = ["EventArchiver"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Ticket:
    """One feed batch's documents and what to do once they are archived."""

    number: int
    docs: list[dict[str, Any]]
    on_written: list[Callable[[], None]] = field(default_factory=list)


class EventArchiver:
    """The documents of the batch being matched, the queue behind them, and their writer.

    Args:
        archive: where the documents go.
        max_docs: documents per bulk (whole batches are combined up to it).
        max_queued: documents waiting at most before :meth:`submit` asks the feed to wait.
        positions: where this worker's roster stands (``Watchlist.positions``): stamped on
            each batch's documents (``roster_seen``), so retro-matching can leave out the
            events the live path matched with a drop-out already applied.
    """

    def __init__(
        self,
        archive: EventArchive,
        *,
        max_docs: int = 2000,
        max_queued: int = 20_000,
        positions: Mapping[int, int] | None = None,
    ) -> None:
        self.archive = archive
        self._max_docs = max_docs
        self._max_queued = max_queued
        self._positions = positions
        self.pending: list[dict[str, Any]] = []
        self._queue: deque[_Ticket] = deque()
        self._writing: dict[int, _Ticket] = {}  # the bulk in flight
        self._failed: set[int] = set()  # tickets given up (few: a stop, or a bug)
        self._queued_docs = 0
        self._taken = 0  # batches submitted
        self._written = 0  # of those, how many are settled (in order: one writer)
        self._moved = asyncio.Event()
        self._work = asyncio.Event()
        self._lock = asyncio.Lock()
        self.archived = 0
        self.bulks = 0

    def submit(self) -> int:
        """Queue the documents matched since the last call; return their ticket.

        Called right after a batch was matched, before any await: no roster record was
        applied in between, so the roster's position now is the one the batch was matched with.
        """
        docs, self.pending = self.pending, []
        if self._positions:
            marks = roster_marks(self._positions)
            for doc in docs:
                doc["roster_seen"] = marks
        self._taken += 1
        self._queue.append(_Ticket(self._taken, docs))
        self._queued_docs += len(docs)
        self._work.set()
        return self._taken

    def room(self) -> Awaitable[None] | None:
        """A wait for the queue to drop to ``max_queued`` documents; ``None`` when it is."""
        return self._wait_room() if self._queued_docs > self._max_queued else None

    async def _wait_room(self) -> None:
        while self._queued_docs > self._max_queued:
            await self._moved.wait()

    def when_written(
        self, ticket: int, callback: Callable[[], None]
    ) -> Literal["pending", "written", "failed"]:
        """Call ``callback`` once ``ticket`` is archived (``pending``), or say how it ended.

        ``failed``: the worker stopped first or the bulk failed; the batch must stay
        unacknowledged (read again after the restart).
        """
        waiting = self._writing.get(ticket) or next(
            (queued for queued in self._queue if queued.number == ticket), None
        )
        if waiting is not None:
            waiting.on_written.append(callback)
            return "pending"
        if ticket in self._failed:
            self._failed.discard(ticket)
            return "failed"
        return "written"

    async def run(self) -> None:
        """Write what is queued, bulk after bulk, until the worker stops (a worker task)."""
        while True:
            await self._work.wait()
            self._work.clear()
            try:
                await self.flush()
            except RetryGaveUp:
                log.info("event archive: stopping with %d documents unwritten", self._queued_docs)
                return

    async def flush(self) -> None:
        """Write every batch queued now (one bulk per ``max_docs`` documents).

        Raises:
            RetryGaveUp: the worker is stopping; what is unwritten stays unacknowledged.
        """
        async with self._lock:
            while self._queue:
                tickets = self._next_bulk()
                try:
                    await self._write(tickets)
                except RetryGaveUp:
                    self._settle(tickets, written=False)
                    self._settle(list(self._queue), written=False)
                    self._queue.clear()
                    raise
                except Exception:  # a bug: its batches stay unacknowledged, read again later
                    log.exception("event archive: a bulk failed; its batches stay uncommitted")
                    self._settle(tickets, written=False)
                else:
                    self._settle(tickets, written=True)

    def _next_bulk(self) -> list[_Ticket]:
        """Whole batches from the head of the queue, up to ``max_docs`` documents (at least one)."""
        tickets = [self._queue.popleft()]
        size = len(tickets[0].docs)
        while self._queue and size + len(self._queue[0].docs) <= self._max_docs:
            size += len(self._queue[0].docs)
            tickets.append(self._queue.popleft())
        for ticket in tickets:
            self._writing[ticket.number] = ticket
        return tickets

    async def _write(self, tickets: list[_Ticket]) -> None:
        docs = [doc for ticket in tickets for doc in ticket.docs]
        for start in range(0, len(docs), self._max_docs):  # one batch may exceed a bulk
            report = await self.archive.write(docs[start : start + self._max_docs])
            self.archived += report.created
            self.bulks += 1

    def _settle(self, tickets: list[_Ticket], *, written: bool) -> None:
        """Count ``tickets`` settled (given up or failed too: they are read again later)."""
        for ticket in tickets:
            self._writing.pop(ticket.number, None)
            self._queued_docs -= len(ticket.docs)
            self._written = max(self._written, ticket.number)
            if written:
                for callback in ticket.on_written:
                    callback()
            elif not ticket.on_written:  # nobody holds it yet: the feed agent will ask
                self._failed.add(ticket.number)
        self._moved.set()
        self._moved = asyncio.Event()

    async def settled(self) -> None:
        """Wait until every batch submitted so far is written (retro-matching's starting line)."""
        target = self._taken
        while self._written < target:
            await self._moved.wait()
