"""Create an Elasticsearch index unless it is there: the one rule, sync and async.

Every store that owns an index (leads' district indices, subscriptions, alerts, review users,
audit) creates it at start, and several processes may start at once. The rule is the same for
all: ask Elasticsearch to create the index; a 400 ``resource_already_exists_exception`` means
another creator won the race (or the index was made earlier) and is not an error; any other
refusal (a mapping Elasticsearch rejects, a bad setting) is raised, never swallowed, so a store
never runs on an index without its mapping. Errors are the caller's to translate (a request's
``es_call``, a job's ``request_error``): this module only decides what "already there" means.

Why create-then-look rather than ``exists`` then ``create``: the check is a race (two workers
both see "missing"), and the create answers the question anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, Elasticsearch

__all__ = ["ensure_index", "ensure_index_async", "index_already_exists"]


def index_already_exists(exc: ApiError) -> bool:
    """Whether a create-index call failed only because the index is there already."""
    return exc.meta.status == 400 and "resource_already_exists" in str(exc)


def _body(
    mappings: Mapping[str, Any] | None,
    settings: Mapping[str, Any] | None,
    aliases: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The create call's keyword arguments, leaving out what the caller did not give."""
    parts = {"mappings": mappings, "settings": settings, "aliases": aliases}
    return {name: dict(value) for name, value in parts.items() if value is not None}


def ensure_index(
    client: Elasticsearch,
    index: str,
    *,
    mappings: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    aliases: Mapping[str, Any] | None = None,
) -> bool:
    """Create ``index`` unless it exists; return whether this call created it.

    Raises:
        elasticsearch.ApiError: Elasticsearch refused the index for another reason.
        elasticsearch.TransportError: Elasticsearch did not answer.
    """
    try:
        client.indices.create(index=index, **_body(mappings, settings, aliases))
    except ApiError as exc:
        if not index_already_exists(exc):
            raise
        return False
    return True


async def ensure_index_async(
    client: AsyncElasticsearch,
    index: str,
    *,
    mappings: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
    aliases: Mapping[str, Any] | None = None,
) -> bool:
    """:func:`ensure_index` for the async client."""
    try:
        await client.indices.create(index=index, **_body(mappings, settings, aliases))
    except ApiError as exc:
        if not index_already_exists(exc):
            raise
        return False
    return True
