"""A notification: one per (subscription, lead), its id derived from both (pure).

The id is ``uuid5(NOTIFICATION_NAMESPACE, subscription_id + "/" + lead_id)``: whichever
worker, run or redelivery meets the pair makes the same id, and the ``alerts`` index takes it
create-only, so the pair is notified once (:mod:`alerts.recorder`).

What a notification carries is bounded and safe to send anywhere: the lead id, tier, score,
district, source, event type, a one-line reason with every long number masked
(:func:`matchers.fields.masking.redact_numbers`, at most 240 characters) and the link to the lead's
review page. Never a name, an id, phone or card number: the officer opens the page for those.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any, Final

from matchers.fields.masking import redact_numbers

from alerts.subscriptions import Subscription

__all__ = [
    "MAX_REASON_CHARS",
    "NOTIFICATION_NAMESPACE",
    "build_notification",
    "lead_fields",
    "notification_id",
    "notify",
    "one_line_reason",
]

NOTIFICATION_NAMESPACE: Final = uuid.UUID("6f3c1d52-8a4e-5b7f-9c21-7d0e4a9b3f60")
MAX_REASON_CHARS: Final = 240
_SPACE: Final = re.compile(r"\s+")
# Whatever looks like part of a number after masking (4+ digits in a row) is starred too: a
# reason has no business quoting a house number or an account fragment either.
_DIGITS: Final = re.compile(r"\d{4,}")


def notification_id(subscription_id: str, lead_id: str) -> str:
    """The notification id of a (subscription, lead) pair: RFC 4122's name-based UUID 5.

    Example:
        >>> notification_id("s1", "l1") == str(uuid.uuid5(NOTIFICATION_NAMESPACE, "s1/l1"))
        True
        >>> notification_id("s1", "l1") == notification_id("s1", "l2")
        False
    """
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, f"{subscription_id}/{lead_id}"))


def one_line_reason(lead: Mapping[str, Any]) -> str:
    """The lead's English reason on one line, numbers masked, at most 240 characters.

    Example:
        >>> one_line_reason({"explanation": {"reason_en": "id 460105199001017129   matches"}})
        'id ****************** matches'
    """
    explanation = lead.get("explanation")
    text = explanation.get("reason_en") if isinstance(explanation, Mapping) else None
    if not isinstance(text, str):
        return ""
    text = _DIGITS.sub(lambda m: "*" * len(m.group()), redact_numbers(text))
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


def build_notification(
    subscription: Subscription,
    lead: Mapping[str, Any],
    *,
    review_url: str,
    created_at: str,
) -> dict[str, Any]:
    """The notification document for ``subscription`` (a Subscription) and ``lead``.

    Args:
        subscription: The matching subscription.
        lead: The new lead document.
        review_url: The review service's base URL; the link is ``{review_url}/leads/{id}``.
        created_at: ISO-8601 time the notification was made.
    """
    return notify(subscription, lead_fields(lead, review_url=review_url, created_at=created_at))


def lead_fields(lead: Mapping[str, Any], *, review_url: str, created_at: str) -> dict[str, Any]:
    """What every notification of ``lead`` carries, whichever subscription it is for.

    Computed once a lead (the masked reason is most of a notification's cost), then given to
    :func:`notify` for each matching subscription.
    """
    lead_id = str(lead["lead_id"])
    score = lead.get("score")
    return {
        "lead_id": lead_id,
        "tier": lead.get("tier"),
        "score": round(float(score), 2) if isinstance(score, int | float) else None,
        "district": lead.get("district"),
        "source": lead.get("source"),
        "event_type": lead.get("event_type"),
        "reason": one_line_reason(lead),
        "link": f"{review_url.rstrip('/')}/leads/{lead_id}",
        "created_at": created_at,
    }


def notify(subscription: Subscription, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The notification of ``subscription`` about the lead whose :func:`lead_fields` are given.

    Example:
        >>> from alerts.subscriptions import Subscription
        >>> sub = Subscription("s1", "ann", "t", "t")
        >>> fields = lead_fields({"lead_id": "l1"}, review_url="http://r", created_at="t")
        >>> notify(sub, fields)["notification_id"] == notification_id("s1", "l1")
        True
    """
    return {
        "notification_id": notification_id(subscription.subscription_id, fields["lead_id"]),
        "subscription_id": subscription.subscription_id,
        "owner": subscription.owner,
        **fields,
    }
