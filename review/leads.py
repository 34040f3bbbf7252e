"""Leads as officers read and decide them: every read goes to the user's district aliases.

An officer of 美兰区 searches ``leads-<slug(美兰区)>`` and nothing else
(``connectors.lead_index.district_alias``), never the whole ``leads`` alias with a filter: the
same separation a Kibana role's index pattern gives, so a bug in a filter cannot show another
district's lead. A lead outside one's districts and a lead that does not exist look the same:
not found.

One lead is read, and its review state written, through ``connectors.lead_store.LeadStore``
(the one home of lead reads and writes): :meth:`LeadReader.get` is the store's realtime ``get``
in each of the user's districts' aliases, and the review write is the store's ``set_review``
(``status`` and ``review.*`` only, under the sequence number and primary term read with the
lead: a second officer deciding the same lead meets
:class:`~connectors.errors.ReviewConflict`).

User text reaches Elasticsearch only as values (``match``, ``term``, ``range``), never as
query syntax.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from connectors.errors import LeadNotFound
from connectors.lead_index import district_alias
from connectors.lead_store import LeadStore
from connectors.retry import Retrier
from elasticsearch import AsyncElasticsearch

from review.elastic import REQUEST_POLICY, es_call

__all__ = [
    "PAGE_SIZE",
    "LeadFilters",
    "LeadHit",
    "LeadReader",
    "review_mappings",
    "search_body",
]

PAGE_SIZE: Final = 20
MAX_PAGE: Final = 50  # from + size stays at 1,000: deeper is a narrower search, not paging
_LEAD_ID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SORTS: Final = {
    "score": [{"score": "desc"}, {"lead_id": "asc"}],
    "time": [{"occurred_at": "desc"}, {"lead_id": "asc"}],
}
Sort = Literal["score", "time"]


def review_mappings() -> dict[str, Any]:
    """The lead mapping's additions for the review state (lead document v2).

    The ``store`` helper's v2 mapping carries these; until then tests add them to theirs.
    """
    keyword, date = {"type": "keyword"}, {"type": "date"}
    return {
        "run_id": keyword,
        "qualifies": {"type": "boolean"},
        "machine_updated_at": date,
        "review": {
            "properties": {
                "assignee": keyword,
                "note": {"type": "text"},
                "decided_by": keyword,
                "decided_at": date,
                "updated_by": keyword,
                "updated_at": date,
                "closed_reason": keyword,
                "closed_at": date,
            }
        },
    }


@dataclass(frozen=True, slots=True)
class LeadFilters:
    """A search's filters, each optional; texts are values, never query syntax."""

    tier: str | None = None
    status: str | None = None
    source: str | None = None
    district: str | None = None
    person_id: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    text: str | None = None
    sort: Sort = "score"
    page: int = 1

    def as_details(self) -> dict[str, Any]:
        """The filters for an audit record (only those given)."""
        return {k: str(v) for k in self.__slots__ if (v := getattr(self, k)) not in (None, "")}


@dataclass(frozen=True, slots=True)
class LeadHit:
    """A lead read for a decision: its district's alias and version, and its document."""

    index: str
    seq_no: int
    primary_term: int
    lead: dict[str, Any]


