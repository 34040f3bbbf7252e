"""The watchlist's verdicts on roster records, which the roster agent dead-letters."""

from __future__ import annotations

import asyncio

import pytest

from connectors.elasticsearch import InMemoryLeadIndexer
from connectors.errors import ServiceUnavailable
from connectors.kafka import RosterMessage
from connectors.retry import Retrier, RetryCounter, RetryPolicy
from streams.roster import LeadCloser, RosterVerdicts, Watchlist
from tests.unit.streams.fakes import FakeMatcher, roster


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        (b"p1", roster("p1"), None),
        (b"p1", None, None),  # a tombstone deletes the person
        (None, None, "tombstone_without_key"),
        (b"k", b"not json", "not_json"),
        (b"k", b"\xff\xfe", "not_json"),
        (b"k", b'"text"', "not_object"),
        (b"k", b"[1]", "not_object"),
        (b"k", b'{"person_id": "p9", "status": "weird"}', "status: invalid"),
    ],
)
def test_apply_returns_why_a_record_is_invalid(
    key: bytes | None, value: bytes | None, reason: str | None
) -> None:
    watchlist = Watchlist(FakeMatcher())
    assert watchlist.apply(RosterMessage(key, value, 0, 7, None)) == reason
    assert watchlist.stats.invalid == (reason is not None)


def test_invalid_record_leaves_the_person_as_they_were() -> None:
    watchlist = Watchlist(FakeMatcher())
    watchlist.apply(RosterMessage(b"p1", roster("p1"), 0, 0, None))
    watchlist.apply(RosterMessage(b"p1", b'{"person_id": "p1", "status": "x"}', 0, 1, None))
    assert watchlist.status_of("p1") == "dropped_out"


async def test_verdict_is_the_reason_noted_for_that_partition_and_offset() -> None:
    verdicts = RosterVerdicts()
    for partition, offset, reason in [(0, 0, None), (0, 1, "bad"), (1, 1, None), (1, 2, "worse")]:
        verdicts.note(partition, offset, reason)
    assert [await verdicts.verdict(p, o) for p, o in [(0, 0), (0, 1), (1, 1), (1, 2)]] == [
        None,
        "bad",
        None,
        "worse",
    ]
    assert await verdicts.verdict(0, 1) is None  # given once: the group asks once


async def test_verdict_forgets_older_offsets_of_the_partition() -> None:
    verdicts = RosterVerdicts()
    for offset in range(5):
        verdicts.note(3, offset, f"bad {offset}")
    assert await verdicts.verdict(3, 2) == "bad 2"
    assert await verdicts.verdict(3, 0) is None and await verdicts.verdict(3, 1) is None
    assert await verdicts.verdict(3, 4) == "bad 4"


async def test_verdict_waits_until_the_follower_read_the_offset() -> None:
    verdicts = RosterVerdicts()
    verdicts.note(0, 4, None)
    asked = asyncio.create_task(verdicts.verdict(0, 6))
    await asyncio.sleep(0.01)
    verdicts.note(0, 5, None)
    verdicts.wake()
    await asyncio.sleep(0.01)
    assert not asked.done()
    verdicts.note(0, 6, "bad")
    verdicts.note(0, 2, None)  # a follower re-reading from the start never moves back
    verdicts.wake()
    assert await asyncio.wait_for(asked, 1.0) == "bad"


def test_an_oversized_record_is_invalid_and_the_person_keeps_their_state() -> None:
    watchlist = Watchlist(FakeMatcher(), max_record_bytes=1024)
    watchlist.apply(RosterMessage(b"p1", roster("p1"), 0, 0, None))
    huge = roster("p1", status="located", name="a" * 2000)
    assert watchlist.apply(RosterMessage(b"p1", huge, 0, 1, None)) == "oversized"
    assert watchlist.status_of("p1") == "dropped_out"
    fits = roster("p1", status="located", name="a" * 500)
    assert watchlist.apply(RosterMessage(b"p1", fits, 0, 2, None)) is None
    assert watchlist.status_of("p1") == "located"


class FlakyIndexer(InMemoryLeadIndexer):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def close_open_leads(self, person_ids, *, reason, closed_at):  # type: ignore[no-untyped-def]
        if self.failures:
            self.failures -= 1
            raise ServiceUnavailable("Elasticsearch: ConnectionError")
        return await super().close_open_leads(person_ids, reason=reason, closed_at=closed_at)


async def test_the_closer_retries_through_the_retrier_and_counts() -> None:
    indexer = FlakyIndexer(failures=2)
    indexer.documents["L1"] = {"lead_id": "L1", "person_id": "p1", "status": "new"}
    retries: dict[str, int] = {}
    failing: dict[str, float] = {}
    retrier = Retrier(RetryPolicy(base_s=0.001), observer=RetryCounter(retries, failing))
    closer = LeadCloser(indexer, {"p1": "located"}.get, asyncio.Lock(), retrier=retrier)
    closer.request("p1")
    assert await closer.close_pending() == 1
    assert indexer.documents["L1"]["status"] == "closed"
    assert retries == {"close": 2} and failing == {}


async def test_a_stop_ends_the_closer_and_keeps_the_request() -> None:
    indexer = FlakyIndexer(failures=10**9)
    stop = asyncio.Event()
    closer = LeadCloser(
        indexer,
        {"p1": "located"}.get,
        asyncio.Lock(),
        retrier=Retrier(RetryPolicy(base_s=30.0, cap_s=30.0), stop=stop),
    )
    closer.request("p1")
    asyncio.get_running_loop().call_later(0.05, stop.set)
    assert await asyncio.wait_for(closer.close_pending(), timeout=2.0) == 0
    assert closer._pending == {"p1"}
