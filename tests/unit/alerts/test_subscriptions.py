"""A subscription is checked against its owner; nothing invalid gets through."""

from __future__ import annotations

import pytest

from alerts.errors import InvalidSubscription
from alerts.owners import Owner, owner_from_document
from alerts.subscriptions import Subscription, SubscriptionRequest, new_subscription
from alerts.webhooks import url_problem
from tests.unit.alerts.helpers import NOW, OWNER, subscription


def _new(owner: Owner | None = OWNER, **fields: object) -> Subscription:
    return new_subscription(
        SubscriptionRequest(owner="wang.li", **fields),  # type: ignore[arg-type]
        owner,
        subscription_id="s1",
        now=NOW,
        url_problem=url_problem,
    )


def test_a_district_the_owner_cannot_see_is_refused() -> None:
    with pytest.raises(InvalidSubscription, match="districts: 1 not visible"):
        _new(districts=["美兰区", "三亚市"])


@pytest.mark.parametrize(
    ("owner", "phrase"),
    [
        (None, "no such user"),
        (Owner("wang.li", disabled=True, districts=frozenset({"美兰区"})), "disabled"),
        (Owner("wang.li"), "sees no district"),
    ],
)
def test_an_owner_who_cannot_subscribe_is_refused(owner: Owner | None, phrase: str) -> None:
    with pytest.raises(InvalidSubscription, match=phrase):
        _new(owner)


def test_every_problem_is_named_in_one_line() -> None:
    with pytest.raises(InvalidSubscription) as refused:
        _new(
            sources=["fax"],
            min_tier="urgent",
            query={"script": {}},
            webhook_url="http://10.0.0.1/x",
            rate_limit_per_minute=0,
        )
    problems = refused.value.problems
    assert len(problems) == 5, problems
    assert "\n" not in str(refused.value)
    assert "fax" not in str(refused.value)  # the user's values are not echoed


def test_scope_is_the_named_districts_within_the_owners_current_ones() -> None:
    sub = subscription(districts=["美兰区"])
    assert sub.scope(OWNER) == {"美兰区"}
    assert subscription().scope(OWNER) == OWNER.districts
    # The owner lost the district since: the subscription matches nothing there any more.
    assert sub.scope(Owner("wang.li", districts=frozenset({"龙华区"}))) == frozenset()
    assert sub.scope(Owner("wang.li", districts=OWNER.districts, disabled=True)) == frozenset()


def test_a_document_round_trips() -> None:
    sub = subscription(persons=["P1"], query={"term": {"tier": "high"}}, min_score=3.5)
    assert Subscription.from_document(sub.to_document()) == sub


def test_review_users_are_read_leniently() -> None:
    owner = owner_from_document({"username": "a", "districts": "美兰区", "disabled": False})
    assert owner == Owner("a", "officer", frozenset({"美兰区"}), False)
    assert owner_from_document({"districts": ["x"]}) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.org/a", None),
        ("http://hooks.example.org/a", "must be https"),
        ("https://127.0.0.1/a", "private or loopback address"),
        ("https://[::1]/a", "private or loopback address"),
        ("https://192.168.1.4/a", "private or loopback address"),
        ("https://169.254.169.254/latest", "private or loopback address"),
        ("https://localhost/a", "private or loopback address"),
        ("https://printer.local/a", "private or loopback address"),
        ("https://user:pw@hooks.example.org/a", "no user or password in the URL"),
        ("https:///a", "no host"),
        ("https://h.example.org:99999/", "not a URL"),
        ("https://h.example.org/" + "a" * 2100, "at most 2048 characters"),
    ],
)
def test_webhook_urls(url: str, problem: str | None) -> None:
    assert url_problem(url) == problem


def test_tests_may_allow_loopback_http() -> None:
    assert url_problem("http://127.0.0.1:8000/x", allow_http=True, allow_private=True) is None
