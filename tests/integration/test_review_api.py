"""The review service's API on the real local Elasticsearch: auth, scoping, roles, workflow.

Each module has its own indices (``tests/integration/test_review_support.py``); requests go
through Starlette's TestClient, so the pages' and API's whole stack runs, down to the real
Elasticsearch.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from starlette.testclient import TestClient

from review.app import build_app
from review.roles import ACTIONS, MATRIX, ROLES
from review.service import NOT_YOURS
from tests.integration.test_review_support import (
    FULL_ID,
    PASSWORD,
    USERS,
    World,
    audit_records,
    make_lead,
    private_world,
    put_lead,
    review_service,
    stored,
)
from tracer.settings import TracerSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(es: Elasticsearch) -> Iterator[World]:
    with private_world(es, "it-review") as made:
        yield made


def make_app(settings: TracerSettings, world: World, **limits: Any) -> Any:
    return build_app(review_service(settings, world, **limits))


@pytest.fixture(scope="module")
def tc(settings: TracerSettings, world: World) -> Iterator[TestClient]:
    with TestClient(make_app(settings, world)) as client:
        yield client


_sessions: dict[tuple[int, str], dict[str, str]] = {}


def login(tc: TestClient, username: str) -> dict[str, str]:
    """Headers of a signed-in user: their session cookie and CSRF token (cached per client)."""
    key = (id(tc), username)
    if key not in _sessions:
        response = tc.post("/api/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        cookie = response.cookies["tracer_session"]
        tc.cookies.clear()
        _sessions[key] = {
            "cookie": f"tracer_session={cookie}",
            "x-csrf-token": response.json()["csrf_token"],
        }
    return _sessions[key]


def test_login_sets_a_session_and_a_wrong_password_is_401_and_audited(
    tc: TestClient, es: Elasticsearch, world: World
) -> None:
    headers = login(tc, "officer1")
    assert tc.get("/api/queue", headers=headers).status_code == 200
    assert tc.get("/api/queue").status_code == 401
    wrong = tc.post("/api/login", json={"username": "officer2", "password": "nope-nope-nope"})
    assert wrong.status_code == 401
    unknown = tc.post("/api/login", json={"username": "nobody", "password": "nope-nope-nope"})
    assert unknown.json() == wrong.json()  # an unknown user reads like a wrong password
    failed = audit_records(es, world, actor="officer2", action="login", outcome="failed")
    assert failed and failed[0]["reason"] == "bad_credentials"
    assert "nope" not in str(failed)


def test_login_is_rate_limited_per_user_and_per_address(
    settings: TracerSettings, es: Elasticsearch, world: World
) -> None:
    with TestClient(make_app(settings, world, per_user=3, per_address=5)) as client:
        for _ in range(3):
            bad = {"username": "officer2", "password": "wrong-wrong-wrong"}
            assert client.post("/api/login", json=bad).status_code == 401
        good = {"username": "officer2", "password": PASSWORD}
        assert client.post("/api/login", json=good).status_code == 429  # even the right one
        for _ in range(2):
            bad = {"username": "supervisor", "password": "wrong-wrong-wrong"}
            assert client.post("/api/login", json=bad).status_code == 401
        good = {"username": "admin", "password": PASSWORD}
        assert client.post("/api/login", json=good).status_code == 429  # the address's limit
    assert audit_records(es, world, actor="officer2", action="login", outcome="limited")


def test_a_post_without_the_csrf_token_is_refused(
    tc: TestClient, world: World, es: Elasticsearch
) -> None:
    lead = put_lead(es, world, make_lead())
    headers = dict(login(tc, "officer1"))
    headers.pop("x-csrf-token")
    response = tc.post(f"/api/leads/{lead['lead_id']}/claim", json={}, headers=headers)
    assert response.status_code == 403
    forged = {**headers, "x-csrf-token": "0" * 64}
    assert (
        tc.post(f"/api/leads/{lead['lead_id']}/claim", json={}, headers=forged).status_code == 403
    )
    assert stored(es, world, lead["lead_id"])["status"] == "new"


def test_officers_see_only_their_districts_and_refusals_say_nothing_more(
    tc: TestClient, es: Elasticsearch, world: World
) -> None:
    mine = put_lead(es, world, make_lead(district="美兰区", person_name="赵卫东"))
    theirs = put_lead(es, world, make_lead(district="龙华区", person_name="赵卫东"))
    headers = login(tc, "officer1")
    found = tc.get("/api/leads", params={"q": "赵卫东"}, headers=headers).json()["leads"]
    ids = {lead["lead_id"] for lead in found}
    assert mine["lead_id"] in ids and theirs["lead_id"] not in ids
    other = tc.get(f"/api/leads/{theirs['lead_id']}", headers=headers)
    missing = tc.get(f"/api/leads/{uuid.uuid4()}", headers=headers)
    assert other.status_code == missing.status_code == 403
    assert other.json() == missing.json() == {"error": NOT_YOURS}
    # Asking for the other district by name finds nothing either (their alias is never read).
    asked = tc.get("/api/leads", params={"district": "龙华区"}, headers=headers).json()
    assert asked["total"] == 0
    refused = audit_records(es, world, actor="officer1", action="view", outcome="refused")
    assert {r["lead_id"] for r in refused} >= {theirs["lead_id"]}
    assert all(r["reason"] == "scope" for r in refused)


def test_query_like_text_is_a_value(tc: TestClient, es: Elasticsearch, world: World) -> None:
    put_lead(es, world, make_lead(person_name="*:* OR person_id:*"))
    headers = login(tc, "officer1")
    for text in ("*:* OR person_id:*", '" OR 1=1 --', "<script>", "name:(a OR b"):
        response = tc.get("/api/leads", params={"q": text}, headers=headers)
        assert response.status_code == 200, text
    bad = tc.get("/api/leads", params={"tier": "urgent"}, headers=headers)
    assert bad.status_code == 400


def _expected(role: str, action: str) -> bool:
    return action in MATRIX[role]  # type: ignore[index]


def _call(
    tc: TestClient, es: Elasticsearch, world: World, action: str, headers: dict[str, str]
) -> tuple[int, str | None]:
    """Perform ``action`` on a fresh lead of 美兰区 in the right status; return status, lead."""
    status = {"decide": "reviewing", "reopen": "confirmed"}.get(action, "new")
    lead = put_lead(es, world, make_lead(status=status))
    lead_id = lead["lead_id"]
    url = f"/api/leads/{lead_id}"
    if action == "search":
        return tc.get("/api/leads", headers=headers).status_code, None
    if action == "queue":
        return tc.get("/api/queue", headers=headers).status_code, None
    if action == "audit_read":
        return tc.get("/api/audit", headers=headers).status_code, None
    if action == "users_manage":
        return tc.get("/api/users", headers=headers).status_code, None
    if action == "view":
        return tc.get(url, headers=headers).status_code, lead_id
    body = {
        "decide": {"verdict": "confirmed", "note": "与本人核实一致"},
        "reopen": {"note": "新证据"},
        "reassign": {"assignee": "officer2"},
    }.get(action, {})
    return tc.post(f"{url}/{action}", json=body, headers=headers).status_code, lead_id


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(
    tc: TestClient, es: Elasticsearch, world: World, role: str, action: str
) -> None:
    username = next(u for u, (r, _) in USERS.items() if r == role and u != "officer2")
    headers = login(tc, username)
    status, lead_id = _call(tc, es, world, action, headers)
    allowed = _expected(role, action)
    assert status == (200 if allowed else 403), (role, action, status)
    terms = {"actor": username, "action": action, **({"lead_id": lead_id} if lead_id else {})}
    records = audit_records(es, world, **terms)
    outcome = "allowed" if allowed else "refused"
    assert [r for r in records if r["outcome"] == outcome], (role, action, records)
    if not allowed:
        assert all(r["reason"] == "role" for r in records if r["outcome"] == "refused")


def test_workflow_claim_decide_final_until_a_supervisor_reopens(
    tc: TestClient, es: Elasticsearch, world: World
) -> None:
    lead_id = put_lead(es, world, make_lead())["lead_id"]
    officer, supervisor = login(tc, "officer1"), login(tc, "supervisor")
    url = f"/api/leads/{lead_id}"
    no_note = tc.post(f"{url}/decide", json={"verdict": "confirmed"}, headers=officer)
    assert no_note.status_code == 409  # still new: claim first
    assert tc.post(f"{url}/claim", json={}, headers=officer).json()["status"] == "reviewing"
    no_note = tc.post(f"{url}/decide", json={"verdict": "confirmed"}, headers=officer)
    assert no_note.status_code == 400
    decided = tc.post(
        f"{url}/decide", json={"verdict": "rejected", "note": "非本人"}, headers=officer
    )
    assert decided.status_code == 200
    again = tc.post(f"{url}/decide", json={"verdict": "confirmed", "note": "x"}, headers=officer)
    assert again.status_code == 409
    assert tc.post(f"{url}/reopen", json={"note": "复核"}, headers=officer).status_code == 403
    assert tc.post(f"{url}/reopen", json={"note": "复核"}, headers=supervisor).status_code == 200
    source = stored(es, world, lead_id)
    assert source["status"] == "reviewing" and source["review"]["note"] == "复核"
    # The machine-written fields are untouched by the review writes.
    assert source["score"] == 18.5 and source["explanation"]["fields"][0]["weight"] == 14.2
    queue = tc.get("/api/queue", headers=officer).json()["leads"]
    assert lead_id in {lead["lead_id"] for lead in queue}


def test_two_officers_deciding_at_once_one_wins_the_other_gets_409(
    tc: TestClient, es: Elasticsearch, world: World
) -> None:
    lead_id = put_lead(es, world, make_lead(status="reviewing"))["lead_id"]
    first, second = login(tc, "officer1"), login(tc, "officer2")
    url = f"/api/leads/{lead_id}"
    version = tc.get(url, headers=first).json()["version"]
    assert tc.get(url, headers=second).json()["version"] == version  # both saw the same lead
    win = {"verdict": "confirmed", "note": "第一位", **version}
    lose = {"verdict": "rejected", "note": "第二位", **version}
    assert tc.post(f"{url}/decide", json=win, headers=first).status_code == 200
    conflict = tc.post(f"{url}/decide", json=lose, headers=second)
    assert conflict.status_code == 409
    assert "Someone else" in conflict.json()["error"]
    source = stored(es, world, lead_id)
    assert source["status"] == "confirmed" and source["review"]["note"] == "第一位"
    assert audit_records(es, world, actor="officer2", lead_id=lead_id, outcome="conflict")


def test_reveal_shows_the_numbers_to_the_districts_officers_only_and_is_audited(
    tc: TestClient, es: Elasticsearch, world: World
) -> None:
    lead_id = put_lead(es, world, make_lead())["lead_id"]
    url = f"/api/leads/{lead_id}/reveal"
    shown = tc.post(url, json={}, headers=login(tc, "officer1"))
    assert shown.status_code == 200 and shown.json()["numbers"]["id_number"] == FULL_ID
    assert tc.post(url, json={}, headers=login(tc, "other")).status_code == 403
    assert tc.post(url, json={}, headers=login(tc, "supervisor")).status_code == 403
    records = audit_records(es, world, action="reveal", lead_id=lead_id)
    assert {(r["actor"], r["outcome"]) for r in records} == {
        ("officer1", "allowed"),
        ("other", "refused"),
        ("supervisor", "refused"),
    }
    assert FULL_ID not in str(records)


def test_no_full_number_in_any_audit_record(
    tc: TestClient, es: Elasticsearch, world: World
) -> None:
    headers = login(tc, "officer1")
    tc.get("/api/leads", params={"q": f"王 {FULL_ID}", "person_id": FULL_ID}, headers=headers)
    records = audit_records(es, world, actor="officer1", action="search")
    assert records and FULL_ID not in str(records) and "4601" in str(records)


def test_auditors_query_the_trail_by_user_and_action(
    tc: TestClient, es: Elasticsearch, world: World
) -> None:
    login(tc, "officer1")
    es.indices.refresh(index=world.audit)
    found = tc.get(
        "/api/audit", params={"actor": "officer1", "action": "login"}, headers=login(tc, "auditor")
    )
    entries = found.json()["entries"]
    assert entries and {(e["actor"], e["action"]) for e in entries} == {("officer1", "login")}


def test_each_page_renders_for_its_role_and_refuses_the_others(
    tc: TestClient, es: Elasticsearch, world: World
) -> None:
    lead = put_lead(es, world, make_lead(person_id="page-person"))
    officer = {"cookie": login(tc, "officer1")["cookie"]}
    search = tc.get("/leads", params={"person_id": "page-person", "sort": "time"}, headers=officer)
    assert search.status_code == 200 and f'href="/leads/{lead["lead_id"]}"' in search.text
    bad = tc.get("/leads", params={"status": "deleted"}, headers=officer)
    assert bad.status_code == 400 and "status must be one of" in bad.text
    assert tc.get("/queue", headers=officer).status_code == 200
    assert tc.get("/audit", headers=officer).status_code == 403
    assert tc.get("/users", headers=officer).status_code == 403
    # Not signed in: to the login page.
    assert tc.get("/queue", follow_redirects=False).headers["location"] == "/login"

    es.indices.refresh(index=world.audit)
    auditor = {"cookie": login(tc, "auditor")["cookie"]}
    audit = tc.get("/audit", params={"actor": "officer1", "action": "login"}, headers=auditor)
    assert audit.status_code == 200 and "<td>login</td>" in audit.text
    admin = {"cookie": login(tc, "admin")["cookie"]}
    users = tc.get("/users", headers=admin)
    assert users.status_code == 200
    assert all(f"<td>{name}</td>" in users.text for name in USERS)


def test_a_disabled_user_loses_their_session(
    tc: TestClient, es: Elasticsearch, world: World
) -> None:
    headers = login(tc, "officer2")
    assert tc.get("/api/queue", headers=headers).status_code == 200
    es.update(index=world.users, id="officer2", doc={"disabled": True}, refresh="wait_for")
    try:
        assert tc.get("/api/queue", headers=headers).status_code == 401
    finally:
        es.update(index=world.users, id="officer2", doc={"disabled": False}, refresh="wait_for")


def test_a_page_form_without_its_csrf_token_changes_nothing_and_is_audited(
    tc: TestClient, es: Elasticsearch, world: World
) -> None:
    lead = put_lead(es, world, make_lead())
    headers = {"cookie": login(tc, "officer2")["cookie"]}
    response = tc.post(f"/leads/{lead['lead_id']}/claim", data={"csrf": "forged"}, headers=headers)
    assert response.status_code == 403 and "CSRF" in response.text
    assert stored(es, world, lead["lead_id"])["status"] == "new"
    assert audit_records(es, world, actor="officer2", action="csrf", outcome="refused")
    page = tc.get(f"/leads/{lead['lead_id']}", headers=headers)
    assert page.status_code == 200 and "4601**************" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


async def test_simultaneous_verdicts_one_wins_without_a_version_from_the_page(
    settings: TracerSettings, es: Elasticsearch, world: World
) -> None:
    # No version from a page: each request reads the lead and writes under what it read, so
    # whichever interleaving the two take, exactly one verdict lands.
    from review.service import Invalid
    from review.users import UserStore

    service = review_service(settings, world)
    try:
        users = UserStore(service.client, world.users)
        one, two = [(await users.get(name))[0] for name in ("officer1", "officer2")]  # type: ignore[index]
        for _ in range(5):
            lead_id = put_lead(es, world, make_lead(status="reviewing"))["lead_id"]
            results = await asyncio.gather(
                *(
                    service.change(u, "decide", lead_id, "127.0.0.1", verdict=v, note=v)
                    for u, v in ((one, "confirmed"), (two, "rejected"))
                ),
                return_exceptions=True,
            )
            won = [r for r in results if isinstance(r, dict)]
            lost = [r for r in results if isinstance(r, Invalid)]
            assert len(won) == 1 and len(lost) == 1 and lost[0].status == 409, results
            assert stored(es, world, lead_id)["status"] == won[0]["status"]
    finally:
        await service.client.close()
