"""An officer's morning in a real headless Chromium: log in, search, open a lead, reveal the
number (audited), record a verdict, find it in the queue, be refused another district's lead.

Screenshots go to out/review/ (look at them: would an officer understand the lead in five
seconds?).
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from review.service import NOT_YOURS
from tests.browser.conftest import SHOTS
from tests.integration.test_review_support import (
    FULL_ID,
    PASSWORD,
    World,
    audit_records,
    make_lead,
    put_lead,
    stored,
)


def _login(page: Any, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_an_officer_works_a_lead_from_search_to_queue(
    chromium: Any, base_url: str, es: Elasticsearch, world: World
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    lead = put_lead(es, world, make_lead(person_name="王建国", person_id="P-000123"))
    put_lead(
        es,
        world,
        make_lead(
            person_name="王建国",
            person_id="P-000123",
            score=9.2,
            tier="medium",
            occurred_at="2026-11-20T09:30:00+08:00",
            source="telecom",
        ),
    )
    theirs = put_lead(es, world, make_lead(district="龙华区", person_name="王建国"))
    page = chromium.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        _login(page, base_url, "officer1")
        assert page.url.endswith("/leads")
        page.fill("input[name=q]", "王建国")
        page.click("form.filters button[type=submit]")
        page.screenshot(path=str(SHOTS / "1-search.png"), full_page=True)
        rows = page.locator("table tr td a")
        assert rows.count() == 2  # only 美兰区's two, never 龙华区's
        page.click(f"a[href='/leads/{lead['lead_id']}']")
        assert page.locator("#waterfall").is_visible()
        assert "证件号" in page.content() and "Evidence and weight" in page.content()
        assert FULL_ID not in page.content()
        page.screenshot(path=str(SHOTS / "2-lead.png"), full_page=True)

        page.click("#reveal")
        assert FULL_ID in page.locator("#revealed").inner_text()
        page.screenshot(path=str(SHOTS / "3-revealed.png"), full_page=True)
        reveals = audit_records(es, world, actor="officer1", action="reveal")
        assert [r["lead_id"] for r in reveals] == [lead["lead_id"]]

        page.click("#claim")
        assert "核查中" in page.locator("#status").inner_text()
        page.check("input[value=confirmed]")
        page.fill("textarea[name=note]", "银行开户信息与本人一致，已联系辖区派出所。")
        page.click("#verdict button[type=submit]")
        assert "已确认" in page.locator("#status").inner_text()
        assert stored(es, world, lead["lead_id"])["review"]["decided_by"] == "officer1"

        page.goto(f"{base_url}/queue")
        assert "银行开户信息与本人一致" in page.content()
        page.screenshot(path=str(SHOTS / "4-queue.png"), full_page=True)

        response = page.goto(f"{base_url}/leads/{theirs['lead_id']}")
        assert response is not None and response.status == 403
        assert NOT_YOURS in page.content()
        page.screenshot(path=str(SHOTS / "5-refused.png"), full_page=True)
    finally:
        page.close()


def test_the_login_form_refuses_a_missing_csrf_token_and_a_wrong_password(
    chromium: Any, base_url: str
) -> None:
    page = chromium.new_page()
    try:
        page.goto(f"{base_url}/login")
        page.evaluate("document.querySelector('input[name=csrf]').value = 'forged'")
        page.fill("input[name=username]", "officer1")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        assert "CSRF" in page.content()
        _login(page, base_url, "officer1")
        assert page.url.endswith("/leads")
        page.goto(f"{base_url}/login")
        page.fill("input[name=username]", "officer2")
        page.fill("input[name=password]", "wrong password!")
        page.click("button[type=submit]")
        assert "Wrong username or password" in page.content()
        page.screenshot(path=str(SHOTS / "0-login-failed.png"))
    finally:
        page.close()
