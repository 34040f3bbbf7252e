"""The lead indexer: pure payloads by value, classification, retries through injected faults."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError
from elasticsearch import ConnectionError as ESConnectionError
from elasticsearch.serializer import NdjsonSerializer

from connectors.clients import OrjsonNdjsonSerializer
from connectors.elasticsearch import (
    ElasticsearchLeadIndexer,
    InMemoryLeadIndexer,
    bulk_create_operations,
    classify_item,
    closing_update,
    request_error,
)
from connectors.errors import RequestRejected, RetryGaveUp, ServiceUnavailable
from connectors.lead_index import district_alias, district_index_name, district_slug
from connectors.retry import Retrier, RetryCounter, RetryPolicy


def lead(n: int, person: str = "p1", status: str = "new") -> dict[str, Any]:
    return {"lead_id": f"L{n}", "person_id": person, "event_id": f"e{n}", "status": status}


class FakeIndices:
    """Index creation and aliases; ``aliases`` ``None``: every alias exists already."""

    def __init__(self, aliases: set[str] | None = None) -> None:
        self.refreshes = 0
        self.aliases = aliases
        self.created: list[str] = []

    async def refresh(self, *, index: str) -> None:
        self.refreshes += 1

    async def create(self, *, index: str, aliases: dict[str, Any]) -> None:
        if index in self.created:
            raise api_error(400, "resource_already_exists_exception")
        self.created.append(index)
        if self.aliases is not None:
            self.aliases |= set(aliases)

    async def put_alias(self, *, index: str, name: str, **_: Any) -> None:
        if self.aliases is not None:
            self.aliases.add(name)


class FakeElasticsearch:
    """Just enough of AsyncElasticsearch: create/update bulk, terms search, count, mget.

    ``where`` keeps the index (district alias) each document was written through; a create
    through an alias that does not exist (``aliases`` given) answers 404 as with
    ``require_alias``. Updates bump ``_seq_no``; a stale ``if_seq_no`` answers 409.
    """

    def __init__(self, aliases: set[str] | None = None) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.where: dict[str, str] = {}
        self.seq_no: dict[str, int] = {}
        self.indices = FakeIndices(aliases)

    async def bulk(self, *, operations: list[dict[str, Any]]) -> dict[str, Any]:
        items = []
        for action, body in zip(operations[::2], operations[1::2], strict=True):
            ((op, meta),) = action.items()
            items.append({op: self._apply(op, meta, body)})
        return {"errors": False, "items": items}

    def _apply(self, op: str, meta: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        doc_id, known = meta["_id"], self.indices.aliases
        if op == "create" and known is not None and meta["_index"] not in known:
            return {"_id": doc_id, "status": 404, "error": {"type": "index_not_found_exception"}}
        if op == "create":
            if doc_id in self.docs:
                return {"_id": doc_id, "status": 409}
            self.docs[doc_id], self.where[doc_id] = dict(body), meta["_index"]
            self.seq_no[doc_id] = 0
            return {"_id": doc_id, "status": 201}
        if "if_seq_no" in meta and meta["if_seq_no"] != self.seq_no.get(doc_id, 0):
            return {"_id": doc_id, "status": 409}
        update = dict(body["doc"])
        self.docs[doc_id]["review"] = {
            **self.docs[doc_id].get("review", {}),
            **update.pop("review", {}),
        }
        self.docs[doc_id].update(update)
        self.seq_no[doc_id] = self.seq_no.get(doc_id, 0) + 1
        return {"_id": doc_id, "status": 200}

    async def search(self, *, index: str, query: Mapping[str, Any], size: int, **_: Any):
        terms, term = query["bool"]["filter"]
        people, status = set(terms["terms"]["person_id"]), term["term"]["status"]
        hits = [
            # Documents a test put in by hand count as written to the unassigned district.
            {"_index": f"{self.where.get(doc_id, 'leads-unassigned')}-v2", "_id": doc_id}
            | {"_seq_no": self.seq_no.get(doc_id, 0), "_primary_term": 1}
            for doc_id, doc in self.docs.items()
            if doc["person_id"] in people and doc["status"] == status
        ]
        return {"hits": {"hits": hits[:size]}}

    async def count(self, *, index: str, query: Any = None) -> dict[str, int]:
        return {"count": len(self.docs)}

    async def mget(self, *, docs: list[dict[str, str]], source_includes: list[str]) -> Any:
        """Realtime, as Elasticsearch's ``_mget``: a create is visible before any refresh."""
        found: list[dict[str, Any]] = []
        for wanted in docs:
            doc_id = wanted["_id"]
            doc = self.docs.get(doc_id) if self.where.get(doc_id) == wanted["_index"] else None
            source = {k: v for k, v in (doc or {}).items() if k in source_includes}
            found.append({"_id": doc_id, "found": doc is not None, "_source": source})
        return {"docs": found}

    async def close(self) -> None:
        pass


