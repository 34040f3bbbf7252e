"""The Kibana bundle: held to the lead mapping, to the import format and to the committed file."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from connectors.lead_index import lead_mappings
from kibana.bundle import (
    CORE_MIGRATION_VERSION,
    build_bundle,
    bundle_ndjson,
    data_view_id,
    districts_view_id,
    review_link_template,
)
from kibana.fields import is_aggregatable, mapping_fields
from tracer.commands.kibana import COMMITTED_BUNDLE, bundle_text
from tracer.settings import TracerSettings

# What a Kibana 9.2 export writes (see kibana/bundle.py for where each comes from).
EXPECTED_TYPE_VERSIONS = {
    "index-pattern": "8.0.0",
    "search": "10.5.0",
    "lens": "8.9.0",
    "dashboard": "10.3.0",
}
KQL_FIELD = re.compile(r"([A-Za-z_@][\w.@]*)\s*:")
BASE = "https://review.example.org"


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return build_bundle(lead_mappings(), alias="leads", review_base_url=BASE)


@pytest.fixture(scope="module")
def fields() -> dict[str, str]:
    return mapping_fields(lead_mappings())


def by_type(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["type"] == kind]


def test_committed_bundle_is_what_the_code_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRACER_LEADS_ALIAS", "TRACER_REVIEW_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    built = bundle_text(TracerSettings())
    committed = COMMITTED_BUNDLE.read_text(encoding="utf-8")
    assert committed == built, "run `tracer kibana export` and commit docker/kibana/tracer.ndjson"


def test_every_object_has_the_import_shape(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        assert set(obj) == {
            "type",
            "id",
            "attributes",
            "references",
            "managed",
            "coreMigrationVersion",
            "typeMigrationVersion",
        }
        assert obj["coreMigrationVersion"] == CORE_MIGRATION_VERSION == "8.8.0"
        assert obj["typeMigrationVersion"] == EXPECTED_TYPE_VERSIONS[obj["type"]]
        assert obj["managed"] is False
        assert isinstance(obj["attributes"]["title"], str) and obj["attributes"]["title"]
        for ref in obj["references"]:
            assert set(ref) == {"name", "type", "id"}


def test_ndjson_is_one_object_a_line(objects: list[dict[str, Any]]) -> None:
    text = bundle_ndjson(objects)
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == len(objects)
    assert [json.loads(line) for line in lines] == objects


def test_ids_are_stable_unique_and_follow_the_alias() -> None:
    first = build_bundle(lead_mappings(), alias="leads", review_base_url=BASE)
    again = build_bundle(lead_mappings(), alias="leads", review_base_url=BASE + "/")
    assert [o["id"] for o in first] == [o["id"] for o in again]
    assert len({(o["type"], o["id"]) for o in first}) == len(first)
    other = build_bundle(lead_mappings(), alias="other", review_base_url=BASE)
    assert not {o["id"] for o in first} & {o["id"] for o in other}


def test_every_reference_resolves_inside_the_bundle(objects: list[dict[str, Any]]) -> None:
    present = {(o["type"], o["id"]) for o in objects}
    seen_before: set[tuple[str, str]] = set()
    for obj in objects:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in present, ref
            # Import order: what an object refers to comes before it.
            assert (ref["type"], ref["id"]) in seen_before, ref
        seen_before.add((obj["type"], obj["id"]))


def test_data_view_on_the_alias_links_lead_ids_to_the_review_page(
    objects: list[dict[str, Any]],
) -> None:
    views = {o["id"]: o["attributes"] for o in by_type(objects, "index-pattern")}
    main = views[data_view_id("leads")]
    assert main["title"] == "leads"
    assert main["timeFieldName"] == "@timestamp"
    link = json.loads(main["fieldFormatMap"])["lead_id"]
    assert link["id"] == "url"
    assert link["params"]["urlTemplate"] == f"{BASE}/leads/{{{{value}}}}"
    # The view searches use: the per-district aliases and indices, never leads-v1.
    districts = views[districts_view_id("leads")]
    assert districts["title"] == "leads-d*,leads-unassigned*"
    assert districts["fieldFormatMap"] == main["fieldFormatMap"]


def test_review_link_needs_an_absolute_http_url() -> None:
    assert review_link_template("http://h:8080/") == "http://h:8080/leads/{{value}}"
    for bad in ("review.example", "ftp://h", "/leads", ""):
        with pytest.raises(ValueError, match="review base URL"):
            review_link_template(bad)


def test_saved_searches_refer_to_their_data_view(objects: list[dict[str, Any]]) -> None:
    searches = by_type(objects, "search")
    assert {s["attributes"]["title"] for s in searches} >= {
        "New leads: tier high",
        "New leads: tier medium",
        "New leads: tier low",
        "Leads by district",
        "Leads by person",
        "Leads of the last 24 hours",
    }
    for search in searches:
        source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        name = source["indexRefName"]
        assert name == "kibanaSavedObjectMeta.searchSourceJSON.index"
        assert search["references"] == [
            {"name": name, "type": "index-pattern", "id": districts_view_id("leads")}
        ]
    last_day = next(s for s in searches if s["id"].endswith("last-24h"))["attributes"]
    assert last_day["timeRestore"] is True
    assert last_day["timeRange"] == {"from": "now-24h", "to": "now"}


def _used_fields(obj: dict[str, Any]) -> list[tuple[str, bool]]:
    """(field, aggregated or sorted) for every field a saved object names."""
    attributes = obj["attributes"]
    used: list[tuple[str, bool]] = []
    if obj["type"] == "index-pattern":
        used += [(name, False) for name in json.loads(attributes["fieldFormatMap"])]
        used.append((attributes["timeFieldName"], True))
    if obj["type"] == "search":
        used += [(name, False) for name in attributes["columns"]]
        used += [(name, True) for name, _ in attributes["sort"]]
        source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
        used += [(name, False) for name in KQL_FIELD.findall(source["query"]["query"])]
    if obj["type"] == "lens":
        for layer in attributes["state"]["datasourceStates"]["formBased"]["layers"].values():
            for column in layer["columns"].values():
                if column["sourceField"] != "___records___":
                    used.append((column["sourceField"], True))
        used += [(n, False) for n in KQL_FIELD.findall(attributes["state"]["query"]["query"])]
    return used


def test_every_field_exists_and_is_aggregatable_where_aggregated(
    objects: list[dict[str, Any]], fields: dict[str, str]
) -> None:
    checked = 0
    for obj in objects:
        for name, aggregated in _used_fields(obj):
            assert name in fields, f"{obj['id']} uses {name!r}, not in the lead mapping"
            if aggregated:
                assert is_aggregatable(fields[name]), f"{obj['id']} aggregates text {name!r}"
            checked += 1
    assert checked > 40


def test_the_field_check_catches_a_text_field_aggregated(fields: dict[str, str]) -> None:
    # The check above is only worth something if a text field fails it.
    assert fields["person_name"] == "text" and not is_aggregatable(fields["person_name"])
    assert fields["person_name.keyword"] == "keyword"
    assert "explanation.reason_zh" in fields and "explanation" not in fields


def test_dashboard_panels_match_its_references(objects: list[dict[str, Any]]) -> None:
    (dashboard,) = by_type(objects, "dashboard")
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    refs = {ref["name"]: ref for ref in dashboard["references"]}
    assert len(panels) == len(refs) == 4
    for panel in panels:
        ref = refs[f"{panel['panelIndex']}:{panel['panelRefName']}"]
        assert ref["type"] == panel["type"]
        grid = panel["gridData"]
        assert grid["i"] == panel["panelIndex"] and grid["x"] + grid["w"] <= 48
    kinds = sorted(ref["type"] for ref in refs.values())
    assert kinds == ["lens", "lens", "lens", "search"]
    titles = {o["id"]: o["attributes"]["title"] for o in objects}
    shown = {titles[ref["id"]] for ref in refs.values()}
    assert shown == {
        "Leads over time by source",
        "Leads over time by tier",
        "Leads by district",
        "Newest high leads and their reason",
    }


def test_lens_layers_refer_to_the_data_view(objects: list[dict[str, Any]]) -> None:
    for lens in by_type(objects, "lens"):
        layers = lens["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]
        names = {ref["name"] for ref in lens["references"]}
        assert names == {f"indexpattern-datasource-layer-{layer}" for layer in layers}
        visual = lens["attributes"]["state"]["visualization"]["layers"]
        for layer in visual:
            columns = layers[layer["layerId"]]["columns"]
            assert layer["xAccessor"] in columns
            assert all(accessor in columns for accessor in layer["accessors"])


def test_a_v2_mapping_keeps_queries_to_qualifying_leads() -> None:
    mapping = lead_mappings()
    mapping["properties"]["qualifies"] = {"type": "boolean"}
    objects = build_bundle(mapping, alias="leads", review_base_url=BASE)
    for search in by_type(objects, "search"):
        source = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
        assert source["query"]["query"].endswith("qualifies : true")
    plain = build_bundle(lead_mappings(), alias="leads", review_base_url=BASE)
    if "qualifies" not in mapping_fields(lead_mappings()):  # v1: the field must not be named
        assert "qualifies" not in bundle_ndjson(plain)
