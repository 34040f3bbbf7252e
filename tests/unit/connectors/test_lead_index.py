"""The leads template by value, and ensure_lead_index against an in-memory indices twin."""

from __future__ import annotations

from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import BadRequestError

from connectors.errors import StackError
from connectors.lead_index import (
    LEAD_INDEX_VERSION,
    district_index_aliases,
    district_index_name,
    district_slug,
    ensure_lead_index,
    lead_index_template,
    lead_mappings,
    machine_fields,
    template_name,
    upgrade_version_1,
    versioned_index_name,
)

FILTER_FIELDS = [
    "lead_id",
    "person_id",
    "event_id",
    "source",
    "event_type",
    "tier",
    "status",
    "district",
    "case_officer",
    "flags",
    "model_version",
    "event_digest",
    "run_id",
]


def _meta(status: int) -> ApiResponseMeta:
    node = NodeConfig("http", "localhost", 9200)
    return ApiResponseMeta(
        status=status, http_version="1.1", headers=HttpHeaders(), duration=0.0, node=node
    )


class _Body:
    def __init__(self, body: dict[str, Any]):
        self.body = body


class FakeIndices:
    """Indices, aliases and templates in dicts, shaped like elasticsearch-py's indices client."""

    def __init__(self) -> None:
        self.templates: dict[str, dict[str, Any]] = {}
        self.indices: dict[str, dict[str, dict[str, Any]]] = {}  # index -> alias -> props
        self.race_on_create = False

    def put_index_template(self, *, name: str, **body: Any) -> None:
        self.templates[name] = body

    def _aliases(self) -> set[str]:
        return {alias for aliases in self.indices.values() for alias in aliases}

    def exists_alias(self, *, name: str) -> bool:
        return name in self._aliases()

    def exists(self, *, index: str) -> bool:
        return index in self.indices

    def create(self, *, index: str, aliases: dict[str, Any]) -> None:
        if self.race_on_create:
            self.indices[index] = {}
            raise BadRequestError("resource_already_exists_exception", _meta(400), {})
        self.indices[index] = dict(aliases)

    def put_alias(self, *, index: str, name: str, is_write_index: bool = False) -> None:
        self.indices[index][name] = {"is_write_index": is_write_index} if is_write_index else {}

    def update_aliases(self, *, actions: list[dict[str, Any]]) -> None:
        for action in actions:
            add = action["add"]
            self.indices[add["index"]][add["alias"]] = {"is_write_index": add["is_write_index"]}

    def get_alias(self, *, name: str) -> _Body:
        return _Body(
            {
                index: {"aliases": aliases}
                for index, aliases in self.indices.items()
                if name in aliases
            }
        )


class FakeClient:
    def __init__(self) -> None:
        self.indices = FakeIndices()

    def options(self, **_: Any) -> FakeClient:
        return self


def test_every_filter_field_is_a_keyword() -> None:
    properties = lead_mappings()["properties"]
    for name in FILTER_FIELDS:
        assert properties[name] == {"type": "keyword"}, name


def test_names_are_text_with_a_keyword_subfield() -> None:
    properties = lead_mappings()["properties"]
    for name in ("person_name", "event_name"):
        assert properties[name]["type"] == "text"
        assert properties[name]["fields"]["keyword"]["type"] == "keyword"


def test_dates_scores_and_explanation_have_their_types() -> None:
    properties = lead_mappings()["properties"]
    assert properties["@timestamp"]["type"] == "date"
    assert properties["occurred_at"]["type"] == "date"
    assert properties["score"]["type"] == "float"
    assert properties["probability"]["type"] == "float"
    explanation = properties["explanation"]["properties"]
    assert explanation["reason_zh"]["type"] == explanation["reason_en"]["type"] == "text"
    fields = explanation["fields"]["properties"]
    assert {name: spec["type"] for name, spec in fields.items()} == {
        "field": "keyword",
        "level": "keyword",
        "weight": "float",
        "detail_zh": "text",
        "detail_en": "text",
    }


def test_unknown_fields_are_kept_but_not_indexed() -> None:
    assert lead_mappings()["dynamic"] is False


def test_version_2_maps_the_machine_bookkeeping_and_the_review_state_apart() -> None:
    properties = lead_mappings()["properties"]
    assert properties["machine_updated_at"] == {"type": "date"}
    assert properties["qualifies"] == {"type": "boolean"}
    review = properties["review"]["properties"]
    assert {name: spec["type"] for name, spec in review.items()} == {
        "assignee": "keyword",
        "decided_by": "keyword",
        "updated_by": "keyword",
        "closed_reason": "keyword",
        "note": "text",
        "decided_at": "date",
        "updated_at": "date",
        "closed_at": "date",
    }


