"""Where subscriptions live: the ``subscriptions`` index, behind a small port.

:class:`SubscriptionStore` is the port; :class:`ElasticsearchSubscriptionStore` the adapter
(explicit mapping, ``dynamic: false``; the restricted query is kept in ``_source`` only, never
indexed); :class:`InMemorySubscriptionStore` its twin. The worker reloads every subscription
when the store's :meth:`~SubscriptionStore.fingerprint` (count and newest ``updated_at``)
changes: one small aggregation per reload period, the full read (paged by ``search_after``,
at most ``max_subscriptions``) only after a change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from connectors.errors import ServiceUnavailable
from connectors.indices import ensure_index_async
from connectors.retry import Retrier
from elasticsearch import ApiError, TransportError

from alerts.errors import AlertError, UnknownSubscription
from alerts.subscriptions import Subscription

__all__ = [
    "SUBSCRIPTIONS_INDEX",
    "ElasticsearchSubscriptionStore",
    "InMemorySubscriptionStore",
    "SubscriptionStore",
    "subscription_mappings",
]

SUBSCRIPTIONS_INDEX: Final = "subscriptions"
#: Stored subscriptions turned into values between two yields to the event loop.
_CONVERT_SLICE: Final = 250
_PAGE: Final = 2000
_KEYWORDS: Final = (
    "subscription_id",
    "owner",
    "persons",
    "districts",
    "sources",
    "event_types",
    "min_tier",
    "delivery",
    "state",
)


def subscription_mappings() -> dict[str, Any]:
    """The mapping of a subscription document (pure)."""
    properties: dict[str, Any] = {name: {"type": "keyword"} for name in _KEYWORDS}
    properties |= {
        "name": {"type": "text"},
        "min_score": {"type": "float"},
        "created_at": {"type": "date"},
        "updated_at": {"type": "date"},
        "failing": {"type": "boolean"},
        "digest_minutes": {"type": "integer"},
        "rate_limit_per_minute": {"type": "integer"},
        "query": {"type": "object", "enabled": False},
    }
    return {"dynamic": False, "properties": properties}


class SubscriptionStore(Protocol):
    """Stores and lists subscriptions."""

    async def add(self, subscription: Subscription) -> None:
        """Store a new subscription (create-only)."""
        ...

    async def get(self, subscription_id: str) -> Subscription:
        """Return one subscription (:class:`UnknownSubscription` if absent)."""
        ...

    async def put(self, subscription: Subscription) -> None:
        """Replace a stored subscription (pause, resume, failing)."""
        ...

    async def remove(self, subscription_id: str) -> None:
        """Delete one subscription (:class:`UnknownSubscription` if absent)."""
        ...

    async def all(self, *, owner: str | None = None) -> list[Subscription]:
        """Every subscription (of ``owner``), oldest first, at most the store's bound."""
        ...

    async def fingerprint(self) -> tuple[int, str | None]:
        """Count and newest ``updated_at``: changes whenever a subscription does."""
        ...


@dataclass
class InMemorySubscriptionStore:
    """The twin: subscriptions in a dict."""

    items: dict[str, Subscription] = field(default_factory=dict)

    async def add(self, subscription: Subscription) -> None:
        """Store a new subscription."""
        if subscription.subscription_id in self.items:
            raise AlertError("subscription id taken")
        self.items[subscription.subscription_id] = subscription

    async def get(self, subscription_id: str) -> Subscription:
        """Return one subscription."""
        try:
            return self.items[subscription_id]
        except KeyError:
            raise UnknownSubscription(f"no subscription {subscription_id[:64]!r}") from None

    async def put(self, subscription: Subscription) -> None:
        """Replace a subscription."""
        self.items[subscription.subscription_id] = subscription

    async def remove(self, subscription_id: str) -> None:
        """Delete one subscription."""
        await self.get(subscription_id)
        del self.items[subscription_id]

    async def all(self, *, owner: str | None = None) -> list[Subscription]:
        """Every subscription (of ``owner``)."""
        found = [s for s in self.items.values() if owner is None or s.owner == owner]
        return sorted(found, key=lambda s: (s.created_at, s.subscription_id))

    async def fingerprint(self) -> tuple[int, str | None]:
        """Count and newest ``updated_at``."""
        newest = max((s.updated_at for s in self.items.values()), default=None)
        return len(self.items), newest


