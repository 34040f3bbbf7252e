"""The lead store on the real Elasticsearch: districts kept apart, reruns that never overwrite
an officer's decision, superseded leads marked, review writes under optimistic concurrency.

Each test has its own leads alias (its template, its districts' indices), dropped at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch, Elasticsearch
from elasticsearch import ConnectionError as ESConnectionError

from connectors.elasticsearch import ElasticsearchLeadIndexer
from connectors.errors import LeadNotFound, ReviewConflict
from connectors.lead_index import (
    district_alias,
    district_index_name,
    drop_lead_index,
    ensure_district_index,
    ensure_lead_index,
)
from connectors.lead_store import EventScope, LeadStore, RefreshCounts, TimeScope
from connectors.retry import Retrier, RetryPolicy
from tracer.settings import TracerSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MEILAN, LONGHUA = "美兰区", "龙华区"


def make_lead(n: int, *, district: str | None = MEILAN, model: str = "m1", score: float = 10.0):
    return {
        "lead_id": f"lead-{n}",
        "person_id": f"p{n % 2}",
        "event_id": f"e{n}",
        "source": "bank",
        "event_type": "account_opened",
        "occurred_at": f"2026-11-{n + 1:02d}T10:00:00+08:00",
        "@timestamp": f"2026-11-{n + 1:02d}T10:00:00+08:00",
        "score": score + n,
        "probability": 0.9,
        "tier": "high",
        "status": "new",
        "district": district,
        "case_officer": "officer-1",
        "person_name": "张伟",
        "event_name": "ZHANG WEI",
        "explanation": {"reason_en": "name and birth date agree", "fields": []},
        "flags": [],
        "model_version": model,
        "event_digest": f"digest-{n}",
    }


@pytest.fixture
def alias(es: Elasticsearch, unique_name: str) -> Iterator[str]:
    ensure_lead_index(es, unique_name)
    yield unique_name
    drop_lead_index(es, unique_name)


@pytest.fixture
async def client(settings: TracerSettings) -> AsyncIterator[AsyncElasticsearch]:
    async with AsyncElasticsearch(settings.elasticsearch_url, request_timeout=30) as es:
        yield es


@pytest.fixture
def store(client: AsyncElasticsearch, alias: str) -> LeadStore:
    return LeadStore(client, alias, page=3)  # pages of 3: several mget/bulk rounds per call


def stored(es: Elasticsearch, alias: str, lead: dict[str, Any]) -> dict[str, Any]:
    found = es.get(index=district_alias(alias, lead["district"]), id=lead["lead_id"])
    return dict(found.body)


def seq_nos(es: Elasticsearch, alias: str, leads: list[dict[str, Any]]) -> dict[str, int]:
    return {lead["lead_id"]: stored(es, alias, lead)["_seq_no"] for lead in leads}


def ids_in(es: Elasticsearch, index: str) -> set[str]:
    es.indices.refresh(index=index)
    hits = es.search(index=index, size=100, source=False)["hits"]["hits"]
    return {hit["_id"] for hit in hits}


async def test_leads_land_in_their_districts_index_and_are_seen_through_leads_and_their_alias_only(
    es: Elasticsearch, client: AsyncElasticsearch, alias: str
) -> None:
    indexer = ElasticsearchLeadIndexer(client, alias)
    leads = [
        make_lead(0),
        make_lead(1),
        make_lead(2, district=LONGHUA),
        make_lead(3, district=None),
    ]
    report = await indexer.index(leads)
    assert report.created == 4
    meilan, longhua = district_alias(alias, MEILAN), district_alias(alias, LONGHUA)
    assert ids_in(es, meilan) == {"lead-0", "lead-1"}
    assert ids_in(es, longhua) == {"lead-2"}
    assert ids_in(es, district_alias(alias, None)) == {"lead-3"}
    assert ids_in(es, alias) == {"lead-0", "lead-1", "lead-2", "lead-3"}
    # What a Kibana role's pattern "<alias>-<slug>*" grants: that district's index and alias.
    index = district_index_name(alias, MEILAN)
    assert set(es.indices.get_alias(index=f"{meilan}*")) == {index}
    assert set(es.indices.get_alias(index=index)[index]["aliases"]) == {alias, meilan}
    doc = stored(es, alias, leads[0])["_source"]
    assert (doc["run_id"], doc["qualifies"], doc["review"], doc["status"]) == (
        "stream",
        True,
        {},
        "new",
    )
    # Redelivery is found in the lead's district (mget by district alias): already there.
    again = await indexer.index([leads[2], make_lead(2, district=LONGHUA) | {"event_digest": "x"}])
    assert (again.created, again.already_present, len(again.conflicting)) == (0, 1, 1)


async def test_a_rerun_of_the_same_leads_changes_nothing(
    es: Elasticsearch, store: LeadStore, alias: str
) -> None:
    leads = [make_lead(n, district=(MEILAN, LONGHUA)[n % 2]) for n in range(7)]
    first = await store.refresh(leads, run_id="job-1", model_version="m1")
    assert first == RefreshCounts(created=7)
    before = seq_nos(es, alias, leads)
    again = await store.refresh(leads + leads[:1], run_id="job-2", model_version="m1")
    assert again == RefreshCounts(unchanged=7, duplicates=1)
    assert seq_nos(es, alias, leads) == before
    assert stored(es, alias, leads[0])["_source"]["run_id"] == "job-1"  # nothing was written


async def test_a_rerun_under_a_new_model_refreshes_untouched_leads_and_leaves_decided_ones_alone(
    es: Elasticsearch, store: LeadStore, alias: str
) -> None:
    leads = [make_lead(n) for n in range(5)]
    await store.refresh(leads, run_id="job-1", model_version="m1")
    for n, status in ((0, "confirmed"), (1, "rejected"), (2, "reviewing")):
        current = await store.get(f"lead-{n}", MEILAN)
        await store.set_review(
            f"lead-{n}",
            MEILAN,
            {"status": status, "review": {"note": f"note {n}", "updated_by": "officer-1"}},
            if_seq_no=current.version.seq_no,
            if_primary_term=current.version.primary_term,
        )
    rescored = [make_lead(n, model="m2", score=20.0) for n in range(5)]
    counts = await store.refresh(rescored, run_id="job-2", model_version="m2")
    assert counts == RefreshCounts(refreshed=3, kept_reviewed=2)
    docs = {n: stored(es, alias, leads[n])["_source"] for n in range(5)}
    for n in (0, 1):  # decided: neither rescored nor reopened
        assert (docs[n]["model_version"], docs[n]["score"], docs[n]["run_id"]) == (
            "m1",
            10.0 + n,
            "job-1",
        )
    assert (docs[0]["status"], docs[1]["status"]) == ("confirmed", "rejected")
    # Refreshed: machine fields new, the officer's state as it was.
    assert (docs[2]["model_version"], docs[2]["score"], docs[2]["run_id"]) == ("m2", 22.0, "job-2")
    assert docs[2]["status"] == "reviewing"
    assert docs[2]["review"] == {"note": "note 2", "updated_by": "officer-1"}
    assert (docs[3]["status"], docs[3]["review"], docs[3]["score"]) == ("new", {}, 23.0)


async def test_a_lead_no_longer_produced_is_marked_not_qualifying_never_deleted(
    es: Elasticsearch, store: LeadStore, alias: str
) -> None:
    leads = [make_lead(n, district=(MEILAN, LONGHUA, None)[n % 3]) for n in range(7)]
    await store.refresh(leads, run_id="job-1", model_version="m1")
    decided = await store.get("lead-4", leads[4]["district"])
    await store.set_review(
        "lead-4",
        leads[4]["district"],
        {"status": "confirmed"},
        if_seq_no=decided.version.seq_no,
        if_primary_term=decided.version.primary_term,
    )
    # The rerun read events e0..e5 and now produces leads of e0 and e1 only.
    scope = EventScope(frozenset(("bank", f"e{n}") for n in range(6)))
    counts = await store.mark_not_qualifying(scope, {"lead-0", "lead-1"}, run_id="job-2")
    assert counts == RefreshCounts(superseded=3)  # e2, e3, e5; e4 is confirmed; e6 out of scope
    docs = {n: stored(es, alias, leads[n])["_source"] for n in range(7)}
    assert {n for n, doc in docs.items() if doc["qualifies"] is False} == {2, 3, 5}
    assert docs[2]["run_id"] == "job-2" and docs[2]["status"] == "new"
    assert docs[4]["qualifies"] is True and docs[6]["qualifies"] is True
    # Marked once: the same run again marks nothing; produced again, a lead qualifies again.
    repeat = await store.mark_not_qualifying(scope, {"lead-0", "lead-1"}, run_id="job-3")
    assert repeat == RefreshCounts()
    assert stored(es, alias, leads[2])["_source"]["run_id"] == "job-2"
    back = await store.refresh([leads[2]], run_id="job-4", model_version="m1")
    assert back == RefreshCounts(refreshed=1)
    assert stored(es, alias, leads[2])["_source"]["qualifies"] is True


async def test_a_time_range_scope_marks_only_leads_of_events_in_the_range(
    es: Elasticsearch, store: LeadStore, alias: str
) -> None:
    leads = [make_lead(n) for n in range(6)]  # occurred 2026-11-01 .. 2026-11-06
    await store.refresh(leads, run_id="job-1", model_version="m1")
    scope = TimeScope("2026-11-02T00:00:00+08:00", "2026-11-05T00:00:00+08:00")
    counts = await store.mark_not_qualifying(scope, {"lead-2"}, run_id="job-2")
    assert counts == RefreshCounts(superseded=2)
    marked = {n for n in range(6) if stored(es, alias, leads[n])["_source"]["qualifies"] is False}
    assert marked == {1, 3}


async def test_two_officers_deciding_one_lead_at_once_one_wins_the_other_gets_a_conflict(
    es: Elasticsearch, store: LeadStore, alias: str
) -> None:
    lead = make_lead(0)
    await store.refresh([lead], run_id="job-1", model_version="m1")
    seen = await store.get("lead-0", MEILAN)
    decisions = [
        store.set_review(
            "lead-0",
            MEILAN,
            {"status": status, "review": {"decided_by": who}},
            if_seq_no=seen.version.seq_no,
            if_primary_term=seen.version.primary_term,
        )
        for status, who in (("confirmed", "officer-1"), ("rejected", "officer-2"))
    ]
    results = await asyncio.gather(*decisions, return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    conflicts = [r for r in results if isinstance(r, ReviewConflict)]
    assert len(wins) == 1 and len(conflicts) == 1, results
    doc = stored(es, alias, lead)
    assert doc["_seq_no"] == wins[0].seq_no
    winner = ("confirmed", "officer-1") if results[0] is wins[0] else ("rejected", "officer-2")
    assert (doc["_source"]["status"], doc["_source"]["review"]["decided_by"]) == winner
    assert doc["_source"]["score"] == lead["score"]  # machine fields untouched


async def test_review_writes_refuse_machine_fields_and_unknown_leads(store: LeadStore) -> None:
    await store.refresh([make_lead(0)], run_id="job-1", model_version="m1")
    seen = await store.get("lead-0", MEILAN)
    with pytest.raises(ValueError, match="status and review"):
        await store.set_review(
            "lead-0", MEILAN, {"score": 99.0}, if_seq_no=seen.version.seq_no, if_primary_term=1
        )
    with pytest.raises(LeadNotFound):
        await store.get("lead-0", LONGHUA)  # another district's alias never answers for it
    with pytest.raises(LeadNotFound):
        await store.set_review(
            "nope", MEILAN, {"status": "reviewing"}, if_seq_no=0, if_primary_term=1
        )


async def test_the_streams_closer_still_closes_and_spares_a_lead_under_review(
    es: Elasticsearch, client: AsyncElasticsearch, store: LeadStore, alias: str
) -> None:
    indexer = ElasticsearchLeadIndexer(client, alias)
    leads = [make_lead(0), make_lead(2, district=LONGHUA), make_lead(4), make_lead(1)]
    await indexer.index(leads)  # p0: lead-0, lead-2, lead-4; p1: lead-1
    seen = await store.get("lead-4", MEILAN)
    await store.set_review(
        "lead-4",
        MEILAN,
        {"status": "reviewing"},
        if_seq_no=seen.version.seq_no,
        if_primary_term=seen.version.primary_term,
    )
    closed = await indexer.close_open_leads(
        ["p0"], reason="roster_located", closed_at="2026-12-01T00:00:00Z"
    )
    assert closed == 2
    docs = {lead["lead_id"]: stored(es, alias, lead)["_source"] for lead in leads}
    assert {k: d["status"] for k, d in docs.items()} == {
        "lead-0": "closed",
        "lead-2": "closed",
        "lead-4": "reviewing",
        "lead-1": "new",
    }
    assert docs["lead-2"]["review"] == {
        "closed_reason": "roster_located",
        "closed_at": "2026-12-01T00:00:00Z",
    }


def test_a_version_1_install_moves_its_leads_into_their_districts(
    es: Elasticsearch, unique_name: str
) -> None:
    old = f"{unique_name}-v1"
    closed = make_lead(0) | {"status": "closed", "status_reason": "roster_located"}
    try:
        es.indices.create(index=old, aliases={unique_name: {"is_write_index": True}})
        for lead in (closed, make_lead(1, district=None), make_lead(2, district=LONGHUA)):
            es.index(index=old, id=lead["lead_id"], document=lead, refresh="wait_for")
        # A move interrupted before: one lead is in its district already (a 409, left as is).
        ensure_district_index(es, unique_name, LONGHUA)
        es.index(index=district_alias(unique_name, LONGHUA), id="lead-2", document={"kept": 1})
        ensure_lead_index(es, unique_name)
        assert ids_in(es, unique_name) == {"lead-0", "lead-1", "lead-2"}  # once each
        assert old not in es.indices.get_alias(name=unique_name)
        assert es.indices.exists(index=old)  # kept for the operator to delete
        moved = stored(es, unique_name, closed)["_source"]
        assert (moved["status"], moved["review"], moved["run_id"]) == (
            "closed",
            {"closed_reason": "roster_located"},
            "v1",
        )
        assert "status_reason" not in moved
        assert ids_in(es, district_alias(unique_name, None)) == {"lead-1"}
        assert stored(es, unique_name, make_lead(2, district=LONGHUA))["_source"] == {"kept": 1}
        assert ensure_lead_index(es, unique_name) == f"{unique_name}-*-v2"  # again: nothing to do
        asyncio.run(_index_one(es, unique_name))
        assert ids_in(es, unique_name) == {"lead-0", "lead-1", "lead-2", "lead-9"}
    finally:
        drop_lead_index(es, unique_name)
        es.indices.delete(index=old, ignore_unavailable=True)


async def _index_one(es: Elasticsearch, alias: str) -> None:
    url = es.transport.node_pool.get().base_url
    async with AsyncElasticsearch(url) as client:
        assert (await ElasticsearchLeadIndexer(client, alias).index([make_lead(9)])).created == 1


class OfficerBetween:
    """The real client; before chosen bulk calls an officer writes the lead (a racing review)."""

    def __init__(self, client: AsyncElasticsearch, alias: str, status: str, times: int) -> None:
        self._client, self._alias, self._status, self._times = client, alias, status, times
        self.bulks = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def bulk(self, *, operations: list[dict[str, Any]]) -> Any:
        self.bulks += 1
        if self.bulks <= self._times:
            index = district_alias(self._alias, MEILAN)
            doc = {"status": self._status, "review": {"note": f"write {self.bulks}"}}
            await self._client.update(index=index, id="lead-0", doc=doc)
        return await self._client.bulk(operations=operations)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("reviewing", RefreshCounts(refreshed=1)),  # read again: still refreshable
        ("confirmed", RefreshCounts(kept_reviewed=1)),  # read again: decided meanwhile
    ],
)
async def test_a_refresh_that_meets_an_officers_write_reads_again_and_never_overwrites_it(
    es: Elasticsearch,
    client: AsyncElasticsearch,
    alias: str,
    status: str,
    expected: RefreshCounts,
) -> None:
    await LeadStore(client, alias).refresh([make_lead(0)], run_id="job-1", model_version="m1")
    racing = OfficerBetween(client, alias, status, times=1)
    store = LeadStore(racing, alias)
    counts = await store.refresh([make_lead(0, model="m2")], run_id="job-2", model_version="m2")
    assert counts == expected
    assert racing.bulks == (2 if status == "reviewing" else 1)
    doc = stored(es, alias, make_lead(0))["_source"]
    assert (doc["status"], doc["review"]) == (status, {"note": "write 1"})
    assert doc["model_version"] == ("m2" if status == "reviewing" else "m1")


async def test_a_lead_that_conflicts_round_after_round_is_counted_unresolved(
    client: AsyncElasticsearch, alias: str, caplog: pytest.LogCaptureFixture
) -> None:
    await LeadStore(client, alias).refresh([make_lead(0)], run_id="job-1", model_version="m1")
    racing = OfficerBetween(client, alias, "reviewing", times=100)
    store = LeadStore(racing, alias, max_rounds=3)
    counts = await store.refresh([make_lead(0, model="m2")], run_id="job-2", model_version="m2")
    assert counts == RefreshCounts(unresolved=1)
    assert racing.bulks == 3
    assert "still conflicting" in caplog.text


class BulkFailsFirst:
    """The real client whose first bulk fails as a dropped connection would (never sent)."""

    def __init__(self, client: AsyncElasticsearch) -> None:
        self._client = client
        self.bulks = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def bulk(self, *, operations: list[dict[str, Any]]) -> Any:
        self.bulks += 1
        if self.bulks == 1:
            raise ESConnectionError("connection reset")
        return await self._client.bulk(operations=operations)


async def test_a_failed_bulk_is_retried_and_every_lead_counted_once(
    es: Elasticsearch, client: AsyncElasticsearch, alias: str
) -> None:
    leads = [make_lead(n) for n in range(4)]
    await LeadStore(client, alias).refresh(leads[:2], run_id="job-1", model_version="m1")
    flaky = BulkFailsFirst(client)
    retrier = Retrier(RetryPolicy(base_s=0.01, cap_s=0.01))
    store = LeadStore(flaky, alias, retrier=retrier)
    counts = await store.refresh(leads, run_id="job-2", model_version="m1")
    assert counts == RefreshCounts(created=2, unchanged=2)
    assert flaky.bulks == 2
    assert ids_in(es, alias) == {"lead-0", "lead-1", "lead-2", "lead-3"}
