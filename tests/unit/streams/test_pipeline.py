"""The per-event handler and the lead writer, without Faust or services."""

from __future__ import annotations

import asyncio
import base64

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from connectors.deadletter import decode_dead_letter
from connectors.elasticsearch import InMemoryLeadIndexer
from connectors.errors import RequestRejected, RetryGaveUp, ServiceUnavailable
from connectors.kafka import RosterMessage
from connectors.retry import Retrier, RetryPolicy
from matchers.records import parse_event_bytes
from streams.lead_writer import LeadWriter
from streams.pipeline import EventHandler
from streams.roster import LeadCloser, Watchlist
from tests.unit.streams.fakes import FakeMatcher, event, record, roster


def handler_with(*people: bytes) -> tuple[EventHandler, FakeMatcher]:
    matcher = FakeMatcher()
    watchlist = Watchlist(matcher)
    for n, value in enumerate(people):
        watchlist.apply(RosterMessage(None, value, 0, n, None))
    return EventHandler(matcher, parse_event_bytes, max_bytes=2048), matcher


def test_matching_event_gives_lead_messages_keyed_by_lead_id() -> None:
    handle, _ = handler_with(roster("p1"), roster("p2", name="王芳"))
    result = handle(record(event("e1")))
    assert result.dead_letter is None
    assert [lead.key for lead in result.leads] == [b"p1:e1"]
    assert orjson.loads(result.leads[0].value)["status"] == "new"


@pytest.mark.parametrize(
    ("value", "reason_start"),
    [
        (b"\xff\xfe", "not_utf8"),
        (b"[1, 2]", "not_object"),
        (b"{not json", "not_json"),
        (b'{"source": "bank", "occurred_at": "2026-01-01T00:00:00+08:00"}', "missing_event_id"),
        (b'{"event_id": "e", "occurred_at": "2026-01-01T00:00:00+08:00"}', "missing_source"),
        (b'{"event_id": "e", "source": "bank"}', "missing_occurred_at"),
        (b"{" + b" " * 5000 + b"}", "oversized"),
        (None, "not_json"),
    ],
)
def test_bad_input_becomes_a_dead_letter_with_original_bytes(value, reason_start) -> None:
    handle, _ = handler_with(roster("p1"))
    result = handle(record(value))
    assert result.leads == ()
    assert result.dead_letter is not None and result.dead_letter.key == b"e1"
    letter = decode_dead_letter(result.dead_letter.value)
    assert letter["reason"] == reason_start
    assert (letter["topic"], letter["partition"], letter["offset"]) == ("feeds.bank", 1, 99)
    assert letter["value_b64"] == (None if value is None else base64.b64encode(value).decode())
    assert handle.stats.dead_letters == 1


def test_matcher_failure_is_dead_lettered_not_raised() -> None:
    handle, matcher = handler_with(roster("p1"))
    matcher.explode_on.add("e1")
    result = handle(record(event("e1")))
    letter = decode_dead_letter(result.dead_letter.value)
    assert (letter["reason"], letter["stage"], letter["detail"]) == (
        "match_failed",
        "match",
        "RuntimeError",
    )


def test_a_batch_gives_every_lead_and_every_dead_letter_in_order() -> None:
    handle, _ = handler_with(roster("p1"), roster("p2"))
    records = [
        record(event("e1"), offset=10, key=b"e1"),
        record(b"{not json", offset=11, key=b"e2"),
        record(event("e3", name="王芳"), offset=12, key=b"e3"),
        record(event("e4"), offset=13, key=b"e4"),
        record(None, offset=14, key=b"e5"),
    ]
    result = handle.batch(records)
    assert [lead.key for lead in result.leads] == [b"p1:e1", b"p2:e1", b"p1:e4", b"p2:e4"]
    letters = [decode_dead_letter(letter.value) for letter in result.dead_letters]
    assert [(x["offset"], x["key"]) for x in letters] == [(11, "e2"), (14, "e5")]
    assert (handle.stats.events, handle.stats.leads_emitted, handle.stats.dead_letters) == (5, 4, 2)
    assert handle.stats.handler_cpu_s > 0  # bench.e2e splits the worker's CPU with it


def lead_message(person: str, event_id: str) -> bytes:
    return orjson.dumps(
        {
            "lead_id": f"{person}:{event_id}",
            "person_id": person,
            "event_id": event_id,
            "status": "new",
        }
    )


