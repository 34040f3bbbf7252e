"""The subscription record and its validation against its owner (pure).

A :class:`Subscription` names what to watch (persons, districts, sources, event types, a minimum
tier or score, an optional restricted query: :mod:`alerts.query`) and how to be told (the
``alerts`` record and topic always; a webhook immediately or as a digest, optionally rate
limited). :func:`new_subscription` builds one from a :class:`SubscriptionRequest` and refuses
it with every problem at once (:class:`~alerts.errors.InvalidSubscription`); nothing invalid is
stored. Scope: a subscription only ever matches leads of its owner's districts
(:meth:`Subscription.scope`); naming a district the owner cannot see is refused at creation,
and a district the owner loses later drops out of the scope at the next reload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Final, Literal, get_args

from contract import EVENT_TYPES, TIER_RANK, Source, Tier

from alerts.errors import InvalidSubscription
from alerts.owners import Owner
from alerts.query import compile_query

__all__ = [
    "EVENT_TYPES",
    "SOURCES",
    "TIER_RANK",
    "DeliveryMode",
    "Subscription",
    "SubscriptionRequest",
    "SubscriptionState",
    "Tier",
    "new_subscription",
]

SubscriptionState = Literal["active", "paused"]
DeliveryMode = Literal["immediate", "digest"]

SOURCES: Final = frozenset(get_args(Source))
_MAX_ITEMS: Final = 100
_MAX_TEXT: Final = 128
_MAX_DIGEST_MINUTES: Final = 24 * 60
_MAX_RATE_PER_MINUTE: Final = 600


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    """What a user asks for (the CLI's options, the review page's form), not yet checked."""

    owner: str
    name: str = ""
    persons: Sequence[str] = ()
    districts: Sequence[str] = ()
    sources: Sequence[str] = ()
    event_types: Sequence[str] = ()
    min_tier: str | None = None
    min_score: float | None = None
    query: Any = None
    delivery: str = "immediate"
    digest_minutes: int = 15
    rate_limit_per_minute: int | None = None
    webhook_url: str | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """A stored subscription (the ``subscriptions`` index document, by :meth:`to_document`).

    ``webhook_secret`` is the sealed secret (:mod:`alerts.secretbox`), never the secret itself.
    ``districts`` empty means all of the owner's districts at evaluation time.
    """

    subscription_id: str
    owner: str
    created_at: str
    updated_at: str
    name: str = ""
    persons: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    min_tier: Tier | None = None
    min_score: float | None = None
    query: Mapping[str, Any] | None = None
    delivery: DeliveryMode = "immediate"
    digest_minutes: int = 15
    rate_limit_per_minute: int | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    state: SubscriptionState = "active"
    failing: bool = False
    failing_reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def scope(self, owner: Owner | None) -> frozenset[str]:
        """The districts this subscription may match now: none when its owner is gone."""
        if owner is None or owner.disabled:
            return frozenset()
        visible = frozenset(owner.districts)
        return visible & frozenset(self.districts) if self.districts else visible

    def to_document(self) -> dict[str, Any]:
        """The ``subscriptions`` document (the query kept as JSON text: not indexed)."""
        doc = asdict(self)
        doc.pop("extra")
        for key in ("persons", "districts", "sources", "event_types"):
            doc[key] = list(doc[key])
        doc["query"] = None if self.query is None else dict(self.query)
        return doc

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Subscription:
        """Rebuild a stored subscription (unknown fields ignored, lists as tuples)."""
        known = {name for name in cls.__dataclass_fields__ if name != "extra"}
        values = {key: value for key, value in doc.items() if key in known}
        for key in ("persons", "districts", "sources", "event_types"):
            values[key] = tuple(values.get(key) or ())
        return cls(**values)

    def changed(self, *, now: str, **changes: Any) -> Subscription:
        """A copy with ``changes`` and ``updated_at`` set to ``now``."""
        return replace(self, updated_at=now, **changes)


def new_subscription(
    request: SubscriptionRequest,
    owner: Owner | None,
    *,
    subscription_id: str,
    now: str,
    url_problem: Any = None,
) -> Subscription:
    """Check ``request`` against its ``owner``; return the subscription to store.

    Args:
        request: What the user asked for.
        owner: The owner as the review service knows them (``None``: no such user).
        subscription_id: The new id.
        now: ISO-8601 time of creation.
        url_problem: ``Callable[[str], str | None]``: what is wrong with a webhook URL
            (:func:`alerts.webhooks.url_problem` bound to the settings), or ``None`` to accept.

    Raises:
        InvalidSubscription: Every problem at once; nothing is to be stored.
    """
    problems = _owner_problems(request, owner)
    problems += _list_problems(request)
    problems += _threshold_problems(request)
    problems += _delivery_problems(request, url_problem)
    if request.query is not None:
        try:
            compile_query(request.query)
        except InvalidSubscription as exc:
            problems += list(exc.problems)
    if problems:
        raise InvalidSubscription(problems)
    return Subscription(
        subscription_id=subscription_id,
        owner=request.owner,
        created_at=now,
        updated_at=now,
        name=request.name.strip(),
        persons=tuple(dict.fromkeys(p.strip() for p in request.persons)),
        districts=tuple(dict.fromkeys(d.strip() for d in request.districts)),
        sources=tuple(dict.fromkeys(request.sources)),
        event_types=tuple(dict.fromkeys(request.event_types)),
        min_tier=request.min_tier,  # type: ignore[arg-type]  # checked above
        min_score=request.min_score,
        query=request.query,
        delivery=request.delivery,  # type: ignore[arg-type]  # checked above
        digest_minutes=request.digest_minutes,
        rate_limit_per_minute=request.rate_limit_per_minute,
        webhook_url=request.webhook_url,
    )


def _owner_problems(request: SubscriptionRequest, owner: Owner | None) -> list[str]:
    if owner is None:
        return ["owner: no such user of the review service"]
    if owner.disabled:
        return ["owner: the user is disabled"]
    if not owner.districts:
        return ["owner: the user sees no district"]
    foreign = [d for d in request.districts if d.strip() not in owner.districts]
    if foreign:
        return [f"districts: {len(foreign)} not visible to {owner.username!r}"]
    return []


def _list_problems(request: SubscriptionRequest) -> list[str]:
    problems = []
    for name in ("persons", "districts", "sources", "event_types"):
        values = getattr(request, name)
        if len(values) > _MAX_ITEMS:
            problems.append(f"{name}: at most {_MAX_ITEMS}")
        if any(not isinstance(v, str) or not 0 < len(v.strip()) <= _MAX_TEXT for v in values):
            problems.append(f"{name}: each must be 1 to {_MAX_TEXT} characters")
    if unknown := set(request.sources) - SOURCES:
        problems.append(f"sources: {len(unknown)} unknown (known: {', '.join(sorted(SOURCES))})")
    if set(request.event_types) - EVENT_TYPES:
        problems.append("event_types: unknown event type")
    if len(request.name) > _MAX_TEXT:
        problems.append(f"name: at most {_MAX_TEXT} characters")
    return problems


def _threshold_problems(request: SubscriptionRequest) -> list[str]:
    problems = []
    if request.min_tier is not None and request.min_tier not in TIER_RANK:
        problems.append("min_tier: one of low, medium, high")
    score = request.min_score
    if score is not None and (not isinstance(score, int | float) or not -1e6 < score < 1e6):
        problems.append("min_score: a number")
    return problems


def _delivery_problems(request: SubscriptionRequest, url_problem: Any) -> list[str]:
    problems = []
    if request.delivery not in get_args(DeliveryMode):
        problems.append("delivery: immediate or digest")
    if not 1 <= request.digest_minutes <= _MAX_DIGEST_MINUTES:
        problems.append(f"digest_minutes: 1 to {_MAX_DIGEST_MINUTES}")
    rate = request.rate_limit_per_minute
    if rate is not None and not 1 <= rate <= _MAX_RATE_PER_MINUTE:
        problems.append(f"rate_limit_per_minute: 1 to {_MAX_RATE_PER_MINUTE}")
    if request.webhook_url is not None and url_problem is not None:
        if (problem := url_problem(request.webhook_url)) is not None:
            problems.append(f"webhook_url: {problem}")
    elif request.webhook_url is None and request.delivery == "digest":
        problems.append("delivery: a digest needs a webhook_url")
    return problems
