"""Two events under one ``source`` + ``event_id``: the first lead stays, the other is reported.

The same scenarios run through the real indexer (over a fake client that answers ``bulk`` and
``_mget`` as Elasticsearch does) and through its in-memory twin, which must agree; then the
lead writer turns the reported leads into ``conflicting_duplicate`` dead letters.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from elasticsearch import ConnectionError as ESConnectionError

from connectors.deadletter import decode_dead_letter, original_value
from connectors.elasticsearch import (
    CONFLICTING_DUPLICATE,
    ElasticsearchLeadIndexer,
    IndexReport,
    InMemoryLeadIndexer,
    RejectedLead,
    conflicting_duplicates,
)
from connectors.retry import Retrier
from streams.lead_writer import LeadWriter
from tests.unit.connectors.test_elasticsearch import FakeElasticsearch, Sleeps, api_error
from tests.unit.streams.fakes import record


def lead(n: int, digest: str | None = "d1") -> dict[str, Any]:
    doc: dict[str, Any] = {"lead_id": f"L{n}", "person_id": "p1", "event_id": f"e{n}"}
    doc["status"] = "new"
    if digest is not None:
        doc["event_digest"] = digest
    return doc


class MgetElasticsearch(FakeElasticsearch):
    """The fake cluster, counting ``_mget`` calls; chosen calls fail."""

    def __init__(self, faults: Sequence[Exception] = ()) -> None:
        super().__init__()
        self.mget_calls: list[list[str]] = []
        self.faults = list(faults)

    async def mget(self, *, docs: list[dict[str, str]], source_includes: list[str]) -> Any:
        self.mget_calls.append([doc["_id"] for doc in docs])
        if self.faults:
            raise self.faults.pop(0)
        return await super().mget(docs=docs, source_includes=source_includes)


def es_indexer(client: MgetElasticsearch) -> ElasticsearchLeadIndexer:
    retrier = Retrier(sleep=Sleeps(), rng=random.Random(3))
    return ElasticsearchLeadIndexer(client, "leads", retrier=retrier)


async def _index_twice(
    index: Any, first: list[dict[str, Any]], second: list[dict[str, Any]]
) -> tuple[IndexReport, IndexReport]:
    return await index(first), await index(second)


def _summary(report: IndexReport) -> tuple[int, int, list[tuple[str, int, str]]]:
    return (
        report.created,
        report.already_present,
        [(str(r.lead["lead_id"]), r.status, r.reason) for r in report.conflicting],
    )


# --- the pure rule, by value --------------------------------------------------------------


def test_conflicting_duplicates_by_value() -> None:
    leads = [lead(1, "a"), lead(2, "b"), lead(3, None), lead(4, "d"), lead(5, "e")]
    stored = {"L1": "a", "L2": "other", "L3": "c", "L4": None}
    assert conflicting_duplicates(leads, stored) == (
        RejectedLead(leads[1], 409, CONFLICTING_DUPLICATE),
    )


# --- the indexer and its twin agree ---------------------------------------------------------

SCENARIOS = {
    "redelivery: same digest is already there": (
        [lead(1, "a"), lead(2, "a")],
        [lead(1, "a"), lead(2, "a")],
        ((2, 0, []), (0, 2, [])),
    ),
    "another event under the same id conflicts": (
        [lead(1, "a")],
        [lead(1, "b"), lead(2, "b")],
        ((1, 0, []), (1, 0, [("L1", 409, CONFLICTING_DUPLICATE)])),
    ),
    "both in one bulk: the first one is written": (
        [lead(1, "a"), lead(1, "b"), lead(1, "a")],
        [lead(1, "b")],
        (
            (1, 1, [("L1", 409, CONFLICTING_DUPLICATE)]),
            (0, 0, [("L1", 409, CONFLICTING_DUPLICATE)]),
        ),
    ),
    "a lead without a digest cannot be compared: already there": (
        [lead(1, None)],
        [lead(1, "b")],
        ((1, 0, []), (0, 1, [])),
    ),
}


@pytest.mark.parametrize(("first", "second", "expected"), SCENARIOS.values(), ids=list(SCENARIOS))
@pytest.mark.parametrize("kind", ["elasticsearch", "twin"])
async def test_indexer_and_twin_report_conflicting_duplicates_alike(
    kind: str,
    first: list[dict[str, Any]],
    second: list[dict[str, Any]],
    expected: tuple[Any, Any],
) -> None:
    if kind == "twin":
        twin = InMemoryLeadIndexer()
        reports = await _index_twice(twin.index, first, second)
        stored = twin.documents
    else:
        client = MgetElasticsearch()
        reports = await _index_twice(es_indexer(client).index, first, second)
        stored = client.docs
    assert (_summary(reports[0]), _summary(reports[1])) == expected
    assert stored["L1"].get("event_digest") == first[0].get("event_digest")  # the first stays


async def test_one_mget_per_call_and_only_for_conflicts() -> None:
    client = MgetElasticsearch()
    indexer = es_indexer(client)
    await indexer.index([lead(n) for n in range(5)])
    assert client.mget_calls == []  # nothing conflicted: nothing to read
    await indexer.index([lead(n, "x") for n in range(3, 8)])
    assert client.mget_calls == [["L3", "L4"]]


async def test_an_mget_that_fails_for_a_while_is_retried() -> None:
    client = MgetElasticsearch([ESConnectionError("down"), api_error(503)])
    indexer = es_indexer(client)
    await indexer.index([lead(1, "a")])
    report = await indexer.index([lead(1, "b")])
    assert _summary(report) == (0, 0, [("L1", 409, CONFLICTING_DUPLICATE)])
    assert len(client.mget_calls) == 3


async def test_an_mget_refused_for_good_counts_the_leads_present_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = MgetElasticsearch([api_error(400)])
    indexer = es_indexer(client)
    await indexer.index([lead(1, "a")])
    with caplog.at_level(logging.ERROR):
        report = await indexer.index([lead(1, "b")])
    assert _summary(report) == (0, 1, [])
    assert "digests of 1 conflicts unreadable" in caplog.text


# --- the lead writer dead-letters them ------------------------------------------------------


def lead_record(doc: dict[str, Any], offset: int) -> ConsumerRecord[bytes, bytes]:
    value = orjson.dumps(doc)
    return record(value, topic="leads", partition=2, offset=offset, key=doc["lead_id"].encode())


async def test_writer_dead_letters_each_conflicting_duplicate_with_its_own_message() -> None:
    twin = InMemoryLeadIndexer()
    writer = LeadWriter(twin, lambda _pid: "dropped_out")
    batch = [
        lead_record(lead(1, "a"), 10),
        lead_record(lead(1, "b"), 11),  # another event under the same id
        lead_record(lead(1, "a"), 12),  # a redelivery of the first
        lead_record(lead(2, "a"), 13),
    ]
    dead = await writer.write(batch)
    assert sorted(twin.documents) == ["L1", "L2"]
    assert twin.documents["L1"]["event_digest"] == "a"
    (letter,) = [decode_dead_letter(message.value) for message in dead]
    assert (letter["reason"], letter["stage"], letter["detail"]) == (
        CONFLICTING_DUPLICATE,
        "index",
        "409",
    )
    assert (letter["topic"], letter["offset"]) == ("leads", 11)
    assert orjson.loads(original_value(letter) or b"")["event_digest"] == "b"
    assert writer.stats.by_reason == {CONFLICTING_DUPLICATE: 1}
    assert (writer.stats.leads_created, writer.stats.leads_present) == (2, 1)
    assert writer.stats.dead_letters == 1