def lead_record(value: bytes, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    return record(value, topic="leads", partition=0, offset=offset, key=None)


async def test_writer_indexes_once_and_dead_letters_rejects_and_garbage() -> None:
    twin = InMemoryLeadIndexer(reject={"p1:e3": (400, "mapper_parsing_exception")})
    writer = LeadWriter(twin, lambda _pid: "dropped_out")
    batch = [lead_record(lead_message("p1", f"e{n}"), n) for n in range(4)]
    batch.append(lead_record(b"garbage", 4))
    dead = await writer.write(batch)
    again = await writer.write(batch[:2])
    assert sorted(twin.documents) == ["p1:e0", "p1:e1", "p1:e2"]
    reasons = [decode_dead_letter(letter.value)["reason"] for letter in dead]
    assert reasons == ["lead_unreadable", "mapper_parsing_exception"]
    assert again == [] and writer.stats.leads_present == 2


async def test_writer_closes_on_write_when_person_left_the_trace() -> None:
    twin = InMemoryLeadIndexer()
    writer = LeadWriter(twin, {"p1": "located", "p2": "dropped_out"}.get)
    await writer.write(
        [lead_record(lead_message("p1", "e1")), lead_record(lead_message("p2", "e1"))]
    )
    assert twin.documents["p1:e1"]["status"] == "closed"
    assert twin.documents["p1:e1"]["review"]["closed_reason"] == "roster_located"
    assert twin.documents["p2:e1"]["status"] == "new"


@pytest.mark.parametrize(("leads", "max_actions", "calls"), [(7, 3, 3), (6, 3, 2), (2, 500, 1)])
async def test_writer_sends_bulks_of_at_most_max_actions(
    leads: int, max_actions: int, calls: int
) -> None:
    twin = InMemoryLeadIndexer()
    writer = LeadWriter(twin, lambda _pid: None, max_actions=max_actions)
    assert (
        await writer.write([lead_record(lead_message("p1", f"e{n}"), n) for n in range(leads)])
        == []
    )
    assert (len(twin.documents), twin.calls) == (leads, calls)


class FlakyIndexer(InMemoryLeadIndexer):
    failures: int = 2

    async def index(self, leads):
        if self.failures:
            self.failures -= 1
            raise RuntimeError("unexpected")
        return await super().index(leads)


async def test_writer_retries_unexpected_failures_instead_of_losing_the_batch() -> None:
    flaky = FlakyIndexer()
    writer = LeadWriter(flaky, lambda _pid: None, retrier=Retrier(RetryPolicy(base_s=0.001)))
    assert await writer.write([lead_record(lead_message("p1", "e1"))]) == []
    assert list(flaky.documents) == ["p1:e1"]


async def test_roster_change_to_located_closes_open_leads_and_stops_matching() -> None:
    matcher, twin = FakeMatcher(), InMemoryLeadIndexer()
    watchlist = Watchlist(matcher)
    writer = LeadWriter(twin, watchlist.status_of)
    closer = LeadCloser(twin, watchlist.status_of, writer.lock)
    watchlist.on_traced_out = closer.request
    watchlist.apply(RosterMessage(b"p1", roster("p1"), 0, 0, None))
    await writer.write([lead_record(lead_message("p1", "e1"))])
    watchlist.apply(RosterMessage(b"p1", roster("p1", "located"), 0, 1, None))
    assert await closer.close_pending() == 1
    assert twin.documents["p1:e1"]["status"] == "closed"
    assert matcher.people == {}
    # back to dropped_out: traced again, a new lead is new; closing is not re-run for them
    watchlist.apply(RosterMessage(b"p1", roster("p1"), 0, 2, None))
    await writer.write([lead_record(lead_message("p1", "e2"))])
    assert twin.documents["p1:e2"]["status"] == "new"
    assert await closer.close_pending() == 0


async def test_closer_skips_people_back_on_the_trace_before_it_ran() -> None:
    matcher, twin = FakeMatcher(), InMemoryLeadIndexer()
    watchlist = Watchlist(matcher)
    closer = LeadCloser(twin, watchlist.status_of, asyncio.Lock())
    watchlist.on_traced_out = closer.request
    twin.documents["x"] = {"lead_id": "x", "person_id": "p1", "status": "new"}
    watchlist.apply(RosterMessage(b"p1", roster("p1", "closed"), 0, 0, None))
    watchlist.apply(RosterMessage(b"p1", roster("p1"), 0, 1, None))
    assert await closer.close_pending() == 0
    assert twin.documents["x"]["status"] == "new"


def test_watchlist_counts_unreadable_and_invalid_roster_records() -> None:
    watchlist = Watchlist(FakeMatcher())
    watchlist.apply(RosterMessage(b"k", b"not json", 0, 0, None))
    watchlist.apply(RosterMessage(b"k", b'{"person_id": "p9", "status": "weird"}', 0, 1, None))
    watchlist.apply(RosterMessage(b"p1", roster("p1"), 0, 2, None))
    watchlist.apply(RosterMessage(b"p1", None, 0, 3, None))  # tombstone
    assert watchlist.stats.invalid == 2
    assert watchlist.status_of("p1") == "closed"
    assert len(watchlist) == 1


class GatedIndexer(InMemoryLeadIndexer):
    """Holds every index call until ``gate`` opens (a slow Elasticsearch)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def index(self, leads):
        self.entered.set()
        await self.gate.wait()
        return await super().index(leads)


async def test_lead_checked_before_the_close_but_written_after_it_still_ends_closed() -> None:
    matcher, slow = FakeMatcher(), GatedIndexer()
    watchlist = Watchlist(matcher)
    writer = LeadWriter(slow, watchlist.status_of)
    closer = LeadCloser(slow, watchlist.status_of, writer.lock)
    watchlist.on_traced_out = closer.request
    watchlist.apply(RosterMessage(b"p1", roster("p1"), 0, 0, None))
    write = asyncio.create_task(writer.write([lead_record(lead_message("p1", "e1"))]))
    await slow.entered.wait()  # status checked (dropped_out), write in flight
    watchlist.apply(RosterMessage(b"p1", roster("p1", "located"), 0, 1, None))
    close = asyncio.create_task(closer.close_pending())
    await asyncio.sleep(0.01)
    assert not close.done()  # the closer waits for the in-flight batch
    slow.gate.set()
    await write
    assert await close == 1
    assert slow.documents["p1:e1"]["status"] == "closed"


# --- bounded: leads over the limit, bulks by bytes, a refused body -------------------------


class BigLeadMatcher(FakeMatcher):
    """Every lead of person ``big`` carries a huge name (as a huge roster name once did)."""

    def match(self, raw, *, not_after=None):  # type: ignore[no-untyped-def]
        outcome = super().match(raw)
        leads = tuple(
            lead | {"person_name": "a" * 10_000} if lead["person_id"] == "big" else lead
            for lead in outcome.leads
        )
        return type(outcome)(outcome.event_id, leads)


def test_an_event_whose_lead_is_too_large_is_dead_lettered_and_its_other_leads_go_on() -> None:
    matcher = BigLeadMatcher()
    watchlist = Watchlist(matcher)
    for n, person in enumerate(("big", "p1")):
        watchlist.apply(RosterMessage(None, roster(person), 0, n, None))
    handle = EventHandler(matcher, parse_event_bytes, max_bytes=2048, max_lead_bytes=4096)
    result = handle(record(event("e1")))
    assert [lead.key for lead in result.leads] == [b"p1:e1"]
    assert result.dead_letter is not None
    letter = decode_dead_letter(result.dead_letter.value)
    assert letter["reason"] == "lead_too_large" and letter["stage"] == "match"
    assert letter["detail"].startswith("lead of ") and "a" * 20 not in letter["detail"]
    assert handle.stats.leads_emitted == 1 and handle.stats.by_reason == {"lead_too_large": 1}


async def test_the_writer_dead_letters_a_lead_over_the_limit_instead_of_indexing_it() -> None:
    twin = InMemoryLeadIndexer()
    writer = LeadWriter(twin, lambda _pid: None, max_lead_bytes=4096, max_dead_letter_bytes=16384)
    big = orjson.dumps(
        {"lead_id": "p1:big", "person_id": "p1", "status": "new", "person_name": "a" * 10_000}
    )
    dead = await writer.write([lead_record(big, 0), lead_record(lead_message("p1", "e1"), 1)])
    assert list(twin.documents) == ["p1:e1"]
    (letter,) = [decode_dead_letter(d.value) for d in dead]
    assert letter["reason"] == "lead_too_large" and letter["value_size"] == len(big)


async def test_the_writer_splits_bulks_by_bytes_too() -> None:
    twin = InMemoryLeadIndexer()
    writer = LeadWriter(twin, lambda _pid: None, max_actions=500, max_bulk_bytes=250)
    records = [lead_record(lead_message("p1", f"e{n}"), n) for n in range(6)]
    size = len(records[0].value)
    assert await writer.write(records) == []
    assert len(twin.documents) == 6
    assert twin.calls == -(-6 // (250 // size))


class RefusingIndexer(InMemoryLeadIndexer):
    """Refuses any bulk holding the lead ``p1:bad`` as a whole (a 400 on the request)."""

    async def index(self, leads):  # type: ignore[no-untyped-def]
        if any(lead["lead_id"] == "p1:bad" for lead in leads):
            self.calls += 1
            raise RequestRejected(400)
        return await super().index(leads)


async def test_a_refused_bulk_is_written_lead_by_lead_and_only_the_culprit_dead_lettered() -> None:
    twin = RefusingIndexer()
    writer = LeadWriter(twin, lambda _pid: None)
    records = [lead_record(lead_message("p1", e), n) for n, e in enumerate(("e1", "bad", "e2"))]
    dead = await writer.write(records)
    assert sorted(twin.documents) == ["p1:e1", "p1:e2"]
    (letter,) = [decode_dead_letter(d.value) for d in dead]
    assert (letter["reason"], letter["detail"], letter["offset"]) == (
        "index_request_rejected",
        "400",
        1,
    )


async def test_the_writer_gives_up_at_stop_and_says_so() -> None:
    class Down(InMemoryLeadIndexer):
        async def index(self, leads):  # type: ignore[no-untyped-def]
            raise ServiceUnavailable("Elasticsearch: ConnectionError")

    stop = asyncio.Event()
    writer = LeadWriter(Down(), lambda _pid: None, retrier=Retrier(stop=stop))
    asyncio.get_running_loop().call_later(0.05, stop.set)
    with pytest.raises(RetryGaveUp):
        await asyncio.wait_for(writer.write([lead_record(lead_message("p1", "e1"))]), 2.0)
