"""A document through the real Elasticsearch, and the leads index made from its template."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from elasticsearch import Elasticsearch

from connectors.lead_index import ensure_lead_index, template_name, versioned_index_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def alias(es: Elasticsearch, unique_name: str) -> Iterator[str]:
    yield unique_name
    # Destructive calls need explicit names on this node (action.destructive_requires_name).
    es.indices.delete(index=versioned_index_name(unique_name, 1), ignore_unavailable=True)
    es.options(ignore_status=404).indices.delete_index_template(name=template_name(unique_name))


def test_a_document_is_indexed_and_found(es: Elasticsearch, unique_name: str) -> None:
    try:
        es.index(index=unique_name, id="d1", document={"tag": "x1", "n": 3}, refresh="wait_for")
        hits = es.search(index=unique_name, query={"term": {"tag.keyword": "x1"}})["hits"]
        assert hits["total"]["value"] == 1
        assert hits["hits"][0]["_id"] == "d1"
    finally:
        es.indices.delete(index=unique_name, ignore_unavailable=True)


def test_leads_index_gets_the_template_mapping(es: Elasticsearch, alias: str) -> None:
    index = ensure_lead_index(es, alias)
    assert index == versioned_index_name(alias, 1)
    assert ensure_lead_index(es, alias) == index  # twice is harmless
    mapping = es.indices.get_mapping(index=index)[index]["mappings"]
    assert mapping["properties"]["person_id"]["type"] == "keyword"
    assert mapping["properties"]["person_name"]["fields"]["keyword"]["type"] == "keyword"
    assert es.indices.get_alias(name=alias)[index]["aliases"][alias]["is_write_index"] is True


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
    es.index(index=alias, id=lead["lead_id"], document=lead, refresh="wait_for")
    hits = es.search(
        index=alias,
        query={
            "bool": {"filter": [{"term": {"status": "new"}}, {"range": {"score": {"gte": 10}}}]}
        },
    )["hits"]["hits"]
    assert [hit["_id"] for hit in hits] == ["l-1"]
    assert hits[0]["_source"]["an_unknown_field"] == {"kept": True}
