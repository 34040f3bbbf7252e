"""Retro-matching: the archive written on the live path, and history searched for new drop-outs.

**Archiving** (:class:`ArchivingMatcher`): the feed handler's matcher is wrapped so that every
event it validated and matched leaves its archive document
(``connectors.event_archive.archive_document``) in the buffer of the worker's
:class:`~streams.archiver.EventArchiver`, which writes it off the matching path (batched,
bounded, the batch's offsets held until it is archived: see ``streams/archiver.py``).

**Retro-matching** (:class:`RetroMatcher`): the roster agent -- inside the consumer group, one
owner per roster partition, offsets committed only after -- hands every valid ``dropped_out``
record to :func:`retro_after_roster` once this worker's watchlist applied it. The person is
queued (bounded, deduplicated while waiting); ``concurrency`` background loops take people one
at a time: wait for this worker's archive writes queued or in flight, refresh, search the
archive for the person's identifying keys (``connectors.event_archive.archived_keys``) among
the events matched before their drop-out record was applied (``roster_seen``: the live path
published the leads of the others), from the start of their trace window
(``status_changed_at`` minus ``lookback``; point-in-time pages), rebuild each event, match it
again with the live matcher (:meth:`matchers.watchlist.matcher.Matcher.rematch`: the same
candidates, model and rules as the stream and ``tracer reprocess``) and publish the person's leads
to the ``leads`` topic like the feed agent does. A page is matched, then the loop yields: live
matching never waits for more than a page. Lead ids are deterministic, so a second drop-out
record (an update: its search includes events the first one's trace already matched)
duplicates nothing in Elasticsearch.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from connectors.event_archive import (
    EventArchive,
    archive_document,
    key_digest,
    rebuild_event,
    searched_key,
)
from connectors.retry import until_stopped
from matchers.errors import InvalidRecord
from matchers.leads import event_digest, lead_bytes
from matchers.records import EventRecord, OccurredAtLimit, Person, event_from_raw
from matchers.watchlist.blocking import event_block_keys, person_block_keys

from streams.archiver import EventArchiver
from streams.pipeline import DEFAULT_MAX_LEAD_BYTES, Outgoing

__all__ = [
    "ArchivingMatcher",
    "RetroMatcher",
    "RetroPort",
    "RetroStats",
    "dropped_out_person",
    "retro_after_roster",
]

log = logging.getLogger(__name__)


class RetroPort(Protocol):
    """The slice of ``matchers.watchlist.matcher.Matcher`` retro-matching and archiving use."""

    @property
    def trace_lookback(self) -> dt.timedelta:
        """How long before ``status_changed_at`` a trace window begins."""
        ...

    def apply_roster(self, raw: Mapping[str, Any]) -> Any:
        """Apply one roster record."""
        ...

    def person(self, person_id: str) -> Person | None:
        """The watchlist person, or ``None``."""
        ...

    def match_record(
        self,
        event: EventRecord,
        *,
        raw: Mapping[str, Any] | None = None,
        keys: frozenset[str] | None = None,
    ) -> Any:
        """Match a normalised event (``keys``: its block keys, computed once)."""
        ...

    def rematch(self, event: EventRecord, *, digest: str) -> Any:
        """Match an archived event again."""
        ...


class ArchivingMatcher:
    """Wraps the live matcher: every event it matched leaves its archive document behind.

    The event is normalised once, as ``Matcher.match`` does (``event_from_raw`` then
    ``match_record``), so archiving costs only the document.
    """

    def __init__(self, matcher: RetroPort, archiver: EventArchiver) -> None:
        self.matcher = matcher
        self._archiver = archiver

    def apply_roster(self, raw: Mapping[str, Any]) -> Any:
        """Apply one roster record to the wrapped matcher."""
        return self.matcher.apply_roster(raw)

    def match(
        self, raw_event: Mapping[str, Any], *, not_after: OccurredAtLimit | None = None
    ) -> Any:
        """Match like ``Matcher.match``; keep the event's archive document."""
        event = event_from_raw(raw_event, not_after=not_after)
        keys = event_block_keys(event)  # computed once: for the candidates and the archive
        outcome = self.matcher.match_record(event, raw=raw_event, keys=keys)
        leads = outcome.leads
        digest = str(leads[0]["event_digest"]) if leads else event_digest(raw_event)
        doc = archive_document(event, raw_event, digest=digest, keys=keys)
        self._archiver.pending.append(doc)
        return outcome


