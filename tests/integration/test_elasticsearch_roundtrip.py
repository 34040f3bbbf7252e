"""A document through the real Elasticsearch, and the leads index made from its template."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from connectors.lead_index import (
    district_alias,
    district_index_name,
    drop_lead_index,
    ensure_lead_index,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def alias(es: Elasticsearch, unique_name: str) -> Iterator[str]:
    yield unique_name
    drop_lead_index(es, unique_name)


def test_a_document_is_indexed_and_found(es: Elasticsearch, unique_name: str) -> None:
    try:
        es.index(index=unique_name, id="d1", document={"tag": "x1", "n": 3}, refresh="wait_for")
        hits = es.search(index=unique_name, query={"term": {"tag.keyword": "x1"}})["hits"]
        assert hits["total"]["value"] == 1
        assert hits["hits"][0]["_id"] == "d1"
    finally:
        es.indices.delete(index=unique_name, ignore_unavailable=True)


def test_leads_index_gets_the_template_mapping(es: Elasticsearch, alias: str) -> None:
    assert ensure_lead_index(es, alias) == f"{alias}-*-v2"
    assert ensure_lead_index(es, alias) == f"{alias}-*-v2"  # twice is harmless
    index = district_index_name(alias, None)
    mapping = es.indices.get_mapping(index=index)[index]["mappings"]
    assert mapping["properties"]["person_id"]["type"] == "keyword"
    assert mapping["properties"]["person_name"]["fields"]["keyword"]["type"] == "keyword"
    assert mapping["properties"]["review"]["properties"]["closed_reason"]["type"] == "keyword"
    assert mapping["properties"]["qualifies"]["type"] == "boolean"
    aliases = es.indices.get_alias(index=index)[index]["aliases"]
    assert aliases == {alias: {}, f"{alias}-unassigned": {"is_write_index": True}}


def test_a_lead_is_searchable_through_the_alias(es: Elasticsearch, alias: str) -> None:
    ensure_lead_index(es, alias)
    lead = {
        "lead_id": "l-1",
        "person_id": "p-1",
        "event_id": "e-1",
        "source": "bank",
        "@timestamp": "2026-01-02T03:04:05+08:00",
        "occurred_at": "2026-01-02T03:04:05+08:00",
        "score": 12.5,
        "tier": "high",
        "status": "new",
        "person_name": "张伟",
        "explanation": {
            "reason_en": "name and birth date agree",
            "fields": [{"field": "name", "weight": 4.2}],
        },
        "an_unknown_field": {"kept": True},
    }
    es.index(
        index=district_alias(alias, None), id=lead["lead_id"], document=lead, refresh="wait_for"
    )
    hits = es.search(
        index=alias,
        query={
            "bool": {"filter": [{"term": {"status": "new"}}, {"range": {"score": {"gte": 10}}}]}
        },
    )["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == ["l-1"]
    assert hits[0]["_source"]["an_unknown_field"] == {"kept": True}
