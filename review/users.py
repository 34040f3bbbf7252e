"""Users of the review service, in the ``review-users`` index (doc id = username).

The document's shape is shared: the ``alerts`` helper reads it for subscription owners::

    {"username": "wang.officer", "role": "officer", "districts": ["美兰区"],
     "password_hash": "$argon2id$...", "disabled": false, "created_at": "2026-12-07T..."}

``districts`` are district names as in the roster; leads are found through
``connectors.lead_index.district_alias`` of each.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final, cast

from connectors.indices import ensure_index_async
from elasticsearch import AsyncElasticsearch
from matchers.errors import TracerError

from review.elastic import Conflict, Missing, es_call
from review.roles import ROLES, Role
from review.security import hash_password

__all__ = ["USERNAME", "User", "UserError", "UserStore", "users_mappings"]

#: Usernames: lower-case letters, digits, ``. _ -``; 2 to 64 characters (an id in URLs and logs).
USERNAME: Final = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_MIN_PASSWORD = 10


class UserError(TracerError):
    """A user cannot be added or changed as asked (bad name, role, password; exists; unknown)."""


@dataclass(frozen=True, slots=True)
class User:
    """A user as the service needs them (the hash stays in the store)."""

    username: str
    role: Role
    districts: tuple[str, ...]
    disabled: bool
    created_at: str


def users_mappings() -> dict[str, Any]:
    """The mapping of ``review-users``."""
    keyword = {"type": "keyword"}
    return {
        "dynamic": False,
        "properties": {
            "username": keyword,
            "role": keyword,
            "districts": keyword,
            "password_hash": {"type": "keyword", "index": False},
            "disabled": {"type": "boolean"},
            "created_at": {"type": "date"},
        },
    }


def _user(source: dict[str, Any]) -> User:
    role = source.get("role")
    return User(
        username=str(source.get("username", "")),
        role=cast(Role, role) if role in ROLES else "officer",
        districts=tuple(str(d) for d in source.get("districts") or ()),
        # A record without the flag, or with a broken role, must not open more than it says.
        disabled=bool(source.get("disabled", True)) or role not in ROLES,
        created_at=str(source.get("created_at", "")),
    )


class UserStore:
    """The ``review-users`` index.

    Args:
        client: the async Elasticsearch client.
        index: the index name (``review-users``; tests use their own).
    """

    def __init__(self, client: AsyncElasticsearch, index: str) -> None:
        self._client = client
        self._index = index

    async def ensure(self) -> None:
        """Create the index when it is missing (idempotent)."""
        await es_call(
            lambda: ensure_index_async(self._client, self._index, mappings=users_mappings())
        )

    async def add(
        self, username: str, *, role: str, districts: list[str], password: str, now: dt.datetime
    ) -> User:
        """Create a user (create-only: an existing username is refused).

        Raises:
            UserError: bad username, role, districts or password, or the user exists.
        """
        if not USERNAME.fullmatch(username):
            raise UserError("a username is 2-64 of a-z 0-9 . _ - (starting with a letter/digit)")
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        if role in ("officer", "supervisor") and not [d for d in districts if d.strip()]:
            raise UserError("officers and supervisors need at least one district")
        if len(password) < _MIN_PASSWORD:
            raise UserError(f"a password has at least {_MIN_PASSWORD} characters")
        doc = {
            "username": username,
            "role": role,
            "districts": [d.strip() for d in districts if d.strip()],
            "password_hash": hash_password(password),
            "disabled": False,
            "created_at": now.isoformat(),
        }
        try:
            await es_call(
                lambda: self._client.create(
                    index=self._index, id=username, document=doc, refresh="wait_for"
                )
            )
        except Conflict as exc:
            raise UserError(f"user {username!r} exists already") from exc
        return _user(doc)

    async def get(self, username: str) -> tuple[User, str] | None:
        """Return a user and their password hash, or ``None`` when unknown."""
        if not USERNAME.fullmatch(username):
            return None
        try:
            found = await es_call(lambda: self._client.get(index=self._index, id=username))
        except Missing:
            return None
        source = dict(found["_source"])
        return _user(source), str(source.get("password_hash") or "")

    async def list_users(self, *, limit: int = 1000) -> list[User]:
        """Every user, by username (at most ``limit``)."""
        try:
            found = await es_call(
                lambda: self._client.search(
                    index=self._index, size=limit, sort=[{"username": "asc"}]
                )
            )
        except Missing:
            return []
        return [_user(hit["_source"]) for hit in found["hits"]["hits"]]

    async def set_disabled(self, username: str, disabled: bool = True) -> None:
        """Disable (or enable again) a user; their sessions stop at their next request.

        Raises:
            UserError: no such user.
        """
        try:
            await es_call(
                lambda: self._client.update(
                    index=self._index, id=username, doc={"disabled": disabled}, refresh="wait_for"
                )
            )
        except Missing as exc:
            raise UserError(f"no user {username!r}") from exc
