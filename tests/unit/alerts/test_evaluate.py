"""The subscription index finds exactly what checking every subscription would."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.evaluate import SubscriptionIndex, compile_subscription
from alerts.owners import Owner
from tests.unit.alerts.helpers import OWNER, lead, subscription

DISTRICTS = ["美兰区", "龙华区", "三亚市"]
SOURCES = ["hukou", "bank", "telecom"]
PERSONS = ["P1", "P2", "P3"]
EVENT_TYPES = ["card_issued", "transaction", "sim_registered"]

subscription_fields = st.fixed_dictionaries(
    {},
    optional={
        "persons": st.lists(st.sampled_from(PERSONS), max_size=2),
        "districts": st.lists(st.sampled_from(DISTRICTS[:2]), max_size=2),
        "sources": st.lists(st.sampled_from(SOURCES), max_size=2),
        "event_types": st.lists(st.sampled_from(EVENT_TYPES), max_size=2),
        "min_tier": st.sampled_from(["low", "medium", "high"]),
        "min_score": st.floats(-5, 30),
        "query": st.sampled_from([{"term": {"tier": "high"}}, {"match": {"event_name": "wei"}}]),
    },
)
leads = st.fixed_dictionaries(
    {
        "person_id": st.sampled_from(PERSONS),
        "district": st.sampled_from(DISTRICTS),
        "source": st.sampled_from(SOURCES),
        "event_type": st.sampled_from([*EVENT_TYPES, None]),
        "tier": st.sampled_from(["low", "medium", "high", "unknown"]),
        "score": st.floats(-10, 40),
        "status": st.sampled_from(["new", "new", "closed"]),
    }
)


@settings(max_examples=400, deadline=None)
@given(st.lists(subscription_fields, max_size=12), st.lists(leads, max_size=8))
def test_the_index_finds_what_a_full_scan_finds(
    fields: list[dict[str, Any]], lead_fields: list[dict[str, Any]]
) -> None:
    compiled = [
        compile_subscription(subscription(f"s{i}", **f), OWNER) for i, f in enumerate(fields)
    ]
    active = [c for c in compiled if c is not None]
    index = SubscriptionIndex(active)
    for i, extra in enumerate(lead_fields):
        new = lead(f"l{i}", **extra)
        found = sorted(s.subscription_id for s in index.matching(new))
        scanned = sorted(c.subscription.subscription_id for c in active if c.matches(new))
        assert found == scanned


def test_a_lead_outside_the_owners_districts_never_matches() -> None:
    compiled = compile_subscription(subscription(), OWNER)
    assert compiled is not None
    assert compiled.matches(lead(district="美兰区"))
    assert not compiled.matches(lead(district="三亚市"))
    assert not compiled.matches(lead(district=None))


def test_paused_and_ownerless_subscriptions_are_not_compiled() -> None:
    paused = subscription().changed(now="t", state="paused")
    assert compile_subscription(paused, OWNER) is None
    assert compile_subscription(subscription(), None) is None
    gone = Owner("wang.li", districts=OWNER.districts, disabled=True)
    assert compile_subscription(subscription(), gone) is None


def test_filters() -> None:
    cases = [
        ({"min_tier": "medium"}, {"tier": "low"}, False),
        ({"min_tier": "medium"}, {"tier": "high"}, True),
        ({"min_score": 20}, {"score": 19.99}, False),
        ({"min_score": 20}, {"score": "25"}, False),
        ({"persons": ["P9"]}, {}, False),
        ({"event_types": ["transaction"]}, {}, False),
        ({"sources": ["bank"]}, {}, True),
        ({}, {"status": "closed"}, False),
    ]
    for sub_fields, lead_fields, expected in cases:
        compiled = compile_subscription(subscription(**sub_fields), OWNER)
        assert compiled is not None
        assert compiled.matches(lead(**lead_fields)) is expected, (sub_fields, lead_fields)


def test_a_lead_meets_only_subscriptions_that_agree_on_every_indexed_attribute() -> None:
    fields: list[dict[str, Any]] = [
        {"sources": ["telecom"]},
        {"min_tier": "high"},
        {"event_types": ["transaction"]},
        {"districts": ["龙华区"]},
        {"persons": ["P2"]},
        {"sources": ["bank"], "event_types": ["card_issued"], "min_tier": "medium"},
    ]
    compiled = [
        compile_subscription(subscription(f"s{i}", **f), OWNER) for i, f in enumerate(fields)
    ]
    index = SubscriptionIndex([c for c in compiled if c is not None])
    low_card = lead(tier="low", source="bank", event_type="card_issued", district="美兰区")
    assert index.candidates(low_card) == []
    met = [c.subscription.subscription_id for c in index.candidates(lead(tier="high"))]
    assert sorted(met) == ["s1", "s5"]
