"""The restricted query DSL: what it accepts, what it refuses, and what it matches."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.errors import InvalidSubscription
from alerts.query import MAX_CLAUSES, compile_query, query_fields, tokens

LEAD: dict[str, Any] = {
    "lead_id": "l1",
    "person_id": "P0012345",
    "source": "bank",
    "event_type": "card_issued",
    "tier": "high",
    "score": 23.5,
    "district": "美兰区",
    "flags": ["phone_unparseable", "text_control_chars_removed"],
    "person_name": "张伟",
    "event_name": "ZHANG Wei",
    "occurred_at": "2026-11-30T10:00:00+08:00",
}

MATCHES = [
    ("term on keyword", {"term": {"tier": "high"}}, True),
    ("term with value", {"term": {"source": {"value": "telecom"}}}, False),
    ("term on an array element", {"term": {"flags": "phone_unparseable"}}, True),
    ("term is exact, not analysed", {"term": {"tier": "HIGH"}}, False),
    ("term on a name's keyword", {"term": {"person_name.keyword": "张伟"}}, True),
    ("terms any", {"terms": {"source": ["hukou", "bank"]}}, True),
    ("terms none", {"terms": {"source": ["hukou", "telecom"]}}, False),
    ("range score gte", {"range": {"score": {"gte": 20}}}, True),
    ("range score gt above", {"range": {"score": {"gt": 23.5}}}, False),
    ("range date with offset", {"range": {"occurred_at": {"gte": "2026-11-30T02:00:00Z"}}}, True),
    ("range date UTC default", {"range": {"occurred_at": {"lt": "2026-11-30T02:00:00"}}}, False),
    ("match one CJK char", {"match": {"person_name": "伟"}}, True),
    ("match pinyin any case", {"match": {"event_name": "wei"}}, True),
    ("match or: one token enough", {"match": {"event_name": "li wei"}}, True),
    (
        "match and: every token",
        {"match": {"event_name": {"query": "li wei", "operator": "and"}}},
        False,
    ),
    (
        "bool must + must_not",
        {"bool": {"must": [{"term": {"tier": "high"}}], "must_not": {"term": {"source": "bank"}}}},
        False,
    ),
    (
        "bool should alone needs one",
        {"bool": {"should": [{"term": {"tier": "low"}}, {"term": {"source": "bank"}}]}},
        True,
    ),
    (
        "bool should optional beside filter",
        {"bool": {"filter": [{"term": {"tier": "high"}}], "should": [{"term": {"tier": "low"}}]}},
        True,
    ),
    (
        "bool minimum_should_match 2",
        {
            "bool": {
                "should": [{"term": {"tier": "high"}}, {"term": {"source": "hukou"}}],
                "minimum_should_match": 2,
            }
        },
        False,
    ),
    ("empty bool matches all", {"bool": {}}, True),
    ("missing field never matches", {"term": {"case_officer": "x"}}, False),
]


@pytest.mark.parametrize(("description", "query", "expected"), MATCHES)
def test_a_query_matches_as_elasticsearch_would(
    description: str, query: dict[str, Any], expected: bool
) -> None:
    assert compile_query(query)(LEAD) is expected, description


def _deep(depth: int) -> dict[str, Any]:
    query: dict[str, Any] = {"term": {"tier": "high"}}
    for _ in range(depth):
        query = {"bool": {"must": [query]}}
    return query


REFUSED = [
    ("script", {"script": {"script": {"source": "1"}}}, "'script' is not allowed"),
    ("wildcard", {"wildcard": {"person_name": "张*"}}, "'wildcard' is not allowed"),
    ("query_string", {"query_string": {"query": "*:*"}}, "not allowed"),
    ("unknown field", {"term": {"secret_field": "x"}}, "unknown field"),
    ("match on a keyword field", {"match": {"tier": "high"}}, "not allowed on keyword"),
    ("term on a text field", {"term": {"person_name": "张伟"}}, "not allowed on text"),
    ("explanation text is not searchable", {"match": {"explanation.reason_en": "x"}}, "unknown"),
    ("range on keyword", {"range": {"tier": {"gte": "a"}}}, "not allowed on keyword"),
    ("range with a script-ish key", {"range": {"score": {"gte": 1, "boost": 2}}}, "gt, gte"),
    ("range date math", {"range": {"occurred_at": {"gte": "now-1d"}}}, "ISO-8601"),
    ("two fields in one term", {"term": {"tier": "high", "source": "bank"}}, "exactly one"),
    ("terms too many", {"terms": {"source": ["x"] * 101}}, "1 to 100"),
    ("too deep", _deep(5), "deeper than 4"),
    (
        "too many clauses",
        {"bool": {"should": [{"term": {"tier": "high"}}] * MAX_CLAUSES}},
        "clauses",
    ),
    ("too big", {"terms": {"lead_id": ["x" * 200] * 50}}, "bytes"),
    ("not an object", ["term"], "exactly one query type"),
    ("bool unknown key", {"bool": {"boost": 2}}, "bool: takes"),
]


@pytest.mark.parametrize(("description", "query", "phrase"), REFUSED)
def test_a_query_outside_the_subset_is_refused_with_a_reason(
    description: str, query: Any, phrase: str
) -> None:
    with pytest.raises(InvalidSubscription) as refused:
        compile_query(query)
    assert phrase in str(refused.value), description
    assert "\n" not in str(refused.value)


def test_every_problem_is_reported_at_once() -> None:
    query = {"bool": {"must": [{"script": {}}, {"term": {"nope": "x"}}]}}
    with pytest.raises(InvalidSubscription) as refused:
        compile_query(query)
    assert len(refused.value.problems) == 2


def test_the_fields_come_from_the_lead_mapping() -> None:
    fields = query_fields()
    assert fields["tier"] == "keyword"
    assert fields["score"] == "float"
    assert fields["occurred_at"] == "date"
    assert fields["person_name"] == "text"
    assert fields["person_name.keyword"] == "keyword"
    assert "explanation" not in fields


def test_tokens_split_cjk_per_character_and_latin_in_words() -> None:
    assert tokens("Zhang-Wei 张伟 O'Neil 42") == ["zhang", "wei", "张", "伟", "o'neil", "42"]