@dataclass
class RetroStats:
    """What retro-matching has done on this worker."""

    people: int = 0
    events: int = 0
    leads: int = 0
    unreadable: int = 0
    failed: int = 0


class RetroMatcher:
    """Searches one person's history at a time and publishes their leads (module docstring).

    Args:
        matcher: the live matcher.
        archive: the event archive.
        publish: publishes lead messages to the ``leads`` topic, waiting for acknowledgements.
        archiver: the live path's archiver (its writes in flight are waited for), if any.
        status_of: the person's current roster status on this worker.
        concurrency: people matched at once.
        max_queue: people waiting at most (a request waits for room beyond).
        page_size: archive documents per page.
        max_events: archive documents per person at most.
        max_lead_bytes: larger leads are left out (logged), as the feed handler does.
    """

    def __init__(
        self,
        matcher: RetroPort,
        archive: EventArchive,
        publish: Callable[[list[Outgoing]], Awaitable[None]],
        *,
        archiver: EventArchiver | None = None,
        status_of: Callable[[str], str | None] | None = None,
        concurrency: int = 2,
        max_queue: int = 10_000,
        page_size: int = 500,
        max_events: int = 200_000,
        max_lead_bytes: int = DEFAULT_MAX_LEAD_BYTES,
    ) -> None:
        self._matcher = matcher
        self._archive = archive
        self._publish = publish
        self._archiver = archiver
        self._status_of = status_of
        self._concurrency = concurrency
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=max_queue)
        self._waiting: dict[str, asyncio.Future[int]] = {}
        #: person -> (partition, offset) of the drop-out record their search answers.
        self._marks: dict[str, tuple[int, int]] = {}
        self._page_size = page_size
        self._max_events = max_events
        self._max_lead_bytes = max_lead_bytes
        self._refresh_lock = asyncio.Lock()
        self._refreshed_from = -1.0
        self.stats = RetroStats()

    async def request(
        self, person_id: str, mark: tuple[int, int] | None = None
    ) -> asyncio.Future[int]:
        """Queue the person (once while waiting); the future gives their leads published.

        Args:
            person_id: the person who dropped out.
            mark: (partition, offset) of their drop-out record: only events matched before
                it was applied are searched. Two records while waiting: the later one (its
                search includes the earlier one's).
        """
        if mark is not None:
            known = self._marks.get(person_id)
            self._marks[person_id] = mark if known is None or known[1] < mark[1] else known
        future = self._waiting.get(person_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            await self._queue.put(person_id)  # bounded: waits for room
            self._waiting[person_id] = future
        return future

    async def run(self) -> None:
        """Run ``concurrency`` loops taking people from the queue (a task of the worker)."""
        await asyncio.gather(*(self._loop() for _ in range(self._concurrency)))

    async def _loop(self) -> None:
        while True:
            person_id = await self._queue.get()
            future = self._waiting.pop(person_id)
            mark = self._marks.pop(person_id, None)
            try:
                found = await self.match_person(person_id, unseen=mark)
            except Exception as exc:  # one person's failure must not end retro-matching
                if not future.done():  # the requester may have given up (stopping)
                    future.set_exception(exc)
                    future.exception()  # retrieved: nobody may be waiting any more
                continue
            if not future.done():
                future.set_result(found)

    async def match_person(self, person_id: str, *, unseen: tuple[int, int] | None = None) -> int:
        """Search the person's history, publish their leads; return how many.

        Args:
            person_id: the person.
            unseen: (partition, offset) of their drop-out record: events matched with it
                applied are left out (the live path published their leads).

        Raises:
            RetryGaveUp: the worker is stopping.
        """
        person = self._matcher.person(person_id)
        if person is None or (self._status_of and self._status_of(person_id) != "dropped_out"):
            return 0  # no longer traced by the time their turn came
        if self._archiver is not None:
            await self._archiver.settled()  # events matched before the drop-out, archived
        await self._fresh()
        since = dt.datetime.fromisoformat(person.status_changed_at) - self._matcher.trace_lookback
        keys = [key_digest(k) for k in person_block_keys(person) if searched_key(k)]
        published = 0
        pages = self._archive.search(
            keys,
            since=since.isoformat(),
            page_size=self._page_size,
            max_events=self._max_events,
            unseen=unseen,
        )
        async for page in pages:
            leads = self._leads_of(person_id, page)
            await self._publish(leads)
            published += len(leads)
            await asyncio.sleep(0)  # a page at a time: the feed agent runs in between
        self.stats.people += 1
        self.stats.leads += published
        return published

    async def _fresh(self) -> None:
        """Refresh the archive, once for every person who asked while a refresh ran."""
        asked = time.monotonic()
        async with self._refresh_lock:
            if self._refreshed_from >= asked:
                return  # a refresh begun after this request has completed meanwhile
            started = time.monotonic()
            await self._archive.refresh()
            self._refreshed_from = started

    def _leads_of(self, person_id: str, docs: Iterable[Mapping[str, Any]]) -> list[Outgoing]:
        out = []
        for doc in docs:
            self.stats.events += 1
            try:
                event = rebuild_event(doc)
            except InvalidRecord:
                self.stats.unreadable += 1
                continue
            outcome = self._matcher.rematch(event, digest=str(doc.get("event_digest", "")))
            for lead in outcome.leads:
                if lead["person_id"] != person_id:
                    continue  # another person's lead: theirs came when the event was live
                value = lead_bytes(lead)
                if len(value) > self._max_lead_bytes:
                    log.warning("retro: a lead of %d bytes left out", len(value))
                    continue
                out.append(Outgoing(str(lead["lead_id"]).encode(), value))
        return out


def dropped_out_person(value: bytes | None) -> str | None:
    """The person a roster record makes ``dropped_out``, or ``None`` (pure).

    Example:
        >>> dropped_out_person(b'{"person_id": "p1", "status": "dropped_out"}')
        'p1'
    """
    try:
        raw = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(raw, dict) or raw.get("status") != "dropped_out":
        return None
    person_id = raw.get("person_id")
    return person_id if isinstance(person_id, str) and person_id else None


async def retro_after_roster(
    retro: RetroMatcher, records: Iterable[tuple[int, int, bytes | None]], stop: asyncio.Event
) -> None:
    """Retro-match every person the valid roster ``records`` made ``dropped_out``; wait for it.

    ``records``: (partition, offset, value) of each valid roster record, in offset order.

    The roster agent calls it with the records its follower found valid, so its offsets are
    committed only after their history was searched and the leads published (at least once).
    A person whose search failed for another reason than the stop is logged and counted, and
    the batch goes on: one person's history must not hold the roster partition for ever.

    Raises:
        RetryGaveUp: the worker is stopping.
    """
    marks: dict[str, tuple[int, int]] = {}
    for partition, offset, value in records:
        person_id = dropped_out_person(value)
        if person_id is not None:
            marks[person_id] = (partition, offset)  # the later record of a person wins
    people = list(marks)
    if not people:
        return
    futures = [await until_stopped(retro.request(p, marks[p]), stop) for p in people]
    results = await until_stopped(asyncio.gather(*futures, return_exceptions=True), stop)
    for result in results:
        if isinstance(result, BaseException):
            if getattr(result, "why", None) == "stopped":
                raise result
            retro.stats.failed += 1
            log.error("retro: a person's history search failed (%s)", type(result).__name__)
    log.info(
        "retro: %d people searched, %d leads published",
        len(people),
        sum(r for r in results if isinstance(r, int)),
    )
