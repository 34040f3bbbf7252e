"""The in-process predicates give the hits Elasticsearch gives for the same query and leads."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch, helpers

from alerts.query import compile_query
from connectors.lead_index import lead_mappings
from tests.unit.alerts.test_query import MATCHES

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

NAMES = [
    "张伟",
    "張偉",
    "王芳",
    "ZHANG Wei",
    "Wei Zhang",
    "zhangwei",
    "O'Neil Li",
    "li-wei",
    "王 芳芳",
]


def _leads(count: int) -> list[dict[str, Any]]:
    rng = random.Random(16)
    leads = []
    for i in range(count):
        leads.append(
            {
                "lead_id": f"l{i}",
                "person_id": f"P{i % 7}",
                "source": rng.choice(["hukou", "bank", "telecom"]),
                "event_type": rng.choice(["card_issued", "move_in", "sim_registered"]),
                "tier": rng.choice(["low", "medium", "high", "HIGH"]),
                "score": round(rng.uniform(-5, 40), 2),
                "district": rng.choice(["美兰区", "龙华区"]),
                "flags": rng.sample(
                    ["phone_unparseable", "id_checksum_failed", "x"], k=rng.randint(0, 2)
                ),
                "person_name": rng.choice(NAMES),
                "event_name": rng.choice(NAMES),
                "occurred_at": f"2026-11-{rng.randint(28, 30)}T{rng.randint(0, 23):02d}:00+08:00",
            }
        )
    return leads


@pytest.fixture
def lead_index(es: Elasticsearch, unique_name: str) -> Iterator[str]:
    es.indices.create(index=unique_name, mappings=lead_mappings())
    yield unique_name
    es.options(ignore_status=404).indices.delete(index=unique_name)


QUERIES = [query for _, query, _ in MATCHES] + [
    {"match": {"person_name": "张伟"}},
    {"match": {"event_name": {"query": "o'neil", "operator": "and"}}},
    {"match": {"event_name": "zhang"}},
    {"bool": {"should": [{"match": {"person_name": "芳"}}, {"range": {"score": {"lt": 0}}}]}},
    {"bool": {"must_not": [{"terms": {"flags": ["x", "id_checksum_failed"]}}]}},
]


def test_predicates_agree_with_elasticsearch(es: Elasticsearch, lead_index: str) -> None:
    leads = _leads(300)
    helpers.bulk(
        es, ({"_index": lead_index, "_id": d["lead_id"], **d} for d in leads), refresh=True
    )
    for query in QUERIES:
        predicate = compile_query(query)
        ours = {d["lead_id"] for d in leads if predicate(d)}
        hits = es.search(index=lead_index, query=query, size=1000, source=False)["hits"]["hits"]
        theirs = {hit["_id"] for hit in hits}
        assert ours == theirs, query
    assert any(compile_query(q)(d) for q in QUERIES for d in leads)  # not all empty