def api_error(status: int, message: str = "") -> ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "localhost", 9200))
    return ApiError(message or f"status {status}", meta=meta, body={})


class FaultyElasticsearch(FakeElasticsearch):
    """Fails chosen bulk calls: an exception, or chosen item statuses for chosen lead ids."""

    def __init__(self, faults: dict[int, Exception | dict[str, int]]) -> None:
        super().__init__()
        self.faults = faults
        self.bulk_calls = 0

    async def bulk(self, *, operations: list[dict[str, Any]]) -> dict[str, Any]:
        self.bulk_calls += 1
        fault = self.faults.get(self.bulk_calls)
        if isinstance(fault, Exception):
            raise fault
        if not fault:
            return await super().bulk(operations=operations)
        kept, items_by_id = [], {}
        for action, body in zip(operations[::2], operations[1::2], strict=True):
            doc_id = action["create"]["_id"]
            if doc_id in fault:
                error = {"type": "mapper_parsing_exception"} if fault[doc_id] == 400 else None
                items_by_id[doc_id] = {
                    "create": {"_id": doc_id, "status": fault[doc_id], "error": error}
                }
            else:
                kept += [action, body]
        done = await super().bulk(operations=kept) if kept else {"items": []}
        for item in done["items"]:
            items_by_id[item["create"]["_id"]] = item
        order = [action["create"]["_id"] for action in operations[::2]]
        return {"errors": True, "items": [items_by_id[doc_id] for doc_id in order]}


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def indexer(
    client: FakeElasticsearch, sleeps: Sleeps, counter: RetryCounter | None = None
) -> ElasticsearchLeadIndexer:
    retrier = Retrier(sleep=sleeps, rng=random.Random(7), observer=counter)
    return ElasticsearchLeadIndexer(client, "leads", retrier=retrier)


# --- pure pieces, by value ---------------------------------------------------------------


def test_bulk_create_operations_by_value() -> None:
    operations = bulk_create_operations(
        [lead(1) | {"district": "美兰区"}, lead(2)], alias="leads", now="2026-01-01T00:00:00Z"
    )
    slug = district_slug("美兰区")
    assert operations == [
        {"create": {"_index": f"leads-{slug}", "_id": "L1", "require_alias": True}},
        {
            "lead_id": "L1",
            "person_id": "p1",
            "event_id": "e1",
            "status": "new",
            "district": "美兰区",
            "run_id": "stream",
            "machine_updated_at": "2026-01-01T00:00:00Z",
            "qualifies": True,
            "review": {},
        },
        {"create": {"_index": "leads-unassigned", "_id": "L2", "require_alias": True}},
        lead(2)
        | {
            "run_id": "stream",
            "machine_updated_at": "2026-01-01T00:00:00Z",
            "qualifies": True,
            "review": {},
        },
    ]


def test_a_lead_closed_on_write_keeps_its_closing_state() -> None:
    closed = lead(1) | closing_update(reason="roster_located", closed_at="t")
    (_, document) = bulk_create_operations([closed], alias="leads", now="n")
    assert document["status"] == "closed"
    assert document["review"] == {"closed_reason": "roster_located", "closed_at": "t"}


def test_bulk_bodies_in_orjson_read_back_as_the_stdlib_writes_them() -> None:
    operations = bulk_create_operations(
        [lead(1) | {"person_name": "張偉", "score": 12.5, "flags": ["id_masked"]}],
        alias="leads",
        now="2026-01-01T00:00:00Z",
    )
    body = OrjsonNdjsonSerializer().dumps(operations)
    assert body.endswith(b"\n") and body.count(b"\n") == 2
    assert NdjsonSerializer().loads(body) == operations
    assert OrjsonNdjsonSerializer().loads(NdjsonSerializer().dumps(operations)) == operations


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (201, "created"),
        (200, "created"),
        (409, "conflict"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
        (400, "reject"),
        (404, "reject"),
    ],
)
def test_classify_item(status: int, outcome: str) -> None:
    assert classify_item(status) == outcome


def test_closing_update_by_value() -> None:
    assert closing_update(reason="located", closed_at="2026-01-01T00:00:00+00:00") == {
        "status": "closed",
        "review": {"closed_reason": "located", "closed_at": "2026-01-01T00:00:00+00:00"},
    }


