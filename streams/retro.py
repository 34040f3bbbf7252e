"""Retro-matching: the archive written on the live path, and history searched for new drop-outs.

**Archiving** (:class:`ArchivingMatcher`): the feed handler's matcher is wrapped so that every
event it validated and matched leaves its archive document
(``connectors.event_archive.archive_document``) in the buffer of the worker's
:class:`~streams.archiver.EventArchiver`, which writes it off the matching path (batched,
bounded, the batch's offsets held until it is archived: see ``streams/archiver.py``).

**Retro-matching** (:class:`RetroMatcher`): the roster agent -- inside the consumer group, one
owner per roster partition, offsets committed only after -- hands every valid ``dropped_out``
record to :func:`retro_after_roster` once this worker's watchlist applied it, and holds the batch's
acknowledgement until those people were searched (it reads on meanwhile). The person is
queued (bounded, deduplicated while waiting); ``concurrency`` background loops each take
everyone waiting as one batch: wait for this worker's archive writes queued or in flight,
refresh if those writes hold one of the batch's keys, search the archive once for all of them
(``connectors.event_archive.people_query``: each person's identifying keys, among the events
matched before their drop-out record was applied -- ``roster_seen``: the live path published
the leads of the others -- from the start of their trace window, ``status_changed_at`` minus
``lookback``; point-in-time pages; each hit names the people it answers), rebuild each event,
match it again once with the live matcher (:meth:`matchers.watchlist.matcher.Matcher.rematch`: the
same candidates, model and rules as the stream and ``tracer reprocess``) and publish the leads of
the people it answers to the ``leads`` topic like the feed agent does. A page is matched, then
the loop yields: live matching never waits for more than a page. Lead ids are deterministic,
so a second drop-out record (an update: its search includes events the first one's trace
already matched) duplicates nothing in Elasticsearch.
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
    PeopleHit,
    PersonQuery,
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
from streams.pipeline import (
    DEFAULT_MAX_LEAD_BYTES,
    LOOP_SLICE_SECONDS,
    LOOP_STEP_EVENTS,
    Outgoing,
)

__all__ = [
    "REMATCH_SLICE_SECONDS",
    "REMATCH_STEP_EVENTS",
    "ArchivingMatcher",
    "RetroMatcher",
    "RetroPort",
    "RetroStats",
    "dropped_out_person",
    "retro_after_roster",
]

log = logging.getLogger(__name__)

#: Archive documents fetched in one request at most (Elasticsearch's result window).
_MAX_FETCH = 10_000

#: Rematching takes turns with the live path's matching by the same time budget: a 500-event
#: chunk rematched in one go held the loop for its whole cost (~0.1 s, more on a loaded
#: machine), and the live events fetched meanwhile waited behind it.
REMATCH_SLICE_SECONDS = LOOP_SLICE_SECONDS
REMATCH_STEP_EVENTS = LOOP_STEP_EVENTS


class RetroPort(Protocol):
    """The slice of ``matchers.watchlist.matcher.Matcher`` retro-matching and archiving use."""

    @property
    def trace_lookback(self) -> dt.timedelta:
        """How long before ``status_changed_at`` a trace window begins."""
        ...

    def apply_roster(self, raw: Mapping[str, Any]) -> Any:
        """Apply one roster record."""
        ...

    def freeze(self) -> None:
        """Move what is loaded so far out of the cyclic garbage collector's reach."""
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

    def freeze(self) -> None:
        """Freeze the wrapped matcher's loaded watchlist (``MatcherPort.freeze``)."""
        self.matcher.freeze()

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
    """What retro-matching has done on this worker; seconds summed over batches.

    Where a drop-out's time goes (each batch logs its own: ``retro batch:``): ``waited`` in the
    queue behind other batches (summed per person), ``settled`` waiting for this worker's
    archive writes, ``refreshed``, ``searched`` waiting for Elasticsearch's pages,
    ``rematched`` matching them again (CPU, on the worker's loop), ``published`` waiting for
    the leads' acknowledgements.
    """

    people: int = 0
    batches: int = 0
    events: int = 0
    leads: int = 0
    unreadable: int = 0
    failed: int = 0
    waited: float = 0.0
    settled: float = 0.0
    refreshed: float = 0.0
    searched: float = 0.0
    rematched: float = 0.0
    published: float = 0.0


@dataclass(slots=True)
class _Request:
    """A person waiting: their drop-out record's mark, when they asked, who waits for them."""

    future: asyncio.Future[int]
    asked: float
    mark: tuple[int, int] | None = None


