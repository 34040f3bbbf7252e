"""Helpers for the review service's tests: a private world of districts, leads and users.

No tests here. Every name is unique to the test module (index prefix), so tests of other
helpers on the shared Elasticsearch never meet these documents. The lead indices follow the
decided layout: one index per district, ``{alias}-{slug}-v1``, behind ``{alias}`` and its
district alias ``{alias}-{slug}`` (what the ``store`` helper will create for real).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from elasticsearch import AsyncElasticsearch, Elasticsearch

from connectors.lead_index import district_alias, lead_mappings
from matchers.leads import lead_id as make_lead_id
from review.audit import AuditTrail
from review.leads import review_mappings
from review.security import LoginLimiter, SessionCodec, hash_password
from review.service import ReviewConfig, ReviewService
from review.users import users_mappings
from tracer.settings import TracerSettings

DISTRICTS = ("美兰区", "龙华区")
PASSWORD = "correct horse battery"
SECRET = b"s" * 48
# username -> (role, districts)
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "officer1": ("officer", ("美兰区",)),
    "officer2": ("officer", ("美兰区",)),
    "other": ("officer", ("龙华区",)),
    "supervisor": ("supervisor", ("美兰区",)),
    "auditor": ("auditor", ()),
    "admin": ("admin", ()),
}
FULL_ID = "460108199001017124"


@dataclass(frozen=True)
class World:
    """Names of one test module's private indices."""

    alias: str
    users: str
    audit: str
    events: str

    def all(self) -> list[str]:
        return [self.alias, self.users, self.audit, self.events]


def lead_index_mappings() -> dict[str, Any]:
    mappings = lead_mappings()
    mappings["properties"] |= review_mappings()
    return mappings


def build_world(es: Elasticsearch, prefix: str) -> World:
    world = World(f"{prefix}-leads", f"{prefix}-users", f"{prefix}-audit", f"{prefix}-events")
    for district in DISTRICTS:
        scoped = district_alias(world.alias, district)
        es.indices.create(
            index=f"{scoped}-v1",
            mappings=lead_index_mappings(),
            aliases={world.alias: {}, scoped: {}},
        )
    es.indices.create(index=f"{world.events}-2026.12.01", aliases={world.events: {}})
    es.indices.create(index=world.users, mappings=users_mappings())
    now = dt.datetime.now(dt.UTC).isoformat()
    for username, (role, districts) in USERS.items():
        doc = {
            "username": username,
            "role": role,
            "districts": list(districts),
            "password_hash": hash_password(PASSWORD),
            "disabled": False,
            "created_at": now,
        }
        es.index(index=world.users, id=username, document=doc)
    es.indices.refresh(index=world.users)
    return world


def drop_world(es: Elasticsearch, prefix: str) -> None:
    # Deleting by wildcard is refused (action.destructive_requires_name): list, then name each.
    found = es.options(ignore_status=404).indices.get(index=f"{prefix}-*", expand_wildcards="all")
    for index in found.body if isinstance(found.body, dict) else ():
        if index.startswith(f"{prefix}-"):
            es.options(ignore_status=404).indices.delete(index=index)


@contextlib.contextmanager
def private_world(es: Elasticsearch, stem: str) -> Iterator[World]:
    """A world under a fresh prefix ``{stem}-{8 hex}``, dropped afterwards whatever happens."""
    prefix = f"{stem}-{uuid.uuid4().hex[:8]}"
    try:
        yield build_world(es, prefix)
    finally:
        drop_world(es, prefix)


def review_service(settings: TracerSettings, world: World, **limits: Any) -> ReviewService:
    """The review service over a world's indices (no audit topic), as ``tracer serve`` builds it.

    ``limits`` go to its :class:`~review.security.LoginLimiter`.
    """
    client = AsyncElasticsearch(settings.elasticsearch_url, request_timeout=30)
    config = ReviewConfig(
        leads_alias=world.alias,
        users_index=world.users,
        audit_index=world.audit,
        events_alias=world.events,
        audit_topic=None,
    )
    codec = SessionCodec(SECRET, lifetime_s=600)
    trail = AuditTrail(client, world.audit)
    return ReviewService(client, config, codec, trail, limiter=LoginLimiter(**limits))


def make_lead(
    *,
    district: str = "美兰区",
    person_id: str | None = None,
    status: str = "new",
    score: float = 18.5,
    tier: str = "high",
    person_name: str = "王建国",
    occurred_at: str = "2026-12-01T10:00:00+08:00",
    source: str = "bank",
) -> dict[str, Any]:
    person = person_id or f"P-{uuid.uuid4().hex[:8]}"
    event_id = f"bank-{uuid.uuid4().hex[:10]}"
    return {
        "lead_id": make_lead_id(person, source, event_id),
        "person_id": person,
        "event_id": event_id,
        "source": source,
        "event_type": "account_opened",
        "occurred_at": occurred_at,
        "@timestamp": occurred_at,
        "score": score,
        "probability": 0.99,
        "tier": tier,
        "status": status,
        "district": district,
        "case_officer": "李警官",
        "person_name": person_name,
        "event_name": person_name,
        "explanation": {
            "reason_zh": "证件号一致；姓名一致",
            "reason_en": "ID number identical; name identical",
            "fields": [
                {
                    "field": "id_number",
                    "level": "exact",
                    "weight": 14.2,
                    "detail_zh": "证件号一致（4601**************）",
                    "detail_en": "ID number identical (4601**************)",
                },
                {
                    "field": "name",
                    "level": "exact",
                    "weight": 6.1,
                    "detail_zh": f"姓名一致（{person_name}）",
                    "detail_en": f"name identical ({person_name})",
                },
                {
                    "field": "phone",
                    "level": "disagree",
                    "weight": -1.8,
                    "detail_zh": "电话不同（138****5678 / 139****0000）",
                    "detail_en": "phones differ (138****5678 / 139****0000)",
                },
            ],
        },
        "flags": [],
        "model_version": "test",
        "run_id": "stream",
        "qualifies": True,
        **({"review": {"assignee": "officer1"}} if status != "new" else {}),
    }


def put_lead(es: Elasticsearch, world: World, lead: dict[str, Any]) -> dict[str, Any]:
    """Index a lead into its district's index (refreshed), and its event into the archive."""
    index = f"{district_alias(world.alias, lead['district'])}-v1"
    es.index(index=index, id=lead["lead_id"], document=lead, refresh="wait_for")
    # Shaped as the event archive keeps it (connectors.event_archive.archive_document).
    event = {
        "event_id": lead["event_id"],
        "source": lead["source"],
        "fields": {"id_number": FULL_ID, "phone": "13812345678", "name": lead["event_name"]},
    }
    es.index(index=f"{world.events}-2026.12.01", document=event, refresh="wait_for")
    return lead


def audit_records(es: Elasticsearch, world: World, **terms: str) -> list[dict[str, Any]]:
    es.indices.refresh(index=world.audit)
    query = {"bool": {"filter": [{"term": {k: v}} for k, v in terms.items()]}}
    found = es.search(index=world.audit, query=query, size=1000)
    return [hit["_source"] for hit in found["hits"]["hits"]]


def stored(es: Elasticsearch, world: World, lead_id: str, district: str = "美兰区") -> Any:
    """A lead as stored in its district's index."""
    return es.get(index=f"{district_alias(world.alias, district)}-v1", id=lead_id)["_source"]
