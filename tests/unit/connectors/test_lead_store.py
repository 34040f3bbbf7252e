"""The lead store's pure rules by value: what a rerun does with a lead, scopes, review writes."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.elasticsearch import RejectedLead
from connectors.lead_store import (
    EventScope,
    LeadStore,
    RefreshCounts,
    TimeScope,
    plan_refresh,
    same_machine_fields,
    scope_queries,
)

LEAD = {"lead_id": "l1", "score": 12.5, "model_version": "m1", "status": "new", "district": "x"}
STORED = LEAD | {"run_id": "job-1", "machine_updated_at": "t0", "qualifies": True, "review": {}}

PLANS = {
    "absent: created new, empty review": (None, "create"),
    "same machine fields: unchanged": (STORED, "unchanged"),
    "another run's bookkeeping is no change": (
        STORED | {"run_id": "x", "machine_updated_at": "y"},
        "unchanged",
    ),
    "an officer's state is no change": (
        STORED | {"status": "reviewing", "review": {"note": "n"}},
        "unchanged",
    ),
    "a new score: refreshed": (STORED | {"score": 3.0}, "update"),
    "marked not qualifying, produced again: refreshed": (STORED | {"qualifies": False}, "update"),
    "confirmed: kept, even with a new score": (
        STORED | {"status": "confirmed", "score": 1.0},
        "kept_reviewed",
    ),
    "rejected: kept": (STORED | {"status": "rejected", "score": 1.0}, "kept_reviewed"),
    "closed, rescored: refreshed (status stays)": (
        STORED | {"status": "closed", "score": 1.0},
        "update",
    ),
}


@pytest.mark.parametrize(("stored", "action"), PLANS.values(), ids=list(PLANS))
def test_plan_refresh(stored: dict[str, Any] | None, action: str) -> None:
    planned, document = plan_refresh(LEAD, stored, run_id="job-2", now="t1")
    assert planned == action
    if action == "create":
        assert document == LEAD | {
            "run_id": "job-2",
            "machine_updated_at": "t1",
            "qualifies": True,
            "review": {},
        }
    elif action == "update":
        # Machine fields only: never status, never review.
        assert document == {
            "lead_id": "l1",
            "score": 12.5,
            "model_version": "m1",
            "district": "x",
            "run_id": "job-2",
            "machine_updated_at": "t1",
            "qualifies": True,
        }
    else:
        assert document is None


def test_a_field_the_stored_lead_lacks_is_a_change() -> None:
    assert not same_machine_fields(LEAD | {"flags": ["id_masked"]}, STORED)
    assert same_machine_fields(LEAD, STORED | {"a_field_of_old": 1})


def test_counts_add_up() -> None:
    rejected = RejectedLead({"lead_id": "l"}, 400, "mapper_parsing_exception")
    total = RefreshCounts(created=1, unchanged=2) + RefreshCounts(
        created=3, superseded=1, rejected=(rejected,)
    )
    assert total == RefreshCounts(created=4, unchanged=2, superseded=1, rejected=(rejected,))


def test_a_time_scope_is_one_range_query_leaving_out_decided_and_marked_leads() -> None:
    (query,) = scope_queries(TimeScope("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"))
    assert query == {
        "bool": {
            "filter": [
                {
                    "range": {
                        "occurred_at": {"gte": "2026-11-01T00:00:00Z", "lt": "2026-11-02T00:00:00Z"}
                    }
                }
            ],
            "must_not": [
                {"term": {"qualifies": False}},
                {"terms": {"status": ["confirmed", "rejected"]}},
            ],
        }
    }


def test_an_event_scope_is_a_query_per_source_and_ten_thousand_ids() -> None:
    events = {("bank", f"e{n}") for n in range(10_001)} | {("telecom", "t1")}
    queries = scope_queries(EventScope(frozenset(events)))
    shapes = [
        (q["bool"]["filter"][0]["term"]["source"], len(q["bool"]["filter"][1]["terms"]["event_id"]))
        for q in queries
    ]
    assert shapes == [("bank", 10_000), ("bank", 1), ("telecom", 1)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"score": 1.0}, "status and review"),
        ({"status": "reviewing", "model_version": "m9"}, "status and review"),
        ({"status": "approved"}, "unknown status"),
        ({"review": {"verdict": "yes"}}, "unknown review fields"),
        ({}, "nothing to write"),
    ],
)
async def test_a_review_write_refuses_anything_but_status_and_review(
    changes: dict[str, Any], message: str
) -> None:
    store = LeadStore(object(), "leads")  # refused before any request
    with pytest.raises(ValueError, match=message):
        await store.set_review("l1", "x", changes, if_seq_no=0, if_primary_term=1)


async def test_a_rerun_refuses_a_blank_run_id_and_leads_of_another_model() -> None:
    store = LeadStore(object(), "leads")
    with pytest.raises(ValueError, match="run_id"):
        await store.refresh([LEAD], run_id=" ", model_version="m1")
    with pytest.raises(ValueError, match="model version"):
        await store.refresh([LEAD], run_id="job-2", model_version="m2")
