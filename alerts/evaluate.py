"""In-process evaluation of compiled subscriptions against new leads.

Why in process rather than one ``_msearch`` per batch (both measured by ``bench/alerts.py``):
the worker already holds each new lead as a dict, so a predicate costs microseconds, while an
``_msearch`` of 10,000 queries restricted to a batch's ids makes Elasticsearch run 10,000
searches per batch and waits for the leads to be refreshed (up to ``refresh_interval``) before
it can see them. The semantics are the DSL subset's (:mod:`alerts.query`), checked against
Elasticsearch on the same documents by ``tests/integration/test_alerts_query.py``.

:class:`SubscriptionIndex` files each active subscription under keys a lead can be looked up
by, one key per combination of its selective attributes, so a lead meets only subscriptions
that already agree with it on all of them: ``("p", person)`` for a subscription naming persons
(the most selective: a handful of leads a year), else ``(district, source, event_type, tier)``
for each district of its scope, each source it names (``*``: any), each event type it names
(``*``) and its minimum tier (``*``: none). A lead looks up its person and the 2 x 2 x 4
combinations of its district with (its source or ``*``), (its event type or ``*``) and (``*``
or any tier at or below its own): seventeen dict lookups, then the full predicate (minimum
score, query, status) on the candidates, which are then nearly all matches. Each subscription
sits under one value per attribute a given lead can look up, so a lead never meets it twice. A
subscription whose owner is gone or disabled has no scope and is not filed at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from alerts.owners import Owner
from alerts.query import LeadPredicate, compile_query
from alerts.subscriptions import TIER_RANK, Subscription

__all__ = ["ANY", "CompiledSubscription", "SubscriptionIndex", "compile_subscription"]

_Key = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompiledSubscription:
    """A subscription with its scope fixed and its query compiled."""

    subscription: Subscription
    scope: frozenset[str]
    query: LeadPredicate | None

    def matches(self, lead: Mapping[str, Any]) -> bool:
        """Whether ``lead`` is one this subscription is about (new, in scope, every filter)."""
        s = self.subscription
        return (
            lead.get("status", "new") == "new"
            and lead.get("district") in self.scope
            and (not s.persons or lead.get("person_id") in s.persons)
            and (not s.sources or lead.get("source") in s.sources)
            and (not s.event_types or lead.get("event_type") in s.event_types)
            and (
                s.min_tier is None
                or TIER_RANK.get(str(lead.get("tier")), 0) >= TIER_RANK[s.min_tier]
            )
            and (s.min_score is None or _at_least(lead.get("score"), s.min_score))
            and (self.query is None or self.query(lead))
        )


def _at_least(value: Any, bound: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= bound


def compile_subscription(
    subscription: Subscription, owner: Owner | None
) -> CompiledSubscription | None:
    """Compile an active subscription; ``None`` when it is paused or can match nothing.

    A stored query that no longer compiles (the mapping changed) leaves the subscription out
    rather than stopping the reload; the caller logs it.
    """
    scope = subscription.scope(owner)
    if subscription.state != "active" or not scope:
        return None
    query = compile_query(subscription.query) if subscription.query is not None else None
    return CompiledSubscription(subscription, scope, query)


class SubscriptionIndex:
    """Candidate subscriptions by person, and by district, source, event type and tier.

    Args:
        compiled: The active subscriptions, compiled.
    """

    def __init__(self, compiled: Iterable[CompiledSubscription]) -> None:
        self._by_key: dict[_Key, list[CompiledSubscription]] = {}
        self.size = 0
        for item in compiled:
            self.size += 1
            for key in _keys_of(item):
                self._by_key.setdefault(key, []).append(item)

    def candidates(self, lead: Mapping[str, Any]) -> list[CompiledSubscription]:
        """The subscriptions filed under one of ``lead``'s keys (each once)."""
        by_key = self._by_key
        found = list(by_key.get(("p", str(lead.get("person_id"))), ()))
        district = str(lead.get("district"))
        tiers = _TIERS_AT_OR_BELOW.get(str(lead.get("tier")), _ANY_TIER)
        for source in (str(lead.get("source")), ANY):
            for event_type in (str(lead.get("event_type")), ANY):
                for tier in tiers:
                    found += by_key.get((district, source, event_type, tier), ())
        return found

    def matching(self, lead: Mapping[str, Any]) -> list[Subscription]:
        """The subscriptions ``lead`` matches."""
        return [c.subscription for c in self.candidates(lead) if c.matches(lead)]


#: The key value of an attribute a subscription leaves open.
ANY: Final = "*"
_ANY_TIER: Final = (ANY,)
#: A lead of a tier meets the subscriptions whose minimum tier is that tier or lower.
_TIERS_AT_OR_BELOW: Final = {
    tier: (ANY, *(t for t, r in TIER_RANK.items() if r <= rank)) for tier, rank in TIER_RANK.items()
}


def _keys_of(item: CompiledSubscription) -> list[_Key]:
    s = item.subscription
    # Each subscription under one kind of key only, so a lead never meets it twice.
    if s.persons:
        return [("p", person) for person in dict.fromkeys(s.persons)]
    tier = s.min_tier or ANY
    keys = (
        (district, source, event_type, tier)
        for district in item.scope
        for source in s.sources or (ANY,)
        for event_type in s.event_types or (ANY,)
    )
    return list(dict.fromkeys(keys))  # a stored list may repeat a value
