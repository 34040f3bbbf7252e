"""The saved objects of Kibana 9.2 that officers use, built from the lead mapping.

Pure: :func:`build_bundle` takes the mapping (``connectors.lead_index.lead_mappings()``), the
leads alias and the review service's base URL, and returns the objects in import order
(a referenced object before the objects that refer to it); :func:`bundle_ndjson` writes them
as Kibana's import expects, one JSON object a line::

    objects = build_bundle(lead_mappings(), alias="leads", review_base_url="https://review.example")
    Path("docker/kibana/tracer.ndjson").write_text(bundle_ndjson(objects))

The shapes follow a Kibana 9.2 export: ``coreMigrationVersion`` is ``8.8.0`` (frozen since
Kibana moved to model versions), ``typeMigrationVersion`` per type as below; a data view is
type ``index-pattern``; a saved search refers to its data view through
``kibanaSavedObjectMeta.searchSourceJSON.index``; a dashboard keeps ``panelsJSON`` as a string
and refers to each panel's object as ``<panelIndex>:panel_<panelIndex>``. Kibana migrates an
imported object whose ``typeMigrationVersion`` is older than its own and refuses a newer one,
so each version below is the newest that 9.2 is known to carry, never a guess above it.

Ids are fixed strings derived from the alias: re-importing with ``overwrite`` replaces the
objects instead of adding copies. When the mapping has ``qualifies`` (lead document v2), every
query keeps to ``qualifies : true``, so a lead a rerun no longer finds drops out of view.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, NamedTuple
from urllib.parse import urlsplit

from connectors.lead_index import UNASSIGNED_DISTRICT

from kibana.fields import mapping_fields

__all__ = [
    "CORE_MIGRATION_VERSION",
    "TYPE_MIGRATION_VERSIONS",
    "SavedObjectType",
    "SearchSpec",
    "build_bundle",
    "bundle_ndjson",
    "data_view_id",
    "districts_pattern",
    "districts_view_id",
    "review_link_template",
    "search_specs",
]

SavedObjectType = Literal["index-pattern", "search", "lens", "dashboard"]

CORE_MIGRATION_VERSION: Final = "8.8.0"
#: Per type, as a 9.2 export writes them: data views still end on their last legacy
#: migration (8.0.0), Lens on 8.9.0; saved searches and dashboards count model versions
#: (``10.<n>.0``).
TYPE_MIGRATION_VERSIONS: Final[Mapping[SavedObjectType, str]] = {
    "index-pattern": "8.0.0",
    "search": "10.5.0",
    "lens": "8.9.0",
    "dashboard": "10.3.0",
}

_INDEX_REF: Final = "kibanaSavedObjectMeta.searchSourceJSON.index"
_TIME_FIELD: Final = "@timestamp"
_TIERS: Final = ("high", "medium", "low")


class SearchSpec(NamedTuple):
    """One saved search: what it filters (KQL), shows, sorts by, and its own time range."""

    key: str
    title: str
    query: str
    columns: tuple[str, ...]
    sort: tuple[tuple[str, Literal["asc", "desc"]], ...]
    time_from: str | None = None


def data_view_id(alias: str) -> str:
    """Return the id of the data view on ``alias`` (``leads`` -> ``tracer-leads-data-view``)."""
    return f"tracer-{alias}-data-view"


def districts_view_id(alias: str) -> str:
    """Return the id of the data view over the per-district aliases (what searches use)."""
    return f"tracer-{alias}-districts-data-view"


def districts_pattern(alias: str) -> str:
    """Return the index pattern of every district's leads: ``leads-d*,leads-unassigned*``.

    It names the per-district aliases and indices only (``district_alias``: ``d`` + 12 hex,
    or ``unassigned``), never a pre-district index such as ``leads-v1``, so a lead is counted
    once. Elasticsearch resolves each wildcard to what the user may read: an officer whose
    role grants ``leads-<slug>*`` sees their districts, a supervisor all of them.
    """
    return f"{alias}-d*,{alias}-{UNASSIGNED_DISTRICT}*"


def review_link_template(review_base_url: str) -> str:
    """Return the URL template of a lead's review page (``{{value}}`` is the lead id).

    Raises:
        ValueError: the base URL is not an absolute http(s) URL.
    """
    parts = urlsplit(review_base_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(
            f"the review base URL must be http(s)://host[...], got {review_base_url!r}"
        )
    return review_base_url.rstrip("/") + "/leads/{{value}}"


def _saved_object(
    kind: SavedObjectType, object_id: str, attributes: dict[str, Any], references: list[Any]
) -> dict[str, Any]:
    return {
        "type": kind,
        "id": object_id,
        "attributes": attributes,
        "references": references,
        "managed": False,
        "coreMigrationVersion": CORE_MIGRATION_VERSION,
        "typeMigrationVersion": TYPE_MIGRATION_VERSIONS[kind],
    }


def _data_view(object_id: str, title: str, name: str, link: str) -> dict[str, Any]:
    # Kibana's url format escapes {{value}} into the path; the label stays the bare id.
    formats = {
        "lead_id": {
            "id": "url",
            "params": {
                "type": "a",
                "urlTemplate": link,
                "labelTemplate": "{{value}}",
                "openLinkInCurrentTab": False,
            },
        }
    }
    attributes = {
        "title": title,
        "name": name,
        "timeFieldName": _TIME_FIELD,
        "fieldFormatMap": json.dumps(formats, sort_keys=True),
        "fieldAttrs": "{}",
        "runtimeFieldMap": "{}",
        "sourceFilters": "[]",
        "fields": "[]",
        "typeMeta": "{}",
        "allowHidden": False,
    }
    return _saved_object("index-pattern", object_id, attributes, [])


def _search_source(query: str, *, with_index: bool) -> str:
    source: dict[str, Any] = {"query": {"query": query, "language": "kuery"}, "filter": []}
    if with_index:
        source["indexRefName"] = _INDEX_REF
    return json.dumps(source, sort_keys=True, ensure_ascii=False)


def _saved_search(spec: SearchSpec, alias: str, view_id: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "title": spec.title,
        "description": "",
        "columns": list(spec.columns),
        "sort": [[field, order] for field, order in spec.sort],
        "grid": {},
        "hideChart": False,
        "isTextBasedQuery": False,
        "timeRestore": spec.time_from is not None,
        "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(spec.query, with_index=True)},
    }
    if spec.time_from is not None:
        attributes["timeRange"] = {"from": spec.time_from, "to": "now"}
    reference = {"name": _INDEX_REF, "type": "index-pattern", "id": view_id}
    return _saved_object("search", f"tracer-{alias}-search-{spec.key}", attributes, [reference])


def _restrict(query: str, fields: Mapping[str, str]) -> str:
    """Keep a query to leads a rerun still finds, once the mapping has ``qualifies``."""
    if "qualifies" not in fields:
        return query
    return f"({query}) and qualifies : true" if query else "qualifies : true"


def search_specs(fields: Mapping[str, str]) -> tuple[SearchSpec, ...]:
    """Return the saved searches: new leads per tier, by district, by person, last 24 hours."""
    shown = ("tier", "score", "person_name", "source", "district", "case_officer", "status")
    newest: tuple[tuple[str, Literal["asc", "desc"]], ...] = ((_TIME_FIELD, "desc"),)
    specs = [
        SearchSpec(
            key=f"new-{tier}",
            title=f"New leads: tier {tier}",
            query=_restrict(f'status : "new" and tier : "{tier}"', fields),
            columns=shown,
            sort=(("score", "desc"), *newest),
        )
        for tier in _TIERS
    ]
    specs += [
        SearchSpec(
            key="by-district",
            title="Leads by district",
            query=_restrict("", fields),
            columns=(
                "district",
                "tier",
                "score",
                "person_name",
                "source",
                "case_officer",
                "status",
            ),
            sort=(("district", "asc"), *newest),
        ),
        SearchSpec(
            key="by-person",
            title="Leads by person",
            query=_restrict("", fields),
            columns=("person_id", "person_name", "tier", "score", "source", "event_name"),
            sort=(("person_id", "asc"), *newest),
        ),
        SearchSpec(
            key="last-24h",
            title="Leads of the last 24 hours",
            query=_restrict("", fields),
            columns=shown,
            sort=newest,
            time_from="now-24h",
        ),
        SearchSpec(
            key="newest-high",
            title="Newest high leads and their reason",
            query=_restrict('tier : "high"', fields),
            columns=(
                "person_name",
                "district",
                "source",
                "score",
                "explanation.reason_zh",
                "explanation.reason_en",
            ),
            sort=newest,
        ),
    ]
    return tuple(specs)


def _terms(field: str, order_by: str) -> dict[str, Any]:
    return {
        "label": f"Top values of {field}",
        "dataType": "string",
        "operationType": "terms",
        "scale": "ordinal",
        "sourceField": field,
        "isBucketed": True,
        "params": {
            "size": 10,
            "orderBy": {"type": "column", "columnId": order_by},
            "orderDirection": "desc",
            "otherBucket": True,
            "missingBucket": False,
            "parentFormat": {"id": "terms"},
        },
    }


_COUNT: Final = {
    "label": "Leads",
    "dataType": "number",
    "operationType": "count",
    "isBucketed": False,
    "scale": "ratio",
    "sourceField": "___records___",
    "params": {"emptyAsNull": True},
}
_OVER_TIME: Final = {
    "label": _TIME_FIELD,
    "dataType": "date",
    "operationType": "date_histogram",
    "sourceField": _TIME_FIELD,
    "isBucketed": True,
    "scale": "interval",
    "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False},
}


def _lens_xy(
    object_id: str,
    title: str,
    view_id: str,
    *,
    x: dict[str, Any],
    split_field: str | None,
    series: Literal["bar_stacked", "bar_horizontal"],
    query: str,
) -> dict[str, Any]:
    layer = "layer1"
    columns: dict[str, Any] = {"x": x, "y": dict(_COUNT)}
    order = ["x", "y"]
    if split_field is not None:
        columns["split"] = _terms(split_field, "y")
        order = ["split", "x", "y"]
    visual_layer: dict[str, Any] = {
        "layerId": layer,
        "layerType": "data",
        "seriesType": series,
        "xAccessor": "x",
        "accessors": ["y"],
    }
    if split_field is not None:
        visual_layer["splitAccessor"] = "split"
    state = {
        "datasourceStates": {
            "formBased": {
                "layers": {
                    layer: {"columns": columns, "columnOrder": order, "incompleteColumns": {}}
                }
            }
        },
        "visualization": {
            "legend": {"isVisible": True, "position": "right"},
            "valueLabels": "hide",
            "preferredSeriesType": series,
            "layers": [visual_layer],
        },
        "query": {"query": query, "language": "kuery"},
        "filters": [],
        "internalReferences": [],
        "adHocDataViews": {},
    }
    attributes = {"title": title, "description": "", "visualizationType": "lnsXY", "state": state}
    reference = {
        "type": "index-pattern",
        "id": view_id,
        "name": f"indexpattern-datasource-layer-{layer}",
    }
    return _saved_object("lens", object_id, attributes, [reference])


def _charts(alias: str, view_id: str, fields: Mapping[str, str]) -> list[dict[str, Any]]:
    query = _restrict("", fields)
    charts = [
        _lens_xy(
            f"tracer-{alias}-lens-over-time-by-{field}",
            f"Leads over time by {field}",
            view_id,
            x=dict(_OVER_TIME),
            split_field=field,
            series="bar_stacked",
            query=query,
        )
        for field in ("source", "tier")
    ]
    charts.append(
        _lens_xy(
            f"tracer-{alias}-lens-by-district",
            "Leads by district",
            view_id,
            x=_terms("district", "y"),
            split_field="tier",
            series="bar_horizontal",
            query=query,
        )
    )
    return charts


# 48 columns wide: two charts side by side, then districts beside the newest high leads.
_GRID: Final = ((0, 0, 24, 15), (24, 0, 24, 15), (0, 15, 18, 22), (18, 15, 30, 22))


def _dashboard(alias: str, panels: Sequence[dict[str, Any]]) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    references: list[dict[str, Any]] = []
    for number, (target, (x, y, w, h)) in enumerate(zip(panels, _GRID, strict=True), start=1):
        index = f"p{number}"
        entries.append(
            {
                "type": target["type"],
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": index},
                "panelIndex": index,
                "embeddableConfig": {},
                "panelRefName": f"panel_{index}",
            }
        )
        references.append(
            {"name": f"{index}:panel_{index}", "type": target["type"], "id": target["id"]}
        )
    options = {
        "useMargins": True,
        "syncColors": False,
        "syncCursor": True,
        "syncTooltips": False,
        "hidePanelTitles": False,
    }
    attributes = {
        "title": "Tracer leads",
        "description": "Leads over time by source and tier, by district; the newest high leads.",
        "panelsJSON": json.dumps(entries, sort_keys=True),
        "optionsJSON": json.dumps(options, sort_keys=True),
        "timeRestore": True,
        "timeFrom": "now-7d",
        "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 60_000},
        "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source("", with_index=False)},
    }
    return _saved_object("dashboard", f"tracer-{alias}-dashboard", attributes, references)


def build_bundle(
    mappings: Mapping[str, Any], *, alias: str, review_base_url: str
) -> list[dict[str, Any]]:
    """Return the saved objects in import order: data views, searches, charts, the dashboard.

    Two data views: one on ``alias`` itself (supervisors and administrators, whose roles
    may read the alias), and one on :func:`districts_pattern`, which every saved search and
    chart uses, since it works for officers too: their roles grant read on their districts'
    ``<alias>-<slug>*`` only, never on the ``alias`` that spans all districts.

    Raises:
        ValueError: the review base URL is not an absolute http(s) URL.
    """
    fields = mapping_fields(mappings)
    link = review_link_template(review_base_url)
    view_id = districts_view_id(alias)
    views = [
        _data_view(data_view_id(alias), alias, "Tracer leads (all)", link),
        _data_view(view_id, districts_pattern(alias), "Tracer leads", link),
    ]
    searches = [_saved_search(spec, alias, view_id) for spec in search_specs(fields)]
    charts = _charts(alias, view_id, fields)
    newest_high = next(s for s in searches if s["id"].endswith("-newest-high"))
    return [*views, *searches, *charts, _dashboard(alias, [*charts, newest_high])]


def bundle_ndjson(objects: Sequence[Mapping[str, Any]]) -> str:
    """Serialise saved objects as NDJSON: one object a line, sorted keys, a final newline."""
    return "".join(json.dumps(obj, sort_keys=True, ensure_ascii=False) + "\n" for obj in objects)
