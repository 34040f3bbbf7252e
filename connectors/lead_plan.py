"""What a batch rerun does with each lead, and what an officer may write: pure rules.

The decisions of :class:`connectors.lead_store.LeadStore`, free of I/O so they are tested by
value: :func:`plan_refresh` (create, refresh, leave alone), :func:`same_machine_fields`,
:func:`scope_queries` (the leads of a run's scope still qualifying and not decided) and
:func:`check_review` (a review write holds ``status`` and ``review.*`` only).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal, get_args

from connectors.elasticsearch import RejectedLead
from connectors.lead_index import (
    DECIDED_STATUSES,
    REVIEW_FIELDS,
    LeadStatus,
    machine_fields,
    new_lead_document,
)

__all__ = [
    "REVIEW_KEYS",
    "EventScope",
    "RefreshAction",
    "RefreshCounts",
    "ReviewVersion",
    "Scope",
    "StoredLead",
    "TimeScope",
    "check_review",
    "chunks",
    "plan_refresh",
    "same_machine_fields",
    "scope_queries",
]

RefreshAction = Literal["create", "update", "unchanged", "kept_reviewed"]
"""What a rerun does with one lead (see the module docstring)."""

#: What ``set_review`` may write under ``review``.
REVIEW_KEYS: Final = frozenset(
    {"assignee", "note", "decided_by", "decided_at", "updated_by", "updated_at"}
    | {"closed_reason", "closed_at"}
)
_STATUSES: Final = frozenset(get_args(LeadStatus))
_BOOKKEEPING: Final = frozenset({"run_id", "machine_updated_at", "qualifies"})
_MAX_TERMS: Final = 10_000  # event ids per terms query (Elasticsearch's limit is 65,536)


@dataclass(frozen=True, slots=True)
class RefreshCounts:
    """What a rerun did to the store; counts of several calls add up with ``+``."""

    created: int = 0
    refreshed: int = 0
    unchanged: int = 0
    kept_reviewed: int = 0
    superseded: int = 0
    #: A lead_id given twice in one call: the first is written.
    duplicates: int = 0
    #: Still conflicting after ``max_rounds`` re-reads (logged): the next rerun retries them.
    unresolved: int = 0
    rejected: tuple[RejectedLead, ...] = ()

    def __add__(self, other: RefreshCounts) -> RefreshCounts:
        return RefreshCounts(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(RefreshCounts))
        )


@dataclass(frozen=True, slots=True)
class ReviewVersion:
    """The sequence number and primary term of a lead after a write (for the next write)."""

    seq_no: int
    primary_term: int


@dataclass(frozen=True, slots=True)
class StoredLead:
    """A lead as stored, with the version an officer's write must be conditional on."""

    source: Mapping[str, Any]
    version: ReviewVersion


@dataclass(frozen=True, slots=True)
class EventScope:
    """A run that read these events: ``(source, event_id)`` pairs."""

    events: frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class TimeScope:
    """A run that read every event with ``since <= occurred_at < until`` (ISO-8601)."""

    since: str
    until: str


Scope = EventScope | TimeScope


def same_machine_fields(lead: Mapping[str, Any], stored: Mapping[str, Any]) -> bool:
    """Whether a rerun's lead would change nothing of the stored one (pure).

    The run's own bookkeeping (``run_id``, ``machine_updated_at``) is no change; a stored lead
    marked not qualifying that the run produces again is.
    """
    if stored.get("qualifies", True) is not True:
        return False
    skip = REVIEW_FIELDS | _BOOKKEEPING
    return all(stored.get(name) == value for name, value in lead.items() if name not in skip)


def plan_refresh(
    lead: Mapping[str, Any], stored: Mapping[str, Any] | None, *, run_id: str, now: str
) -> tuple[RefreshAction, dict[str, Any] | None]:
    """Decide what a rerun does with ``lead`` given the stored document (pure).

    Returns:
        The action and the document to send (``None`` when nothing is written).
    """
    if stored is None:
        return "create", new_lead_document(lead, run_id=run_id, now=now)
    if stored.get("status") in DECIDED_STATUSES:
        return "kept_reviewed", None
    if same_machine_fields(lead, stored):
        return "unchanged", None
    return "update", machine_fields(lead, run_id=run_id, now=now)


def check_review(changes: Mapping[str, Any]) -> None:
    """Refuse anything but ``status`` and known ``review`` keys (a machine field, a typo)."""
    extra = set(changes) - REVIEW_FIELDS
    if extra:
        raise ValueError(f"a review write holds only status and review, not {sorted(extra)}")
    if "status" in changes and changes["status"] not in _STATUSES:
        raise ValueError(f"unknown status {changes['status']!r}")
    review = changes.get("review", {})
    if not isinstance(review, Mapping) or set(review) - REVIEW_KEYS:
        raise ValueError(f"unknown review fields: {sorted(set(review) - REVIEW_KEYS)}")
    if not changes:
        raise ValueError("nothing to write")


def scope_queries(scope: Scope) -> list[dict[str, Any]]:
    """Return the queries over the run's scope for leads still qualifying and not decided.

    An event scope becomes one query per source and 10,000 event ids.
    """
    not_done = [
        {"term": {"qualifies": False}},
        {"terms": {"status": sorted(DECIDED_STATUSES)}},
    ]
    if isinstance(scope, TimeScope):
        within = [{"range": {"occurred_at": {"gte": scope.since, "lt": scope.until}}}]
        return [{"bool": {"filter": within, "must_not": not_done}}]
    by_source: dict[str, list[str]] = {}
    for source, event_id in sorted(scope.events):
        by_source.setdefault(source, []).append(event_id)
    return [
        {
            "bool": {
                "filter": [{"term": {"source": source}}, {"terms": {"event_id": chunk}}],
                "must_not": not_done,
            }
        }
        for source, ids in by_source.items()
        for chunk in chunks(ids, _MAX_TERMS)
    ]


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Yield ``items`` in lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
