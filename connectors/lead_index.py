"""The leads index schema as code: a composable template, per-district versioned indices, aliases.

Officers and Kibana read the alias (``leads``); the data lives in one versioned index per
district (``leads-<slug>-v2``, :func:`district_index_name`) made from the template, each behind
``leads`` and behind its district's alias (``leads-<slug>``, :func:`district_alias`): a reader
scoped to districts names only their aliases, which is also what a Kibana role's index pattern
``leads-<slug>*`` grants on the basic licence. A mapping change is a new version plus an alias
swap, never an in-place edit. Building the template and the documents is pure (tested by
value); :func:`ensure_lead_index` and :func:`ensure_district_index` talk to Elasticsearch::

    ensure_lead_index(Elasticsearch("http://127.0.0.1:9200"), "leads")   # -> "leads-*-v2"

The mapping follows the lead-document table of ``docs/design.md``. ``dynamic: false`` keeps
unknown extra fields in ``_source`` without indexing them: a new field never breaks writes
(``strict`` would reject whole documents) and never pollutes the mapping.

A lead document has two owners. The machine fields (everything the matcher writes, plus
``run_id``, ``machine_updated_at`` and ``qualifies``) belong to the writers: the stream creates
them, a batch rerun refreshes them. The review state, ``status`` and the ``review`` object
(:data:`REVIEW_FIELDS`), belongs to officers: only the review service writes it (and the
stream's closer, for ``closed``), with optimistic concurrency.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from typing import Any, Final, Literal

from elasticsearch import ApiError, AsyncElasticsearch, Elasticsearch, TransportError

from connectors.errors import ServiceUnavailable, StackError
from connectors.indices import ensure_index, ensure_index_async

__all__ = [
    "DECIDED_STATUSES",
    "LEAD_INDEX_VERSION",
    "REVIEW_FIELDS",
    "UNASSIGNED_DISTRICT",
    "LeadStatus",
    "district_alias",
    "district_index_aliases",
    "district_index_name",
    "district_index_pattern",
    "district_slug",
    "drop_lead_index",
    "ensure_district_index",
    "ensure_district_index_async",
    "ensure_lead_index",
    "lead_index_template",
    "lead_mappings",
    "machine_fields",
    "move_version_1",
    "new_lead_document",
    "template_name",
    "upgrade_version_1",
    "versioned_index_name",
]

LEAD_INDEX_VERSION: Final = 2
"""Bump with every mapping change, then move the aliases to the new indices.

Version 2: per-district indices; ``run_id``, ``machine_updated_at``, ``qualifies``; the review
state under ``review`` (version 1 had ``status_reason`` and ``closed_at`` at the top).
"""

#: The officers' workflow (issue 15.2); ``closed`` is also the stream closer's.
LeadStatus = Literal["new", "reviewing", "confirmed", "rejected", "closed"]

#: Decided leads: a batch rerun never refreshes them.
DECIDED_STATUSES: Final = frozenset({"confirmed", "rejected"})

#: The review state: never written by the matcher's writers after creation.
REVIEW_FIELDS: Final = frozenset({"status", "review"})

# Above the built-in templates (priority 100-ish), so nothing stock can shadow ours. Each
# alias's template adds its alias's length: two templates of the same priority may not have
# overlapping patterns (``leads-d*-v*`` overlaps ``leads-dev-d*-v*``), and the longer, more
# specific alias then wins for its own indices. Aliases of equal length never overlap.
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
        "run_id",
        # sha256 of the event's canonical JSON: tells a redelivery from another event under
        # the same id (connectors/elasticsearch.py). Added to version 1 in place: an index made
        # before keeps it in _source, unindexed, and the writer reads it from _source only.
        "event_digest",
    )
    properties: dict[str, Any] = {name: dict(_KEYWORD) for name in keywords}
    properties |= {
        "machine_updated_at": dict(_DATE),
        "qualifies": {"type": "boolean"},
        "review": {
            "properties": {
                "assignee": dict(_KEYWORD),
                "decided_by": dict(_KEYWORD),
                "updated_by": dict(_KEYWORD),
                "closed_reason": dict(_KEYWORD),
                "note": dict(_TEXT),
                "decided_at": dict(_DATE),
                "updated_at": dict(_DATE),
                "closed_at": dict(_DATE),
            }
        },
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


def district_index_name(alias: str, district: str | None, version: int = LEAD_INDEX_VERSION) -> str:
    """Return the concrete index of a district's leads (``leads-d1a2b3c4d5e6f-v2``).

    Writers route every lead by its ``district`` to this index; lookups by ``lead_id`` derive
    it the same way, since a multi-index alias answers no get by id.
    """
    if version < 1:
        raise ValueError(f"index version must be at least 1, got {version}")
    return f"{district_alias(alias, district)}-v{version}"


def district_index_pattern(alias: str, version: int = LEAD_INDEX_VERSION) -> str:
    """Return the pattern of every district's index of ``version`` (``leads-*-v2``)."""
    return f"{alias}-*-v{version}"


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


