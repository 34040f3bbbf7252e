"""The role matrix, the workflow, the search body, the audit record and the waterfall (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from review.audit import audit_entry, audit_query
from review.leads import MAX_PAGE, PAGE_SIZE, LeadFilters, search_body
from review.roles import ACTIONS, MATRIX, ROLES, allowed
from review.views import waterfall
from review.workflow import MAX_NOTE_CHARS, TransitionRefused, check_note, transition

# Written out once more on purpose: a change of the matrix must be a change of this table too.
EXPECTED = {
    ("officer", "search"), ("officer", "view"), ("officer", "queue"), ("officer", "reveal"),
    ("officer", "claim"), ("officer", "decide"),
    ("supervisor", "search"), ("supervisor", "view"), ("supervisor", "queue"),
    ("supervisor", "claim"), ("supervisor", "decide"), ("supervisor", "reopen"),
    ("supervisor", "reassign"),
    ("auditor", "audit_read"),
    ("admin", "users_manage"),
}  # fmt: skip


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_matrix(role: str, action: str) -> None:
    assert allowed(role, action) == ((role, action) in EXPECTED)


def test_unknown_roles_and_actions_may_do_nothing() -> None:
    assert not any(allowed("root", a) for a in ACTIONS)
    assert not any(allowed(r, "delete_everything") for r in ROLES)
    assert set(MATRIX) == set(ROLES)


@pytest.mark.parametrize(
    ("action", "current", "verdict", "expected"),
    [
        ("claim", "new", None, "reviewing"),
        ("decide", "reviewing", "confirmed", "confirmed"),
        ("decide", "reviewing", "rejected", "rejected"),
        ("reopen", "confirmed", None, "reviewing"),
        ("reopen", "rejected", None, "reviewing"),
        ("reassign", "new", None, "new"),
        ("reassign", "reviewing", None, "reviewing"),
    ],
)
def test_transitions(action: str, current: str, verdict: str | None, expected: str) -> None:
    assert transition(action, current, verdict) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("action", "current"),
    [
        ("claim", "reviewing"),
        ("decide", "new"),
        ("decide", "confirmed"),
        ("reopen", "reviewing"),
        ("reopen", "closed"),
        ("claim", "closed"),
        ("reassign", "confirmed"),
    ],
)
def test_refused_transitions_are_409(action: str, current: str) -> None:
    with pytest.raises(TransitionRefused) as refused:
        transition(action, current, "confirmed")  # type: ignore[arg-type]
    assert refused.value.status == 409


def test_a_verdict_must_be_one_of_two_and_a_note_is_bounded() -> None:
    with pytest.raises(TransitionRefused) as bad:
        transition("decide", "reviewing", "maybe")
    assert bad.value.status == 400
    assert check_note("  ok  ", required=True) == "ok"
    for note in (None, "   "):
        with pytest.raises(TransitionRefused):
            check_note(note, required=True)
    with pytest.raises(TransitionRefused):
        check_note("x" * (MAX_NOTE_CHARS + 1), required=False)


def test_search_body_puts_text_in_values_and_bounds_paging() -> None:
    text = "*:* OR person_id:*"
    body = search_body(
        LeadFilters(
            tier="high",
            text=text,
            since=dt.date(2026, 12, 1),
            until=dt.date(2026, 12, 2),
            sort="time",
            page=10_000,
        )
    )
    should = body["query"]["bool"]["must"][0]["bool"]["should"]
    assert should == [
        {"match": {"person_name": {"query": text}}},
        {"match": {"event_name": {"query": text}}},
    ]
    assert "query_string" not in str(body)
    assert {"term": {"tier": "high"}} in body["query"]["bool"]["filter"]
    assert {"range": {"occurred_at": {"gte": "2026-12-01", "lt": "2026-12-03"}}} in body["query"][
        "bool"
    ]["filter"]
    assert body["from"] == (MAX_PAGE - 1) * PAGE_SIZE and body["size"] == PAGE_SIZE
    assert body["sort"][0] == {"occurred_at": "desc"}


def test_audit_entry_masks_numbers_and_bounds_text() -> None:
    entry = audit_entry(
        actor="wang",
        role="officer",
        action="search",
        outcome="allowed",
        address="127.0.0.1",
        now=dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
        details={"q": "460105199001017124 13812345678", "long": "x" * 10_000, "n": [1] * 500},
    )
    text = str(entry)
    assert "460105199001017124" not in text and "13812345678" not in text
    assert len(entry["details"]["long"]) == 500 and len(entry["details"]["n"]) == 50
    assert entry["@timestamp"].startswith("2026-12-07T00:00:00")


def test_audit_query_filters_by_value() -> None:
    query = audit_query(actor="wang", action="reveal", since="2026-12-01")
    assert query == {
        "bool": {
            "filter": [
                {"term": {"actor": "wang"}},
                {"term": {"action": "reveal"}},
                {"range": {"@timestamp": {"gte": "2026-12-01"}}},
            ]
        }
    }


def test_waterfall_steps_from_zero_to_the_score() -> None:
    rows = waterfall(
        [
            {"field": "id_number", "weight": 10.0},
            {"field": "phone", "weight": -4.0},
            {"field": "name", "weight": 2.0},
        ]
    )
    assert [(r.start, r.end) for r in rows] == [(0.0, 10.0), (10.0, 6.0), (6.0, 8.0)]
    assert rows[0].left_pct == 0.0 and rows[0].width_pct == 100.0
    assert rows[1].left_pct == 60.0 and rows[1].width_pct == 40.0
    assert waterfall([{"field": "x", "weight": "nonsense"}])[0].weight == 0.0
