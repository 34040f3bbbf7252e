"""Who may own a subscription: the review service's users, read through a small port.

The review service keeps its users in the ``review-users`` index (document id = username;
fields ``username``, ``role``, ``districts`` (district names), ``disabled``). This package only
reads them: :class:`OwnerDirectory` is the port, :class:`ElasticsearchOwnerDirectory` the adapter
(one ``_mget`` for many owners), :class:`InMemoryOwnerDirectory` its twin for unit tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from connectors.errors import ServiceUnavailable
from connectors.retry import Retrier
from elasticsearch import ApiError, TransportError

__all__ = [
    "REVIEW_USERS_INDEX",
    "ElasticsearchOwnerDirectory",
    "InMemoryOwnerDirectory",
    "Owner",
    "OwnerDirectory",
    "owner_from_document",
]

REVIEW_USERS_INDEX: Final = "review-users"


@dataclass(frozen=True, slots=True)
class Owner:
    """A user of the review service as far as subscriptions care."""

    username: str
    role: str = "officer"
    districts: frozenset[str] = frozenset()
    disabled: bool = False


def owner_from_document(doc: Mapping[str, Any]) -> Owner | None:
    """Read a ``review-users`` document leniently; ``None`` when it names nobody."""
    username = doc.get("username")
    if not isinstance(username, str) or not username:
        return None
    districts = doc.get("districts") or []
    if isinstance(districts, str):
        districts = [districts]
    return Owner(
        username=username,
        role=str(doc.get("role") or "officer"),
        districts=frozenset(d.strip() for d in districts if isinstance(d, str) and d.strip()),
        disabled=bool(doc.get("disabled", False)),
    )


class OwnerDirectory(Protocol):
    """Looks users up."""

    async def owners(self, usernames: Iterable[str]) -> dict[str, Owner]:
        """Return the users found among ``usernames`` (the missing are left out)."""
        ...


@dataclass
class InMemoryOwnerDirectory:
    """The twin: users kept in a dict."""

    users: dict[str, Owner] = field(default_factory=dict)

    async def owners(self, usernames: Iterable[str]) -> dict[str, Owner]:
        """Return the users found among ``usernames``."""
        return {name: self.users[name] for name in set(usernames) if name in self.users}


class ElasticsearchOwnerDirectory:
    """Reads ``review-users`` with one ``_mget`` (realtime: a user just created is seen).

    Args:
        client: An :class:`elasticsearch.AsyncElasticsearch`.
        index: The users index.
        retrier: Retries Elasticsearch being away.
    """

    def __init__(
        self, client: Any, *, index: str = REVIEW_USERS_INDEX, retrier: Retrier | None = None
    ) -> None:
        self._client = client
        self._index = index
        self._retrier = retrier or Retrier()

    async def owners(self, usernames: Iterable[str]) -> dict[str, Owner]:
        """Return the users found among ``usernames`` (a missing index: nobody)."""
        ids = sorted(set(usernames))
        if not ids:
            return {}

        async def mget() -> dict[str, Owner]:
            try:
                response = await self._client.options(ignore_status=404).mget(
                    index=self._index, ids=ids
                )
            except (ApiError, TransportError) as exc:
                raise ServiceUnavailable(f"review users: {type(exc).__name__}") from exc
            found: dict[str, Owner] = {}
            for doc in response.get("docs", []):
                owner = owner_from_document(doc.get("_source") or {}) if doc.get("found") else None
                if owner is not None and owner.username == doc.get("_id"):
                    found[owner.username] = owner
            return found

        return await self._retrier.call(mget, kind="alert")
