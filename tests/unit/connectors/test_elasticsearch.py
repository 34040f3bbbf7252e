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

from connectors.elasticsearch import (
    ElasticsearchLeadIndexer,
    InMemoryLeadIndexer,
    OrjsonNdjsonSerializer,
    bulk_create_operations,
    classify_item,
    closing_update,
    request_error,
)
from connectors.errors import RequestRejected, RetryGaveUp, ServiceUnavailable
from connectors.retry import Retrier, RetryCounter, RetryPolicy


def lead(n: int, person: str = "p1", status: str = "new") -> dict[str, Any]:
    return {"lead_id": f"L{n}", "person_id": person, "event_id": f"e{n}", "status": status}


class FakeIndices:
    def __init__(self) -> None:
        self.refreshes = 0

    async def refresh(self, *, index: str) -> None:
        self.refreshes += 1


class FakeElasticsearch:
    """Just enough of AsyncElasticsearch: create/update bulk, terms search, count, mget."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.indices = FakeIndices()

    async def bulk(self, *, operations: list[dict[str, Any]]) -> dict[str, Any]:
        items = []
        for action, body in zip(operations[::2], operations[1::2], strict=True):
            ((op, meta),) = action.items()
            doc_id = meta["_id"]
            if op == "create":
                status = 409 if doc_id in self.docs else 201
                self.docs.setdefault(doc_id, dict(body))
            else:
                self.docs[doc_id].update(body["doc"])
                status = 200
            items.append({op: {"_id": doc_id, "status": status}})
        return {"errors": False, "items": items}

    async def search(self, *, index: str, query: Mapping[str, Any], size: int, source: bool):
        terms, term = query["bool"]["filter"]
        people, status = set(terms["terms"]["person_id"]), term["term"]["status"]
        hits = [
            {"_index": "leads-v1", "_id": doc_id}
            for doc_id, doc in self.docs.items()
            if doc["person_id"] in people and doc["status"] == status
        ]
        return {"hits": {"hits": hits[:size]}}

    async def count(self, *, index: str, query: Any = None) -> dict[str, int]:
        return {"count": len(self.docs)}

    async def mget(
        self, *, index: str, ids: list[str], source_includes: list[str]
    ) -> dict[str, Any]:
        """Realtime, as Elasticsearch's ``_mget``: a create is visible before any refresh."""
        docs: list[dict[str, Any]] = []
        for doc_id in ids:
            doc = self.docs.get(doc_id)
            source = {k: v for k, v in (doc or {}).items() if k in source_includes}
            docs.append({"_id": doc_id, "found": doc is not None, "_source": source})
        return {"docs": docs}

    async def close(self) -> None:
        pass


def api_error(status: int) -> ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "localhost", 9200))
    return ApiError(f"status {status}", meta=meta, body={})


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
    assert bulk_create_operations([lead(1)], index="leads") == [
        {"create": {"_index": "leads", "_id": "L1"}},
        {"lead_id": "L1", "person_id": "p1", "event_id": "e1", "status": "new"},
    ]


def test_bulk_bodies_in_orjson_read_back_as_the_stdlib_writes_them() -> None:
    operations = bulk_create_operations(
        [lead(1) | {"person_name": "張偉", "score": 12.5, "flags": ["id_masked"]}], index="leads"
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
        "status_reason": "located",
        "closed_at": "2026-01-01T00:00:00+00:00",
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
    assert client.docs["L1"]["status_reason"] == "located"
    assert client.indices.refreshes >= 1


class EverConflicting(FakeElasticsearch):
    """Every close update meets a version conflict (a writer racing it each time)."""

    def __init__(self) -> None:
        super().__init__()
        self.searches = 0

    async def search(self, *, index: str, query: Mapping[str, Any], size: int, source: bool):
        self.searches += 1
        return await super().search(index=index, query=query, size=size, source=source)

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