def test_template_matches_every_districts_index_of_every_version() -> None:
    template = lead_index_template("leads", 3)
    assert template["index_patterns"] == ["leads-d*-v*", "leads-unassigned-v*"]
    assert template["_meta"]["version"] == 3
    assert template["template"]["settings"]["number_of_shards"] == 1
    assert template["template"]["mappings"] == lead_mappings()
    assert "aliases" not in template["template"]  # a district's alias is per index


def test_templates_of_nested_aliases_get_distinct_priorities() -> None:
    # "leads-d*-v*" overlaps "leads-dev-d*-v*": Elasticsearch refuses two such templates of one
    # priority; the longer alias is the more specific and wins its own indices.
    assert lead_index_template("leads-dev")["priority"] > lead_index_template("leads")["priority"]
    assert lead_index_template("leads")["priority"] > 200


def test_district_index_names_and_aliases() -> None:
    slug = district_slug("美兰区")
    assert district_index_name("leads", "美兰区") == f"leads-{slug}-v{LEAD_INDEX_VERSION}"
    assert district_index_name("leads", None, 3) == "leads-unassigned-v3"
    assert district_index_aliases("leads", "美兰区") == {
        "leads": {},
        f"leads-{slug}": {"is_write_index": True},
    }
    with pytest.raises(ValueError, match="version"):
        district_index_name("leads", "美兰区", 0)


def test_machine_fields_never_carry_the_review_state() -> None:
    lead = {"lead_id": "l1", "score": 3.5, "status": "new", "review": {"note": "x"}}
    assert machine_fields(lead, run_id="job-7", now="t") == {
        "lead_id": "l1",
        "score": 3.5,
        "run_id": "job-7",
        "machine_updated_at": "t",
        "qualifies": True,
    }


def test_names_are_derived_from_the_alias() -> None:
    assert versioned_index_name("leads", 1) == "leads-v1"
    assert versioned_index_name("test-leads", 12) == "test-leads-v12"
    assert template_name("leads") == "leads-template"
    with pytest.raises(ValueError, match="version"):
        versioned_index_name("leads", 0)


UNASSIGNED_ALIASES = {"leads": {}, "leads-unassigned": {"is_write_index": True}}


def test_ensure_creates_the_unassigned_districts_index_behind_the_alias() -> None:
    client = FakeClient()
    assert ensure_lead_index(client, "leads") == f"leads-*-v{LEAD_INDEX_VERSION}"  # type: ignore[arg-type]
    assert client.indices.indices == {"leads-unassigned-v2": UNASSIGNED_ALIASES}
    assert "leads-template" in client.indices.templates
    assert ensure_lead_index(client, "leads") == "leads-*-v2"  # type: ignore[arg-type]
    assert list(client.indices.indices) == ["leads-unassigned-v2"]


def test_a_version_1_lead_becomes_a_version_2_document() -> None:
    closed = {
        "lead_id": "l1",
        "status": "closed",
        "status_reason": "roster_located",
        "closed_at": "2026-12-01T00:00:00Z",
        "@timestamp": "2026-11-01T10:00:00+08:00",
        "score": 3.5,
    }
    assert upgrade_version_1(closed) == {
        "lead_id": "l1",
        "status": "closed",
        "review": {"closed_reason": "roster_located", "closed_at": "2026-12-01T00:00:00Z"},
        "@timestamp": "2026-11-01T10:00:00+08:00",
        "score": 3.5,
        "run_id": "v1",
        "machine_updated_at": "2026-11-01T10:00:00+08:00",
        "qualifies": True,
    }
    assert upgrade_version_1({"lead_id": "l2"})["status"] == "new"


def test_a_concrete_index_on_the_alias_name_is_refused() -> None:
    client = FakeClient()
    client.indices.indices["leads"] = {}
    with pytest.raises(StackError, match="concrete index"):
        ensure_lead_index(client, "leads")  # type: ignore[arg-type]


def test_a_concurrent_creator_still_ends_with_the_alias() -> None:
    client = FakeClient()
    client.indices.race_on_create = True
    assert ensure_lead_index(client, "leads") == "leads-*-v2"  # type: ignore[arg-type]
    assert client.indices.indices["leads-unassigned-v2"] == UNASSIGNED_ALIASES


def test_district_slug_is_stable_ascii_and_blank_is_unassigned() -> None:
    from connectors.lead_index import UNASSIGNED_DISTRICT, district_alias, district_slug

    slug = district_slug("美兰区")
    assert slug == district_slug(" 美兰区 ") == district_slug("美兰区")
    assert slug.startswith("d") and len(slug) == 13 and slug.isascii() and slug == slug.lower()
    assert slug != district_slug("龙华区")
    assert district_slug(None) == district_slug("") == district_slug(" \t") == UNASSIGNED_DISTRICT
    # NFC: a decomposed and a composed spelling are one district.
    assert district_slug("Cafe\u0301") == district_slug("Caf\u00e9")
    assert district_alias("leads", "美兰区") == f"leads-{slug}"