class ElasticsearchSubscriptionStore:
    """The ``subscriptions`` index through :class:`elasticsearch.AsyncElasticsearch`.

    Args:
        client: The async client.
        index: The index name.
        max_subscriptions: :meth:`all` reads at most this many (a bound, logged if hit).
        retrier: Retries Elasticsearch being away.
    """

    def __init__(
        self,
        client: Any,
        *,
        index: str = SUBSCRIPTIONS_INDEX,
        max_subscriptions: int = 50_000,
        retrier: Retrier | None = None,
    ) -> None:
        self._client = client
        self._index = index
        self._max = max_subscriptions
        self._retrier = retrier or Retrier()

    async def ensure(self) -> None:
        """Create the index with its mapping if missing (a concurrent creator is fine)."""
        await self._call(
            lambda: ensure_index_async(
                self._client,
                self._index,
                mappings=subscription_mappings(),
                settings={"number_of_shards": 1, "auto_expand_replicas": "0-1"},
            )
        )

    async def add(self, subscription: Subscription) -> None:
        """Store a new subscription (create-only; refreshed, so ``list`` shows it at once)."""
        await self._call(
            lambda: self._client.create(
                index=self._index,
                id=subscription.subscription_id,
                document=subscription.to_document(),
                refresh="wait_for",
            )
        )

    async def get(self, subscription_id: str) -> Subscription:
        """Return one subscription."""
        response = await self._call(
            lambda: self._client.options(ignore_status=404).get(
                index=self._index, id=subscription_id
            )
        )
        if not response.get("found"):
            raise UnknownSubscription(f"no subscription {subscription_id[:64]!r}")
        return Subscription.from_document(response["_source"])

    async def put(self, subscription: Subscription) -> None:
        """Replace a subscription."""
        await self._call(
            lambda: self._client.index(
                index=self._index,
                id=subscription.subscription_id,
                document=subscription.to_document(),
                refresh="wait_for",
            )
        )

    async def remove(self, subscription_id: str) -> None:
        """Delete one subscription."""
        response = await self._call(
            lambda: self._client.options(ignore_status=404).delete(
                index=self._index, id=subscription_id, refresh="wait_for"
            )
        )
        if response.get("result") != "deleted":
            raise UnknownSubscription(f"no subscription {subscription_id[:64]!r}")

    async def all(self, *, owner: str | None = None) -> list[Subscription]:
        """Every subscription (of ``owner``), pages of 2,000 by ``search_after``."""
        query: Mapping[str, Any] = {"term": {"owner": owner}} if owner else {"match_all": {}}
        found: list[Subscription] = []
        after: list[Any] | None = None
        while len(found) < self._max:
            hits = await self._page(query, after)
            for start in range(0, len(hits), _CONVERT_SLICE):
                found += [
                    Subscription.from_document(hit["_source"])
                    for hit in hits[start : start + _CONVERT_SLICE]
                ]
                # A page of 2,000 held a busy worker's loop for up to a second: let it run.
                await asyncio.sleep(0)
            if len(hits) < _PAGE:
                break
            after = hits[-1]["sort"]
        return found[: self._max]

    async def _page(self, query: Mapping[str, Any], after: list[Any] | None) -> list[Any]:
        extra = {"search_after": after} if after else {}
        response = await self._call(
            lambda: self._client.options(ignore_status=404).search(
                index=self._index,
                query=query,
                size=_PAGE,
                sort=[{"created_at": "asc"}, {"subscription_id": "asc"}],
                **extra,
            )
        )
        return list(response.get("hits", {}).get("hits", []))

    async def fingerprint(self) -> tuple[int, str | None]:
        """Count and newest ``updated_at`` (one aggregation, after a refresh)."""

        async def read() -> Any:
            quiet = self._client.options(ignore_status=404)
            await quiet.indices.refresh(index=self._index)
            return await quiet.search(
                index=self._index,
                size=0,
                track_total_hits=True,
                aggs={"newest": {"max": {"field": "updated_at"}}},
            )

        response = await self._call(read)
        total = response.get("hits", {}).get("total", {}).get("value", 0)
        newest = response.get("aggregations", {}).get("newest", {}).get("value_as_string")
        return int(total), newest

    async def _call(self, fn: Any) -> Any:
        async def attempt() -> Any:
            try:
                return await fn()
            except ApiError as exc:
                if exc.meta.status == 409:
                    raise AlertError("subscription id taken") from exc
                if exc.meta.status in (429,) or exc.meta.status >= 500:
                    raise ServiceUnavailable(f"subscriptions: HTTP {exc.meta.status}") from exc
                raise AlertError(
                    f"subscriptions: Elasticsearch refused (HTTP {exc.meta.status})"
                ) from exc
            except TransportError as exc:
                raise ServiceUnavailable(f"subscriptions: {type(exc).__name__}") from exc

        return await self._retrier.call(attempt, kind="alert")