def search_body(filters: LeadFilters) -> dict[str, Any]:
    """The body of a lead search (pure; tested by value)."""
    must: list[dict[str, Any]] = []
    flt: list[dict[str, Any]] = [
        {"term": {name: value}}
        for name, value in (
            ("tier", filters.tier),
            ("status", filters.status),
            ("source", filters.source),
            ("person_id", filters.person_id),
        )
        if value
    ]
    if filters.since or filters.until:
        bounds: dict[str, str] = {}
        if filters.since:
            bounds["gte"] = filters.since.isoformat()
        if filters.until:  # the whole last day
            bounds["lt"] = (filters.until + dt.timedelta(days=1)).isoformat()
        flt.append({"range": {"occurred_at": bounds}})
    if filters.text and filters.text.strip():
        text = filters.text.strip()[:200]
        must.append(
            {
                "bool": {
                    "should": [
                        {"match": {"person_name": {"query": text}}},
                        {"match": {"event_name": {"query": text}}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    page = min(max(filters.page, 1), MAX_PAGE)
    return {
        "query": {"bool": {"filter": flt, "must": must}},
        "sort": _SORTS[filters.sort],
        "from": (page - 1) * PAGE_SIZE,
        "size": PAGE_SIZE,
        "track_total_hits": 10_000,
    }


class LeadReader:
    """Reads leads through district aliases only.

    Args:
        client: the async Elasticsearch client.
        alias: the leads alias (``leads``); districts' aliases are derived from it.
        events_alias: the event archive (``events``), where "reveal" reads the numbers.
    """

    def __init__(self, client: AsyncElasticsearch, alias: str, events_alias: str) -> None:
        self._client = client
        self._alias = alias
        self._events = events_alias
        # A person waits at the page: the store retries as briefly as every request here.
        self.store = LeadStore(client, alias, retrier=Retrier(REQUEST_POLICY))

    def aliases(self, districts: Sequence[str]) -> list[str]:
        """The aliases a user with these districts may read (sorted, no duplicates)."""
        return sorted({district_alias(self._alias, d) for d in districts})

    async def search(
        self, districts: Sequence[str], filters: LeadFilters
    ) -> tuple[int, list[dict[str, Any]]]:
        """Return the total and one page of leads of ``districts`` matching ``filters``."""
        if filters.district is not None and filters.district.strip():
            wanted = filters.district.strip()
            districts = [d for d in districts if d.strip() == wanted]
        body = search_body(filters)
        found = await self._search(self.aliases(districts), body)
        return int(found["hits"]["total"]["value"]), [h["_source"] for h in found["hits"]["hits"]]

    async def get(self, districts: Sequence[str], lead_id: str) -> LeadHit | None:
        """Return a lead of ``districts`` with its version, or ``None`` (absent or not theirs).

        A realtime get by id in each district's alias (the version is the one a write must
        be based on, even before a refresh). The lead's own ``district`` is checked too: a get
        by id through a filtered alias would not apply its filter.
        """
        if not _LEAD_ID.fullmatch(lead_id):
            return None
        for district in sorted(set(districts)):
            try:
                found = await self.store.get(lead_id, district)
            except LeadNotFound:
                continue
            if str(found.source.get("district") or "").strip() != district.strip():
                continue
            version = found.version
            return LeadHit(
                district_alias(self._alias, district),
                version.seq_no,
                version.primary_term,
                dict(found.source),
            )
        return None

    async def person_leads(
        self, districts: Sequence[str], person_id: str, *, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The person's leads in ``districts``, oldest first (the lead page's timeline)."""
        body = {
            "query": {"bool": {"filter": [{"term": {"person_id": person_id}}]}},
            "sort": [{"occurred_at": "asc"}, {"lead_id": "asc"}],
            "size": limit,
        }
        return [
            h["_source"]
            for h in (await self._search(self.aliases(districts), body))["hits"]["hits"]
        ]

    async def queue(
        self, districts: Sequence[str], username: str, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Leads assigned to ``username`` in their districts: open first, then decided."""
        body = {
            "query": {"bool": {"filter": [{"term": {"review.assignee": username}}]}},
            "sort": [{"review.updated_at": {"order": "desc", "unmapped_type": "date"}}],
            "size": limit,
        }
        return [
            h["_source"]
            for h in (await self._search(self.aliases(districts), body))["hits"]["hits"]
        ]

    async def event_numbers(self, lead: dict[str, Any]) -> dict[str, str]:
        """The full id and phone of a lead's event, read from the event archive.

        The archive (``connectors.event_archive``) keeps the text of the fields matching reads
        under ``fields``; a card number is not among them, so it is never shown. Returns an
        empty dict when the archive does not hold the event (past its retention).
        """
        event_id, source = str(lead.get("event_id", "")), str(lead.get("source", ""))
        either = [{"term": {"event_id": event_id}}, {"term": {"event_id.keyword": event_id}}]
        body = {"query": {"bool": {"should": either, "minimum_should_match": 1}}, "size": 5}
        for hit in (await self._search([self._events], body))["hits"]["hits"]:
            event = hit["_source"]
            if event.get("event_id") == event_id and event.get("source") == source:
                fields = event.get("fields") or {}
                return {k: str(fields[k]) for k in ("id_number", "phone") if fields.get(k)}
        return {}

    async def _search(self, indices: list[str], body: dict[str, Any]) -> dict[str, Any]:
        if not indices:
            return {"hits": {"total": {"value": 0}, "hits": []}}
        found = await es_call(
            lambda: self._client.search(
                index=",".join(indices), ignore_unavailable=True, allow_no_indices=True, **body
            )
        )
        return dict(found.body)