@pytest.mark.parametrize(
    ("error", "translated"),
    [
        (ESConnectionError("refused"), ServiceUnavailable),
        (api_error(503), ServiceUnavailable),
        (api_error(429), ServiceUnavailable),
        (api_error(404), ServiceUnavailable),  # the index missing: it may come back
        (api_error(401), ServiceUnavailable),  # credentials: retried and reported, not dropped
        (api_error(400), RequestRejected),
        (api_error(413), RequestRejected),
    ],
)
def test_request_errors_are_translated(error: Exception, translated: type) -> None:
    assert type(request_error(error)) is translated  # type: ignore[arg-type]


# --- the real indexer against a fake client, with injected faults -----------------------


async def test_creates_then_counts_redelivery_as_already_present() -> None:
    client, sleeps = FakeElasticsearch(), Sleeps()
    first = await indexer(client, sleeps).index([lead(1), lead(2)])
    again = await indexer(client, sleeps).index([lead(2), lead(3)])
    assert (first.created, first.already_present) == (2, 0)
    assert (again.created, again.already_present) == (1, 1)
    assert sorted(client.docs) == ["L1", "L2", "L3"]
    assert sleeps.delays == []


async def test_whole_request_failures_are_retried_until_acknowledged() -> None:
    faults: dict[int, Exception | dict[str, int]] = {
        1: ESConnectionError("refused"),
        2: api_error(503),
        3: api_error(429),
    }
    client, sleeps = FaultyElasticsearch(faults), Sleeps()
    retries: dict[str, int] = {}
    failing: dict[str, float] = {}
    report = await indexer(client, sleeps, RetryCounter(retries, failing)).index([lead(1), lead(2)])
    assert report.created == 2
    assert client.bulk_calls == 4
    assert len(sleeps.delays) == 3
    assert retries == {"index": 3} and failing == {}


async def test_a_rejected_body_is_raised_not_retried() -> None:
    client, sleeps = FaultyElasticsearch({1: api_error(413)}), Sleeps()
    with pytest.raises(RequestRejected) as caught:
        await indexer(client, sleeps).index([lead(1)])
    assert caught.value.status == 413
    assert client.bulk_calls == 1 and sleeps.delays == []


async def test_elasticsearch_down_never_holds_a_stop() -> None:
    stop = asyncio.Event()
    client = FaultyElasticsearch(dict.fromkeys(range(1, 10_000), ESConnectionError("refused")))
    retrier = Retrier(RetryPolicy(base_s=5.0, cap_s=5.0), stop=stop)
    es = ElasticsearchLeadIndexer(client, "leads", retrier=retrier)
    asyncio.get_running_loop().call_later(0.1, stop.set)
    with pytest.raises(RetryGaveUp) as caught:
        await asyncio.wait_for(es.index([lead(1)]), timeout=2.0)
    assert caught.value.why == "stopped"


async def test_throttled_items_are_resent_alone_and_rejects_come_back() -> None:
    client = FaultyElasticsearch({1: {"L2": 429, "L3": 400}, 2: {"L2": 503}})
    sleeps = Sleeps()
    report = await indexer(client, sleeps).index([lead(1), lead(2), lead(3)])
    assert (report.created, report.already_present, report.attempts) == (2, 0, 3)
    assert [(r.lead["lead_id"], r.status, r.reason) for r in report.rejected] == [
        ("L3", 400, "mapper_parsing_exception")
    ]
    assert sorted(client.docs) == ["L1", "L2"]
    assert len(sleeps.delays) == 2


async def test_retry_warns_each_time(caplog: pytest.LogCaptureFixture) -> None:
    client = FaultyElasticsearch({1: ESConnectionError("refused"), 2: ESConnectionError("x")})
    await indexer(client, Sleeps()).index([lead(1)])
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2


async def test_close_open_leads_only_touches_new_leads_of_those_people() -> None:
    client = FakeElasticsearch()
    es = indexer(client, Sleeps())
    await es.index([lead(1, "p1"), lead(2, "p1"), lead(3, "p2"), lead(4, "p1", "closed")])
    closed = await es.close_open_leads(["p1"], reason="located", closed_at="t")
    assert closed == 2
    assert {k: v["status"] for k, v in client.docs.items()} == {
        "L1": "closed",
        "L2": "closed",
        "L3": "new",
        "L4": "closed",
    }
    assert client.docs["L1"]["review"] == {"closed_reason": "located", "closed_at": "t"}
    assert client.indices.refreshes >= 1