class _Clock:
    """Seconds spent per phase of one batch (RetroStats' fields)."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.spent[phase] = self.spent.get(phase, 0.0) + now - self._last
        self._last = now


class RetroMatcher:
    """Searches the history of the people who dropped out, in batches (module docstring).

    Everyone waiting when a loop is free is one batch: one archive search for all of them
    (each hit names the people it answers), each event matched again once, one publish per
    page. A burst of drop-outs costs about one search, not one per person.

    Args:
        matcher: the live matcher.
        archive: the event archive.
        publish: publishes lead messages to the ``leads`` topic, waiting for acknowledgements.
        archiver: the live path's archiver (its writes in flight are waited for), if any.
        status_of: the person's current roster status on this worker.
        concurrency: batches searched at once.
        max_queue: people waiting at most (a request waits for room beyond).
        max_batch: people in one batch at most.
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
        max_batch: int = 200,
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
        self._waiting: dict[str, _Request] = {}
        self._max_batch = max_batch
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
        offered = self.offer(person_id, mark)
        if offered is not None:
            return offered
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(person_id)  # bounded: waits for room
        waiting = self._waiting.setdefault(person_id, _Request(future, time.perf_counter()))
        return self._marked(waiting, mark).future

    def offer(
        self, person_id: str, mark: tuple[int, int] | None = None
    ) -> asyncio.Future[int] | None:
        """:meth:`request` without waiting: ``None`` when the queue is full.

        Without an await, people offered in a row are all waiting when a loop next takes a
        batch: a roster batch's drop-outs are searched together.
        """
        waiting = self._waiting.get(person_id)
        if waiting is None:
            if self._queue.full():
                return None
            self._queue.put_nowait(person_id)
            future = asyncio.get_running_loop().create_future()
            waiting = self._waiting[person_id] = _Request(future, time.perf_counter())
        return self._marked(waiting, mark).future

    @staticmethod
    def _marked(waiting: _Request, mark: tuple[int, int] | None) -> _Request:
        if mark is not None and (waiting.mark is None or waiting.mark[1] < mark[1]):
            waiting.mark = mark
        return waiting

    async def run(self) -> None:
        """Run ``concurrency`` loops taking batches from the queue (a task of the worker)."""
        await asyncio.gather(*(self._loop() for _ in range(self._concurrency)))

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())  # everyone waiting: one search
            # A person queued twice (two requests racing for room) is searched once.
            requests = {p: r for p in batch if (r := self._waiting.pop(p, None)) is not None}
            if not requests:
                continue
            started = time.perf_counter()
            waited = sum(started - r.asked for r in requests.values())
            try:
                marks = {p: r.mark for p, r in requests.items()}
                found = await self.match_people(marks, waited=waited)
            except Exception as exc:  # one batch's failure must not end retro-matching
                for request in requests.values():
                    if not request.future.done():  # the requester may have given up
                        request.future.set_exception(exc)
                        request.future.exception()  # retrieved: nobody may be waiting
                continue
            for person_id, request in requests.items():
                if not request.future.done():
                    request.future.set_result(found.get(person_id, 0))

    async def match_person(self, person_id: str, *, unseen: tuple[int, int] | None = None) -> int:
        """Search one person's history, publish their leads; return how many (a batch of one).

        Raises:
            RetryGaveUp: the worker is stopping.
        """
        return (await self.match_people({person_id: unseen})).get(person_id, 0)

    async def match_people(
        self, people: Mapping[str, tuple[int, int] | None], *, waited: float = 0.0
    ) -> dict[str, int]:
        """Search the history of ``people`` at once, publish their leads; return how many each.

        Args:
            people: person id -> (partition, offset) of their drop-out record: events matched
                with it applied are left out (the live path published their leads).
            waited: seconds they waited in the queue, summed (counted and logged).

        Raises:
            RetryGaveUp: the worker is stopping.
        """
        clock = _Clock()
        clock.spent["waited"] = waited
        queries = [q for q in (self._query(p, mark) for p, mark in people.items()) if q]
        published = dict.fromkeys(people, 0)
        if queries:
            if self._archiver is not None:
                await self._archiver.settled()  # events matched before the drop-outs, archived
            clock.lap("settled")
            await self._fresh({key for query in queries for key in query.keys})
            clock.lap("refreshed")
            await self._search(queries, published, clock)
        self._count(len(people), sum(published.values()), clock)
        return published

    def _query(self, person_id: str, mark: tuple[int, int] | None) -> PersonQuery | None:
        """The person's archive search, or ``None`` when they are no longer traced."""
        person = self._matcher.person(person_id)
        if person is None or (self._status_of and self._status_of(person_id) != "dropped_out"):
            return None  # no longer traced by the time their turn came
        since = dt.datetime.fromisoformat(person.status_changed_at) - self._matcher.trace_lookback
        keys = tuple(key_digest(k) for k in person_block_keys(person) if searched_key(k))
        return PersonQuery(person_id, keys, since.isoformat(), mark)

    async def _search(
        self, queries: list[PersonQuery], published: dict[str, int], clock: _Clock
    ) -> None:
        # A page per person fetched at once: a batch's hits in one request, not a point in
        # time and a page per 500 (at 3.49M, batches of 3+ people paged, every page a request
        # to 91 day shards, and the searches slowed from 0.05 s to seconds). Matched a
        # page_size chunk at a time all the same.
        fetch = min(self._page_size * len(queries), _MAX_FETCH)
        pages = self._archive.search_people(
            queries, page_size=fetch, max_events=self._max_events * len(queries)
        )
        async for page in pages:
            clock.lap("searched")
            for start in range(0, len(page), self._page_size):
                leads = await self._rematch(page[start : start + self._page_size], published)
                clock.lap("rematched")
                await self._publish(leads)
                clock.lap("published")
                await asyncio.sleep(0)  # a chunk at a time: the feed agent runs in between

    def _count(self, people: int, leads: int, clock: _Clock) -> None:
        stats = self.stats
        stats.people += people
        stats.batches += 1
        stats.leads += leads
        for phase, seconds in clock.spent.items():
            setattr(stats, phase, getattr(stats, phase) + seconds)
        log.info(
            "retro batch: people=%d leads=%d %s",
            people,
            leads,
            " ".join(f"{k}={v:.3f}" for k, v in clock.spent.items()),
        )

    async def _fresh(self, keys: set[str]) -> None:
        """Refresh the archive for ``keys``, once for every batch that asked while one ran."""
        asked = time.monotonic()
        async with self._refresh_lock:
            if self._refreshed_from >= asked:
                return  # a refresh begun after this request has completed meanwhile
            started = time.monotonic()
            if await self._archive.refresh(keys):  # everything: later batches may skip theirs
                self._refreshed_from = started

    async def _rematch(self, hits: list[PeopleHit], published: dict[str, int]) -> list[Outgoing]:
        """:meth:`_leads_of` a few events at a time, yielding to the loop every time slice."""
        out: list[Outgoing] = []
        since = time.perf_counter()
        for start in range(0, len(hits), REMATCH_STEP_EVENTS):
            out += self._leads_of(hits[start : start + REMATCH_STEP_EVENTS], published)
            if time.perf_counter() - since >= REMATCH_SLICE_SECONDS:
                await asyncio.sleep(0)  # the feed agent's turn (module constant's comment)
                since = time.perf_counter()
        return out

    def _leads_of(self, hits: Iterable[PeopleHit], published: dict[str, int]) -> list[Outgoing]:
        """Each event matched again once; the leads of the people it answers, counted each."""
        out = []
        for doc, names in hits:
            self.stats.events += 1
            try:
                event = rebuild_event(doc)
            except InvalidRecord:
                self.stats.unreadable += 1
                continue
            outcome = self._matcher.rematch(event, digest=str(doc.get("event_digest", "")))
            for lead in outcome.leads:
                person_id = lead["person_id"]
                if person_id not in names:
                    continue  # not this search's: theirs came when the event was live
                value = lead_bytes(lead)
                if len(value) > self._max_lead_bytes:
                    log.warning("retro: a lead of %d bytes left out", len(value))
                    continue
                published[person_id] += 1
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
) -> asyncio.Future[None] | None:
    """Queue every person the valid roster ``records`` made ``dropped_out``; don't wait.

    ``records``: (partition, offset, value) of each valid roster record, in offset order.
    Returns what completes once every one of them was searched and their leads published
    (``None``: nobody dropped out). The roster agent holds the batch's acknowledgement until
    then, and reads on meanwhile: the drop-outs arriving while a search runs queue up and
    are searched together, instead of waiting in the topic for the agent. Waits only for
    room in the bounded queue.

    Its failures: a person whose search failed for another reason than the stop is logged
    and counted, and it completes: one person's history must not hold the roster partition
    for ever.

    Raises:
        RetryGaveUp: the worker is stopping (also what the returned future raises then).
    """
    marks: dict[str, tuple[int, int]] = {}
    for partition, offset, value in records:
        person_id = dropped_out_person(value)
        if person_id is not None:
            marks[person_id] = (partition, offset)  # the later record of a person wins
    if not marks:
        return None
    futures = []
    for person_id, mark in marks.items():
        future = retro.offer(person_id, mark)  # no await while there is room: one batch
        if future is None:
            future = await until_stopped(retro.request(person_id, mark), stop)
        futures.append(future)
    return asyncio.ensure_future(_searched(retro, list(marks), futures))


async def _searched(
    retro: RetroMatcher, people: list[str], futures: list[asyncio.Future[int]]
) -> None:
    results = await asyncio.gather(*futures, return_exceptions=True)
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