def versioned_index_name(alias: str, version: int = 1) -> str:
    """Return the single index of the version-1 layout behind ``alias`` (before districts).

    Example: ``versioned_index_name("leads", 1)`` gives ``"leads-v1"``.
    """
    if version < 1:
        raise ValueError(f"index version must be at least 1, got {version}")
    return f"{alias}-v{version}"


def lead_index_template(alias: str, version: int = LEAD_INDEX_VERSION) -> dict[str, Any]:
    """Return the body of the composable index template for the lead indices behind ``alias``.

    The patterns match every district's index of every version (``leads-d*-v*``,
    ``leads-unassigned-v*``) so an index made for a later version gets the then-current
    mapping. The aliases are not in the template (a district's alias is per index): they are
    given when the index is created (:func:`ensure_district_index`). One shard suits a
    district's volume; ``auto_expand_replicas`` keeps a single-node cluster green and gives a
    bigger cluster a replica.
    """
    return {
        "index_patterns": [f"{alias}-d*-v*", f"{alias}-{UNASSIGNED_DISTRICT}-v*"],
        "priority": _TEMPLATE_PRIORITY + len(alias),
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


def district_index_aliases(alias: str, district: str | None) -> dict[str, Any]:
    """Return the aliases a district's index is created with: ``leads`` and ``leads-<slug>``.

    Writers write through the district alias (``require_alias``, so a missing one is an error,
    never an auto-created index without aliases); its write flag keeps that working when a
    later version's index joins the alias during a migration.
    """
    return {alias: {}, district_alias(alias, district): {"is_write_index": True}}


def new_lead_document(
    lead: Mapping[str, Any], *, run_id: str, now: str, qualifies: bool = True
) -> dict[str, Any]:
    """Return the document that creates a lead: machine fields, ``status: new``, empty review.

    A ``status`` or ``review`` the lead already carries (the stream closes a lead on write
    when its person has left the trace) is kept.

    Example:
        >>> doc = new_lead_document({"lead_id": "l1"}, run_id="stream", now="2026-01-01T00:00:00Z")
        >>> doc["status"], doc["review"], doc["qualifies"], doc["run_id"]
        ('new', {}, True, 'stream')
    """
    document = dict(lead)
    document |= {"run_id": run_id, "machine_updated_at": now, "qualifies": qualifies}
    document.setdefault("status", "new")
    document.setdefault("review", {})
    return document


def machine_fields(lead: Mapping[str, Any], *, run_id: str, now: str) -> dict[str, Any]:
    """Return the partial document a rerun writes: every field but the review state.

    Example:
        >>> machine_fields({"score": 3.0, "status": "new"}, run_id="job-1", now="t")
        {'score': 3.0, 'run_id': 'job-1', 'machine_updated_at': 't', 'qualifies': True}
    """
    fields = {name: value for name, value in lead.items() if name not in REVIEW_FIELDS}
    return fields | {"run_id": run_id, "machine_updated_at": now, "qualifies": True}


def ensure_lead_index(
    client: Elasticsearch, alias: str, *, version: int = LEAD_INDEX_VERSION
) -> str:
    """Put the template and make sure ``alias`` exists; return the pattern of its indices.

    Districts' indices are made on their first write (:func:`ensure_district_index`); this
    makes the ``unassigned`` district's at once, so the alias answers searches before any lead
    is written. A version-1 index behind the alias (``leads-v1``) is moved
    (:func:`move_version_1`): its leads are copied into their districts' indices, then it leaves
    the alias (kept, for the operator to delete). Idempotent; a concurrent creator is fine.

    Raises:
        StackError: a concrete index (not an alias) squats on the alias name, or
            Elasticsearch refused the template or the index.
        ServiceUnavailable: Elasticsearch did not answer.
    """
    try:
        client.indices.put_index_template(
            name=template_name(alias), **lead_index_template(alias, version)
        )
        if client.indices.exists(index=alias) and not client.indices.exists_alias(name=alias):
            raise StackError(
                f"Elasticsearch has a concrete index named {alias!r} where the alias should be;"
                " delete it or choose another TRACER_LEADS_ALIAS"
            )
        ensure_district_index(client, alias, None, version=version)
        move_version_1(client, alias)
        return district_index_pattern(alias, version)
    except ApiError as exc:
        raise StackError(f"could not set up the {alias!r} index: {exc}") from exc
    except TransportError as exc:
        raise ServiceUnavailable(f"Elasticsearch did not answer: {exc}") from exc


def ensure_district_index(
    client: Elasticsearch, alias: str, district: str | None, *, version: int = LEAD_INDEX_VERSION
) -> str:
    """Create a district's index behind ``alias`` and its district alias; return its name.

    Race-safe: when another writer created it first (or Elasticsearch auto-created it from the
    template, without aliases), the aliases are put on it. Errors are the caller's to translate.
    """
    index = district_index_name(alias, district, version)
    aliases = district_index_aliases(alias, district)
    if not ensure_index(client, index, aliases=aliases):
        for name, properties in aliases.items():
            client.indices.put_alias(index=index, name=name, **properties)
    return index


async def ensure_district_index_async(
    client: AsyncElasticsearch, alias: str, district: str | None
) -> str:
    """:func:`ensure_district_index` with the async client (the writers' side)."""
    index = district_index_name(alias, district)
    aliases = district_index_aliases(alias, district)
    if not await ensure_index_async(client, index, aliases=aliases):
        for name, properties in aliases.items():
            await client.indices.put_alias(index=index, name=name, **properties)
    return index


def upgrade_version_1(lead: Mapping[str, Any]) -> dict[str, Any]:
    """Return a version-1 lead as a version-2 document (pure).

    The closer's ``status_reason`` / ``closed_at`` move under ``review``; ``run_id`` is ``v1``
    and ``machine_updated_at`` the lead's ``@timestamp`` (when it was written is not known).

    Example:
        >>> upgrade_version_1({"status": "closed", "status_reason": "roster_located"})["review"]
        {'closed_reason': 'roster_located'}
    """
    document = dict(lead)
    review = dict(document.get("review") or {})
    for old, new in (("status_reason", "closed_reason"), ("closed_at", "closed_at")):
        if old in document:
            review[new] = document.pop(old)
    document["review"] = review
    document.setdefault("status", "new")
    document.setdefault("run_id", "v1")
    document.setdefault("machine_updated_at", document.get("@timestamp"))
    document.setdefault("qualifies", True)
    return document


def move_version_1(client: Elasticsearch, alias: str, *, page: int = 500) -> int:
    """Copy the leads of a version-1 index behind ``alias`` into their districts' indices.

    Point-in-time search and bulk ``create`` (no reindex API on the local zip); a lead already
    copied (a move that was interrupted) answers 409 and is left as it is. Only when every lead
    is copied does the old index leave the alias; it is not deleted. Returns how many leads
    were copied or found copied.

    Raises:
        StackError: a lead could not be copied (the old index stays behind the alias).
    """
    old = versioned_index_name(alias, 1)
    aliases = client.options(ignore_status=404).indices.get_alias(name=alias).body
    if old not in aliases:
        return 0
    moved = 0
    opened = client.open_point_in_time(index=old, keep_alive="2m")
    pit = {"id": opened["id"], "keep_alive": "2m"}
    after: list[Any] | None = None
    try:
        while True:
            found = client.search(pit=pit, size=page, sort=["_shard_doc"], search_after=after).body
            hits = found["hits"]["hits"]
            if not hits:
                break
            pit["id"], after = found.get("pit_id", pit["id"]), hits[-1]["sort"]
            moved += _copy_hits(client, alias, hits)
    finally:
        client.options(ignore_status=404).close_point_in_time(id=pit["id"])
    client.indices.update_aliases(actions=[{"remove": {"index": old, "alias": alias}}])
    return moved


def _copy_hits(client: Elasticsearch, alias: str, hits: list[Mapping[str, Any]]) -> int:
    """Create each hit in its district's index, making missing districts' indices once."""
    for attempt in range(2):
        operations: list[dict[str, Any]] = []
        for hit in hits:
            district = hit["_source"].get("district")
            target = district_alias(alias, district)
            operations.append(
                {"create": {"_index": target, "_id": hit["_id"], "require_alias": True}}
            )
            operations.append(upgrade_version_1(hit["_source"]))
        items = [next(iter(i.values())) for i in client.bulk(operations=operations)["items"]]
        missing = {
            str(hit["_source"].get("district") or "")
            for hit, item in zip(hits, items, strict=True)
            if item.get("status") == 404
        }
        failed = [item for item in items if item.get("status") not in (200, 201, 404, 409)]
        if failed:
            raise StackError(f"{len(failed)} version-1 leads could not be copied")
        if not missing:
            return len(hits)
        if attempt == 0:
            for district in sorted(missing):
                ensure_district_index(client, alias, district)
    raise StackError("version-1 leads found no district index after it was made")