async def test_leads_are_routed_to_their_districts_alias() -> None:
    client = FakeElasticsearch()
    await indexer(client, Sleeps()).index(
        [lead(1) | {"district": "美兰区"}, lead(2) | {"district": "龙华区"}, lead(3)]
    )
    assert client.where == {
        "L1": district_alias("leads", "美兰区"),
        "L2": district_alias("leads", "龙华区"),
        "L3": "leads-unassigned",
    }


async def test_a_districts_first_lead_makes_its_index_and_is_sent_again_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, sleeps = FakeElasticsearch(aliases={"leads", "leads-unassigned"}), Sleeps()
    es = indexer(client, sleeps)
    report = await es.index(
        [lead(1) | {"district": "美兰区"}, lead(2), lead(3) | {"district": "美兰区"}]
    )
    assert (report.created, report.rejected, report.attempts) == (3, (), 1)
    assert client.indices.created == [district_index_name("leads", "美兰区")]
    assert district_alias("leads", "美兰区") in (client.indices.aliases or set())
    assert sleeps.delays == [] and not [r for r in caplog.records if r.levelname == "WARNING"]
    # The next lead of that district goes straight in; a race on creation is harmless.
    again = await es.index([lead(4) | {"district": "美兰区"}])
    assert again.created == 1 and client.indices.created == [district_index_name("leads", "美兰区")]


async def test_a_create_index_race_puts_the_aliases_on_the_index_someone_else_made() -> None:
    client = FakeElasticsearch(aliases={"leads"})
    client.indices.created.append(district_index_name("leads", "美兰区"))  # made, no aliases
    report = await indexer(client, Sleeps()).index([lead(1) | {"district": "美兰区"}])
    assert report.created == 1
    assert client.where["L1"] == district_alias("leads", "美兰区")


async def test_closing_is_conditional_on_the_sequence_number_seen() -> None:
    class OfficerRacesTheCloser(FakeElasticsearch):
        raced = False

        async def search(self, **kwargs: Any):  # type: ignore[no-untyped-def]
            found = await super().search(**kwargs)
            if not self.raced:  # an officer takes L1 up between the search and the update
                self.raced = True
                self.docs["L1"]["status"] = "reviewing"
                self.seq_no["L1"] += 1
            return found

    client = OfficerRacesTheCloser()
    es = indexer(client, Sleeps())
    await es.index([lead(1, "p1"), lead(2, "p1")])
    assert await es.close_open_leads(["p1"], reason="located", closed_at="t") == 1
    assert {k: v["status"] for k, v in client.docs.items()} == {"L1": "reviewing", "L2": "closed"}


class EverConflicting(FakeElasticsearch):
    """Every close update meets a version conflict (a writer racing it each time)."""

    def __init__(self) -> None:
        super().__init__()
        self.searches = 0

    async def search(self, *, index: str, query: Mapping[str, Any], size: int, **kw: Any):
        self.searches += 1
        return await super().search(index=index, query=query, size=size, **kw)

    async def bulk(self, *, operations: list[dict[str, Any]]) -> dict[str, Any]:
        if "create" in operations[0]:
            return await super().bulk(operations=operations)
        items = [{"update": {"_id": a["update"]["_id"], "status": 409}} for a in operations[::2]]
        return {"errors": True, "items": items}


async def test_closing_leads_that_conflict_for_ever_is_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = EverConflicting()
    es = indexer(client, Sleeps())
    await es.index([lead(1, "p1")])
    assert await es.close_open_leads(["p1"], reason="located", closed_at="t") == 0
    assert client.searches == 1000
    assert any("still open" in r.getMessage() for r in caplog.records)


# --- the twin behaves like the real thing -------------------------------------------------


async def test_in_memory_twin_same_semantics() -> None:
    twin = InMemoryLeadIndexer(reject={"L3": (400, "mapper_parsing_exception")})
    report = await twin.index([lead(1), lead(2), lead(3)])
    again = await twin.index([lead(1)])
    assert (report.created, len(report.rejected), again.already_present) == (2, 1, 1)
    assert await twin.close_open_leads(["p1"], reason="closed", closed_at="t") == 2
    assert await twin.close_open_leads(["p1"], reason="closed", closed_at="t") == 0
    assert {doc["status"] for doc in twin.documents.values()} == {"closed"}
    assert twin.documents["L1"]["review"] == {"closed_reason": "closed", "closed_at": "t"}
    assert twin.documents["L1"]["run_id"] == "stream" and twin.documents["L1"]["qualifies"]


async def test_in_memory_twin_routes_by_district() -> None:
    twin = InMemoryLeadIndexer()
    await twin.index([lead(1) | {"district": "美兰区"}, lead(2)])
    assert twin.index_of == {"L1": district_alias("leads", "美兰区"), "L2": "leads-unassigned"}
