"""Builders shared by the alerts unit tests."""

from __future__ import annotations

from typing import Any

from alerts.owners import Owner
from alerts.subscriptions import Subscription, SubscriptionRequest, new_subscription

OWNER = Owner("wang.li", "officer", frozenset({"美兰区", "龙华区"}))
NOW = "2026-12-07T10:00:00+00:00"


def subscription(sid: str = "s1", owner: Owner = OWNER, **fields: Any) -> Subscription:
    return new_subscription(
        SubscriptionRequest(owner=owner.username, **fields),
        owner,
        subscription_id=sid,
        now=NOW,
    )


def lead(lead_id: str = "l1", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "lead_id": lead_id,
        "person_id": "P1",
        "source": "bank",
        "event_type": "card_issued",
        "tier": "high",
        "score": 21.0,
        "status": "new",
        "district": "美兰区",
        "person_name": "张伟",
        "event_name": "ZHANG WEI",
        "explanation": {"reason_en": "id 460105199001017129 agrees; phone 13812345678 agrees"},
    }
    return base | fields
