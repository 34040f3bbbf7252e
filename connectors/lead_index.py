"""The leads index schema as code: a composable template, a versioned index, an alias.

Officers and Kibana read the alias (``leads``); the data lives in a versioned index
(``leads-v1``) made from the template, so a mapping change is a new version plus an alias
swap, never an in-place edit. Building the template is pure (tested by value);
:func:`ensure_lead_index` is the one place that talks to Elasticsearch::

    ensure_lead_index(Elasticsearch("http://127.0.0.1:9200"), "leads")   # -> "leads-v1"

The mapping follows the lead-document table of ``docs/design.md``. ``dynamic: false`` keeps
unknown extra fields in ``_source`` without indexing them: a new field never breaks writes
(``strict`` would reject whole documents) and never pollutes the mapping.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any, Final

from elasticsearch import ApiError, Elasticsearch, TransportError

from connectors.errors import ServiceUnavailable, StackError

__all__ = [
    "LEAD_INDEX_VERSION",
    "UNASSIGNED_DISTRICT",
    "district_alias",
    "district_slug",
    "ensure_lead_index",
    "lead_index_template",
    "lead_mappings",
    "template_name",
    "versioned_index_name",
]

LEAD_INDEX_VERSION: Final = 1
"""Bump with every mapping change, then move the alias to the new index."""

# Above the built-in templates (priority 100-ish), so nothing stock can shadow ours.
_TEMPLATE_PRIORITY: Final = 200

_KEYWORD: Final = {"type": "keyword"}
_TEXT: Final = {"type": "text"}
_FLOAT: Final = {"type": "float"}
_DATE: Final = {"type": "date"}
_NAME: Final = {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}


def lead_mappings() -> dict[str, Any]:
    """Return the mapping of a lead document (see the lead table in ``docs/design.md``)."""
    keywords = (
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
        # sha256 of the event's canonical JSON: tells a redelivery from another event under
        # the same id (connectors/elasticsearch.py). Added to version 1 in place: an index made
        # before keeps it in _source, unindexed, and the writer reads it from _source only.
        "event_digest",
    )
    properties: dict[str, Any] = {name: dict(_KEYWORD) for name in keywords}
    properties |= {
        "occurred_at": dict(_DATE),
        "@timestamp": dict(_DATE),
        "score": dict(_FLOAT),
        "probability": dict(_FLOAT),
        "person_name": dict(_NAME),
        "event_name": dict(_NAME),
        "explanation": {
            "properties": {
                "reason_zh": dict(_TEXT),
                "reason_en": dict(_TEXT),
                "fields": {
                    "properties": {
                        "field": dict(_KEYWORD),
                        "level": dict(_KEYWORD),
                        "weight": dict(_FLOAT),
                        "detail_zh": dict(_TEXT),
                        "detail_en": dict(_TEXT),
                    }
                },
            }
        },
    }
    return {"dynamic": False, "properties": properties}


UNASSIGNED_DISTRICT: Final = "unassigned"
"""The slug of a lead whose person has no district: only supervisors and administrators see it."""

_SLUG_HEX: Final = 12


def district_slug(district: str | None) -> str:
    """Return the index-name-safe key of a district: the one rule every writer and reader uses.

    Districts are free text in the roster (``美兰区``, ``海口市``); index names must be lowercase
    ASCII. The slug is ``d`` + the first 12 hex digits of the sha256 of the district's text
    (NFC, surrounding blanks stripped): stable across processes and machines, no registry to
    keep in step, and 48 bits leave no collision among a country's few thousand districts.
    ``tracer`` tools print the slug beside the district's name where people need it (Kibana
    roles, index listings).

    Examples:
        ``district_slug("美兰区")`` gives ``"d"`` + 12 hex digits; ``district_slug(None)``,
        ``district_slug("  ")`` give ``"unassigned"``.
    """
    text = unicodedata.normalize("NFC", district or "").strip()
    if not text:
        return UNASSIGNED_DISTRICT
    return "d" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:_SLUG_HEX]


def district_alias(alias: str, district: str | None) -> str:
    """Return the alias over one district's leads (``leads-d1a2b3c4d5e6f``).

    Index-level separation on the basic licence: an officer's searches, and a Kibana role's
    index privileges (pattern ``leads-<slug>*``), name only their districts' aliases.
    """
    return f"{alias}-{district_slug(district)}"


def template_name(alias: str) -> str:
    """Return the name of the index template behind ``alias`` (``leads`` -> ``leads-template``)."""
    return f"{alias}-template"


def drop_lead_index(client: Elasticsearch, alias: str) -> None:
    """Delete every index behind ``alias`` and its template (clean-up after a test or benchmark)."""
    quiet = client.options(ignore_status=404)
    found = quiet.indices.get_alias(name=alias).body
    for index in found if isinstance(found, dict) and "error" not in found else ():
        quiet.indices.delete(index=index)
    quiet.indices.delete_index_template(name=template_name(alias))


def versioned_index_name(alias: str, version: int = LEAD_INDEX_VERSION) -> str:
    """Return the concrete index name of ``version`` behind ``alias``.

    Example: ``versioned_index_name("leads", 1)`` gives ``"leads-v1"``.
    """
    if version < 1:
        raise ValueError(f"index version must be at least 1, got {version}")
    return f"{alias}-v{version}"


def lead_index_template(alias: str, version: int = LEAD_INDEX_VERSION) -> dict[str, Any]:
    """Return the body of the composable index template for the lead indices behind ``alias``.

    The pattern matches every version (``leads-v*``) so an index made for a later version gets
    the then-current mapping. One shard suits the expected volume; ``auto_expand_replicas``
    keeps a single-node cluster green and gives a bigger cluster a replica.
    """
    return {
        "index_patterns": [f"{alias}-v*"],
        "priority": _TEMPLATE_PRIORITY,
        "template": {
            "settings": {
                "number_of_shards": 1,
                "auto_expand_replicas": "0-1",
                "refresh_interval": "1s",
            },
            "mappings": lead_mappings(),
        },
        "_meta": {"managed_by": "tracer", "version": version},
    }


def ensure_lead_index(
    client: Elasticsearch, alias: str, *, version: int = LEAD_INDEX_VERSION
) -> str:
    """Put the template and make sure ``alias`` points at an index; return the write index.

    Idempotent: an alias that exists already is left alone (it may point at an older or newer
    version on purpose). A concurrent creator of the same index is fine.

    Raises:
        StackError: a concrete index (not an alias) squats on the alias name, or
            Elasticsearch refused the template or the index.
        ServiceUnavailable: Elasticsearch did not answer.
    """
    try:
        client.indices.put_index_template(
            name=template_name(alias), **lead_index_template(alias, version)
        )
        if client.indices.exists_alias(name=alias):
            return _write_index(client, alias)
        if client.indices.exists(index=alias):
            raise StackError(
                f"Elasticsearch has a concrete index named {alias!r} where the alias should be;"
                " delete it or choose another TRACER_LEADS_ALIAS"
            )
        index = versioned_index_name(alias, version)
        if client.indices.exists(index=index):
            client.indices.put_alias(index=index, name=alias, is_write_index=True)
        else:
            _create_index(client, index, alias)
        return index
    except ApiError as exc:
        raise StackError(f"could not set up the {alias!r} index: {exc}") from exc
    except TransportError as exc:
        raise ServiceUnavailable(f"Elasticsearch did not answer: {exc}") from exc


def _create_index(client: Elasticsearch, index: str, alias: str) -> None:
    try:
        client.indices.create(index=index, aliases={alias: {"is_write_index": True}})
    except ApiError as exc:
        if exc.meta.status != 400 or "resource_already_exists" not in str(exc):
            raise
        # Someone else created it between our check and our call: make sure the alias is there.
        client.indices.put_alias(index=index, name=alias, is_write_index=True)


def _write_index(client: Elasticsearch, alias: str) -> str:
    aliases = client.indices.get_alias(name=alias).body
    for index, body in sorted(aliases.items()):
        if body.get("aliases", {}).get(alias, {}).get("is_write_index"):
            return str(index)
    return str(sorted(aliases)[-1])
