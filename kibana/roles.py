"""Least privilege in Elasticsearch for the Docker stack: roles and users as code.

Pure: the bodies of Elasticsearch's role and user APIs (``PUT _security/role/<name>``,
``PUT _security/user/<name>``), built from the names the code uses, so a renamed alias shows
up here. :func:`officer_role` is how officers are kept apart on the basic licence (no
document-level security): a role per district grants read on that district's alias and
indices only, ``<alias>-<slug>*`` (``connectors.lead_index.district_alias``)::

    officer_role("leads", ["美兰区"])["indices"][0]["names"]   # -> ["leads-d…*"]

Who is who (``tracer roles table`` prints the district part for operators):

- ``elastic``: the set-up job only; everything (templates, roles, users).
- ``kibana_system``: Kibana; Kibana's own indices (built in).
- ``tracer_worker``: ``tracer worker``; leads: create indices, index, read; alerts and audit:
  create documents; the event archive: create day indices and documents; subscriptions: read.
- ``tracer_review``: the review service; leads: read, update; audit: create documents;
  subscriptions and review-users: read, write.
- ``tracer_retention``: ``tracer retention``; delete old day indices and old documents.
- officers (``tracer_officer_<slug>``), in Kibana: read their districts' leads.
- supervisors (``tracer_supervisor``), in Kibana: read every district's leads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from connectors.lead_index import district_slug

__all__ = [
    "ALERTS_INDEX",
    "AUDIT_INDEX",
    "EVENTS_INDEX_PREFIX",
    "KIBANA_READ_PRIVILEGES",
    "REVIEW_USERS_INDEX",
    "SERVICE_USERS",
    "SUBSCRIPTIONS_INDEX",
    "district_table",
    "officer_role",
    "officer_role_name",
    "service_roles",
]

# The indices and aliases decided for the project (issue 17's brief, "Names").
ALERTS_INDEX: Final = "alerts"
AUDIT_INDEX: Final = "audit"
SUBSCRIPTIONS_INDEX: Final = "subscriptions"
REVIEW_USERS_INDEX: Final = "review-users"
#: The event archive: day indices ``events-YYYY.MM.DD`` behind the alias ``events``.
EVENTS_INDEX_PREFIX: Final = "events"

#: What officers and supervisors may do in Kibana's default space: look, not change.
KIBANA_READ_PRIVILEGES: Final = (
    "feature_discover_v2.read",
    "feature_dashboard_v2.read",
    "feature_visualize_v2.read",
)

#: Each service user, its role (same name) and the ``.env`` variable holding its password.
SERVICE_USERS: Final[Mapping[str, str]] = {
    "tracer_worker": "ES_WORKER_PASSWORD",
    "tracer_review": "ES_REVIEW_PASSWORD",
    "tracer_retention": "ES_RETENTION_PASSWORD",
}


def _grant(names: Iterable[str], *privileges: str) -> dict[str, Any]:
    return {"names": sorted(names), "privileges": sorted(privileges)}


def _kibana_read() -> list[dict[str, Any]]:
    return [
        {
            "application": "kibana-.kibana",
            "privileges": list(KIBANA_READ_PRIVILEGES),
            "resources": ["space:default"],
        }
    ]


def _leads(alias: str) -> tuple[str, str]:
    return alias, f"{alias}-*"


def _with_pattern(name: str) -> tuple[str, str]:
    # The alias and the versioned indices behind it.
    return name, f"{name}-*"


def service_roles(alias: str) -> dict[str, dict[str, Any]]:
    """Return the service roles (and the supervisors') by name, as role API bodies."""
    events = _with_pattern(EVENTS_INDEX_PREFIX)
    return {
        "tracer_worker": {
            "cluster": ["monitor"],
            "indices": [
                # create_index: a district's first lead creates its index (the store helper).
                _grant(_leads(alias), "create_index", "index", "read", "view_index_metadata"),
                _grant(_with_pattern(ALERTS_INDEX), "create_doc", "view_index_metadata"),
                _grant(_with_pattern(AUDIT_INDEX), "create_doc", "view_index_metadata"),
                _grant(events, "create_index", "create_doc", "view_index_metadata"),
                _grant([SUBSCRIPTIONS_INDEX], "read", "view_index_metadata"),
            ],
        },
        "tracer_review": {
            "cluster": [],
            "indices": [
                _grant(_leads(alias), "read", "index", "view_index_metadata"),
                _grant(_with_pattern(AUDIT_INDEX), "create_doc", "view_index_metadata"),
                _grant(
                    [SUBSCRIPTIONS_INDEX, REVIEW_USERS_INDEX],
                    "read",
                    "index",
                    "delete",
                    "view_index_metadata",
                ),
            ],
        },
        "tracer_retention": {
            "cluster": ["monitor"],
            "indices": [
                _grant(events, "delete_index", "view_index_metadata"),
                _grant(
                    [*_leads(alias), *_with_pattern(ALERTS_INDEX), *_with_pattern(AUDIT_INDEX)],
                    "read",
                    "delete",
                    "view_index_metadata",
                ),
            ],
        },
        "tracer_supervisor": {
            "cluster": [],
            "indices": [_grant(_leads(alias), "read", "view_index_metadata")],
            "applications": _kibana_read(),
        },
    }


def officer_role_name(district: str | None) -> str:
    """Return the role of a district's officers: ``tracer_officer_<slug>``."""
    return f"tracer_officer_{district_slug(district)}"


def officer_role(alias: str, districts: Iterable[str | None]) -> dict[str, Any]:
    """Return a role that reads the leads of ``districts`` only (their aliases and indices)."""
    patterns = {f"{alias}-{district_slug(district)}*" for district in districts}
    if not patterns:
        raise ValueError("an officer role needs at least one district")
    return {
        "cluster": [],
        "indices": [_grant(patterns, "read", "view_index_metadata")],
        "applications": _kibana_read(),
    }


def district_table(alias: str, districts: Iterable[str]) -> list[tuple[str, str, str, str]]:
    """Return (district, slug, role, index pattern) per distinct district, in input order."""
    rows: dict[str, tuple[str, str, str, str]] = {}
    for district in districts:
        slug = district_slug(district)
        rows.setdefault(
            slug, (district.strip(), slug, officer_role_name(district), f"{alias}-{slug}*")
        )
    return list(rows.values())
