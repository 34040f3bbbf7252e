"""The watchlist's verdicts on roster records, which the roster agent dead-letters."""

from __future__ import annotations

import asyncio

import pytest

from connectors.kafka import RosterMessage
from streams.roster import RosterVerdicts, Watchlist
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
