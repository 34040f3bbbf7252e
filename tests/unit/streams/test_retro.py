"""Retro-matching without services: the archive twin, the live Matcher, a recording publisher.

The central property: the leads retro-matching publishes for people who dropped out after their
events were matched (and archived) are exactly the leads ``tracer reprocess`` gives for the same
events against the roster after the drop-out -- same ids, same bytes -- with one trace window.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Mapping
from typing import Any

import orjson

from connectors.event_archive import InMemoryEventArchive, archived_keys
from matchers.records import event_from_raw
from matchers.scoring.modelfile import default_model
from matchers.watchlist.blocking import event_block_keys, person_block_keys
from matchers.watchlist.matcher import Matcher
from simulator.population import IdentityFactory
from streams.archiver import EventArchiver
from streams.pipeline import Outgoing
from streams.retro import (
    REMATCH_STEP_EVENTS,
    ArchivingMatcher,
    RetroMatcher,
    dropped_out_person,
    retro_after_roster,
)
from tests.unit.matchers.test_matcher import event_record, roster_record, synthetic_world

LOOKBACK = dt.timedelta(days=90)
DROPPED_AT = "2026-03-01T00:00:00+08:00"


def _dated(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spread the events over 2025-09-01 .. 2026-02-28: some before the window, most in it."""
    start = dt.datetime(2025, 9, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    rng = random.Random(3)
    return [
        e | {"occurred_at": (start + dt.timedelta(minutes=rng.randrange(180 * 1440))).isoformat()}
        for e in events
    ]


class Recorder:
    def __init__(self) -> None:
        self.leads: list[dict[str, Any]] = []

    async def __call__(self, messages: list[Outgoing]) -> None:
        self.leads += [orjson.loads(m.value) for m in messages]


async def _archived(events: list[dict[str, Any]], matcher: Matcher) -> InMemoryEventArchive:
    archive = InMemoryEventArchive()
    archiver = EventArchiver(archive)
    live = ArchivingMatcher(matcher, archiver)
    for raw in events:
        live.match(raw)
    await _write(archiver)
    return archive


async def test_retro_leads_equal_reprocess_after_the_drop_out() -> None:
    roster, events = synthetic_world(120, 600, seed=5)
    roster = [r | {"status_changed_at": DROPPED_AT} for r in roster]
    events = _dated(events)
    # The stream: events first (nobody traced yet), archived; then the roster arrives.
    stream = Matcher(default_model(), trace_lookback=LOOKBACK)
    archive = await _archived(events, stream)
    for record in roster:
        stream.apply_roster(record)
    published = Recorder()
    retro = RetroMatcher(stream, archive, published)
    dropped = [r["person_id"] for r in roster if r["status"] == "dropped_out"]
    for person_id in dropped:
        await retro.match_person(person_id)
    # tracer reprocess: the roster after the drop-out, then every event.
    offline = Matcher(default_model(), trace_lookback=LOOKBACK)
    for record in roster:
        offline.apply_roster(record)
    every = {lead["lead_id"]: lead for raw in events for lead in offline.match(raw).leads}
    # Retro searches identifying keys only (connectors.event_archive.archived_keys): a pair
    # linked by nothing but a name key is left to the live path and reprocess.
    expected = {
        lead_id: lead
        for raw in events
        for lead_id, lead in every.items()
        if lead["event_id"] == raw["event_id"] and _shares_a_searched_key(offline, raw, lead)
    }
    got = {lead["lead_id"]: lead for lead in published.leads}
    assert len(expected) > 20  # the world gives leads, in and out of the window
    assert len(every) - len(expected) <= len(every) // 50  # namesake-only leads are rare
    assert got == expected
    assert len(published.leads) == len(got)  # one search per person: no lead twice
    window = dt.datetime.fromisoformat(DROPPED_AT) - LOOKBACK
    assert all(dt.datetime.fromisoformat(x["occurred_at"]) >= window for x in got.values())
    # Events before the window were found by blocking and scored, then left out.
    before = sum(offline.match(raw).before_trace for raw in events)
    assert before > 0


def _shares_a_searched_key(matcher: Matcher, raw: dict[str, Any], lead: dict[str, Any]) -> bool:
    person = matcher.person(lead["person_id"])
    assert person is not None
    event = event_from_raw(raw)
    return bool(set(archived_keys(event, event_block_keys(event))) & person_block_keys(person))


async def test_retro_takes_only_events_matched_before_the_drop_out_was_applied() -> None:
    """A fresh worker's first roster load: each lead published once, live or retro, not both."""
    roster, events = synthetic_world(80, 400, seed=9)
    roster = [r | {"status_changed_at": DROPPED_AT} for r in roster]
    events = _dated(events)
    early, late = events[:200], events[200:]
    matcher = Matcher(default_model(), trace_lookback=LOOKBACK)
    positions: dict[int, int] = {}
    archive = InMemoryEventArchive()
    archiver = EventArchiver(archive, positions=positions)
    live = ArchivingMatcher(matcher, archiver)
    # An earlier worker matched the early events with the roster read up to offset 3 only.
    positions[0] = 3
    for raw in early:
        assert live.match(raw).leads == ()
    await _write(archiver)
    # The drop-outs arrive at offsets 3..; this worker applies them, then matches live.
    marks = {}
    for offset, record in enumerate(roster, start=3):
        matcher.apply_roster(record)
        positions[0] = offset + 1
        marks[record["person_id"]] = (0, offset)
    live_leads = [lead for raw in late for lead in live.match(raw).leads]
    await _write(archiver)
    published = Recorder()
    retro = RetroMatcher(matcher, archive, published)
    for person_id in (r["person_id"] for r in roster if r["status"] == "dropped_out"):
        await retro.match_person(person_id, unseen=marks[person_id])
    ids = [lead["lead_id"] for lead in live_leads + published.leads]
    assert len(ids) == len(set(ids))  # nothing published twice
    assert {x["event_id"] for x in published.leads} <= {e["event_id"] for e in early}
    assert published.leads and live_leads
    # Without the mark, the late events' leads come a second time: what the stamp prevents.
    again = Recorder()
    person_id = live_leads[0]["person_id"]
    await RetroMatcher(matcher, archive, again).match_person(person_id)
    assert live_leads[0]["lead_id"] in {x["lead_id"] for x in again.leads}


async def _write(archiver: EventArchiver) -> None:
    archiver.submit()
    await archiver.flush()


def test_the_trace_window_begins_lookback_before_the_drop_out() -> None:
    (person,) = IdentityFactory(random.Random(5)).people(1)
    matcher = Matcher(default_model(), trace_lookback=LOOKBACK)
    matcher.apply_roster(roster_record(1, person) | {"status_changed_at": DROPPED_AT})
    inside = event_record("e1", person, "bank", occurred_at="2025-12-01T00:00:00+08:00")
    outside = event_record("e2", person, "bank", occurred_at="2025-11-30T23:59:59+08:00")
    assert len(matcher.match(inside).leads) == 1
    missed = matcher.match(outside)
    assert missed.leads == () and missed.before_trace == 1
    # Without a lookback the trace begins at the drop-out, as before.
    strict = Matcher(default_model())
    strict.apply_roster(roster_record(1, person) | {"status_changed_at": DROPPED_AT})
    assert strict.match(inside).before_trace == 1


async def test_a_person_no_longer_traced_gets_nothing_and_a_rerun_the_same_leads() -> None:
    (person,) = IdentityFactory(random.Random(8)).people(1)
    matcher = Matcher(default_model(), trace_lookback=LOOKBACK)
    archive = await _archived([event_record("e1", person, "telecom")], matcher)
    matcher.apply_roster(roster_record(1, person))
    published = Recorder()
    retro = RetroMatcher(matcher, archive, published)
    assert await retro.match_person("p00001") == 1
    assert await retro.match_person("p00001") == 1  # the same lead id: the indexer keeps one
    assert len({lead["lead_id"] for lead in published.leads}) == 1
    matcher.apply_roster(roster_record(1, person, status="located"))
    assert await retro.match_person("p00001") == 0


async def test_requests_are_deduplicated_while_waiting_and_the_queue_is_bounded() -> None:
    matcher = Matcher(default_model())
    retro = RetroMatcher(matcher, InMemoryEventArchive(), Recorder(), max_queue=2)
    first = await retro.request("a")
    assert await retro.request("a") is first  # still waiting: one search
    await retro.request("b")
    third = asyncio.ensure_future(retro.request("c"))
    await asyncio.sleep(0.01)
    assert not third.done()  # two waiting: the third request waits for room
    runner = asyncio.ensure_future(retro.run())
    try:
        futures = [first, await asyncio.wait_for(third, 1)]
        assert await asyncio.wait_for(asyncio.gather(*futures), 1) == [0, 0]  # unknown people
    finally:
        runner.cancel()


async def test_only_valid_drop_out_records_start_a_search() -> None:
    assert dropped_out_person(b'{"person_id": "p1", "status": "located"}') is None
    assert dropped_out_person(b"not json") is None
    assert dropped_out_person(None) is None
    seen: list[str] = []

    class Spy(RetroMatcher):
        async def match_people(
            self, people: Mapping[str, tuple[int, int] | None], *, waited: float = 0.0
        ) -> dict[str, int]:
            seen.extend(people)
            marks.extend(people.values())
            return dict.fromkeys(people, 0)

    marks: list[tuple[int, int] | None] = []

    spy = Spy(Matcher(default_model()), InMemoryEventArchive(), Recorder())
    runner = asyncio.ensure_future(spy.run())
    values = [
        (0, 1, b'{"person_id": "p1", "status": "dropped_out"}'),
        (0, 2, b'{"person_id": "p1", "status": "dropped_out", "phones": ["1"]}'),
        (0, 3, b'{"person_id": "p2", "status": "active"}'),
    ]
    try:
        searched = await retro_after_roster(spy, values, asyncio.Event())
        assert searched is not None
        await asyncio.wait_for(searched, 2)
    finally:
        runner.cancel()
    assert seen == ["p1"]
    assert marks == [(0, 2)]  # the later record: its search covers the earlier one's


async def test_an_event_still_queued_for_the_archive_is_found_by_a_drop_out_after_it() -> None:
    """The ordering: a batch matched before the drop-out is written before the search runs."""
    (person,) = IdentityFactory(random.Random(21)).people(1)
    matcher = Matcher(default_model(), trace_lookback=LOOKBACK)
    matcher.apply_roster(roster_record(1, person, status="active"))
    opened = asyncio.Event()

    class Slow(InMemoryEventArchive):
        async def write(self, docs: Any) -> Any:
            await opened.wait()  # Elasticsearch slow: the batch is still queued
            return await super().write(docs)

    archive = Slow()
    positions = {0: 1}
    archiver = EventArchiver(archive, positions=positions)
    live = ArchivingMatcher(matcher, archiver)
    assert live.match(event_record("e1", person, "telecom")).leads == ()  # not traced yet
    archiver.submit()
    writer = asyncio.ensure_future(archiver.run())
    # The drop-out arrives (offset 1) while the batch waits for Elasticsearch.
    matcher.apply_roster(roster_record(1, person))
    positions[0] = 2
    published = Recorder()
    retro = RetroMatcher(matcher, archive, published, archiver=archiver)
    search = asyncio.ensure_future(retro.match_person("p00001", unseen=(0, 1)))
    await asyncio.sleep(0.01)
    assert not search.done()  # waiting for the write, not searching an archive without it
    opened.set()
    try:
        assert await asyncio.wait_for(search, 2) == 1
    finally:
        writer.cancel()
    assert [lead["event_id"] for lead in published.leads] == ["e1"]


async def _dropped_world() -> tuple[list[dict[str, Any]], Matcher, InMemoryEventArchive]:
    """The unit world's events matched and archived, then its roster applied (the drop-outs)."""
    roster, events = synthetic_world(120, 600, seed=5)
    roster = [r | {"status_changed_at": DROPPED_AT} for r in roster]
    matcher = Matcher(default_model(), trace_lookback=LOOKBACK)
    archive = await _archived(_dated(events), matcher)
    for record in roster:
        matcher.apply_roster(record)
    return roster, matcher, archive


async def test_drop_outs_arriving_together_are_one_search_each_with_exactly_its_leads() -> None:
    roster, matcher, archive = await _dropped_world()
    dropped = [r["person_id"] for r in roster if r["status"] == "dropped_out"]
    # One at a time, each person's own leads (the reference).
    alone: dict[str, set[str]] = {}
    for person_id in dropped:
        own = Recorder()
        await RetroMatcher(matcher, archive, own).match_person(person_id)
        alone[person_id] = {lead["lead_id"] for lead in own.leads}
    assert sum(map(len, alone.values())) > 20 and sum(1 for v in alone.values() if v) > 5
    # A roster batch: every drop-out at once, one record twice, one person no longer traced.
    located = next(r for r in roster if r["status"] != "dropped_out")["person_id"]
    records = [
        (0, n, orjson.dumps({"person_id": p, "status": "dropped_out"}))
        for n, p in enumerate([*dropped, dropped[0], located])
    ]
    published = Recorder()
    archive.searches = 0
    retro = RetroMatcher(matcher, archive, published)
    runner = asyncio.ensure_future(retro.run())
    try:
        searched = await retro_after_roster(retro, records, asyncio.Event())
        assert searched is not None
        await asyncio.wait_for(searched, 10)
    finally:
        runner.cancel()
    assert archive.searches == 1  # one search for the whole batch
    assert retro.stats.batches == 1 and retro.stats.people == len(dropped) + 1
    ids = [lead["lead_id"] for lead in published.leads]
    assert len(ids) == len(set(ids))  # each lead published once
    got: dict[str, set[str]] = {p: set() for p in dropped}
    for lead in published.leads:
        got[lead["person_id"]].add(lead["lead_id"])
    assert got == alone  # each person exactly their own leads, nobody else's
    assert retro.stats.leads == len(ids)


class _TickedMatcher:
    """The live matcher, noting at each rematch how many turns another task had had so far."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.ticks = 0
        self.seen: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.matcher, name)

    def rematch(self, event: Any, *, digest: str) -> Any:
        self.seen.append(self.ticks)
        return self.matcher.rematch(event, digest=digest)


async def test_rematching_takes_turns_with_the_live_path_by_time(monkeypatch: Any) -> None:
    roster, matcher, archive = await _dropped_world()
    ticked = _TickedMatcher(matcher)
    dropped = {r["person_id"]: None for r in roster if r["status"] == "dropped_out"}

    async def live() -> None:  # the feed agent, wanting the loop
        while True:
            ticked.ticks += 1
            await asyncio.sleep(0)

    # Every slice spent: a turn for the loop after each step. One page, one chunk: before the
    # budget, the whole chunk was rematched without a turn (one tick value throughout).
    monkeypatch.setattr("streams.retro.REMATCH_SLICE_SECONDS", 0.0)
    other = asyncio.ensure_future(live())
    try:
        await RetroMatcher(ticked, archive, Recorder(), page_size=10_000).match_people(dropped)
    finally:
        other.cancel()
    assert len(ticked.seen) > 3 * REMATCH_STEP_EVENTS
    turns = len(set(ticked.seen))
    assert turns >= len(ticked.seen) // REMATCH_STEP_EVENTS  # a turn every step
