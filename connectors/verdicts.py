"""Read the officers' verdicts (confirmed and rejected leads) from Elasticsearch.

One point-in-time over the leads alias (every district's index behind it), paged with
``search_after`` on ``_shard_doc``: a consistent view however long the read takes, in pages of
``page_size``, at most ``limit`` leads. Only the fields a label needs are fetched
(:data:`VERDICT_SOURCE`). Each call is retried through the one retrier; what Elasticsearch
raises is translated here (:func:`connectors.elasticsearch.request_error`); a missing alias
is :class:`NoLeadsIndex` at once, not retried.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from elasticsearch import ApiError, NotFoundError, TransportError

from connectors.elasticsearch import request_error
from connectors.errors import ConnectorError
from connectors.retry import RetryPolicy, retry_call

__all__ = [
    "VERDICT_SOURCE",
    "NoLeadsIndex",
    "VerdictPage",
    "read_verdicts",
    "verdict_query",
]

T = TypeVar("T")

#: What a label needs of a lead (no names, numbers or notes are read).
VERDICT_SOURCE: tuple[str, ...] = (
    "lead_id",
    "status",
    "tier",
    "score",
    "model_version",
    "explanation.fields.field",
    "explanation.fields.level",
    "explanation.fields.weight",
)
_KEEP_ALIVE = "2m"


class NoLeadsIndex(ConnectorError):
    """The leads alias does not exist (nothing was ever indexed there)."""


@dataclass(frozen=True, slots=True)
class VerdictPage:
    """One page read: its leads and how many verdicts the alias holds in all."""

    leads: list[dict[str, Any]]
    total: int


def verdict_query() -> dict[str, Any]:
    """The query of every lead an officer decided (confirmed or rejected).

    Example:
        >>> verdict_query()["bool"]["filter"][0]
        {'terms': {'status': ['confirmed', 'rejected']}}
    """
    return {"bool": {"filter": [{"terms": {"status": ["confirmed", "rejected"]}}]}}


async def read_verdicts(
    client: Any,
    alias: str,
    *,
    page_size: int = 1000,
    limit: int = 100_000,
    policy: RetryPolicy,
    on_page: Callable[[VerdictPage], None] | None = None,
) -> list[dict[str, Any]]:
    """Every decided lead behind ``alias`` (at most ``limit``), in pages of ``page_size``.

    Raises:
        NoLeadsIndex: the alias does not exist.
        connectors.errors.RetryGaveUp: Elasticsearch stayed unavailable past the deadline.
        connectors.errors.RequestRejected: Elasticsearch refused the request (a bug of ours).
    """
    opened = await _call(
        lambda: client.open_point_in_time(index=alias, keep_alive=_KEEP_ALIVE), alias, policy
    )
    pit = opened["id"]
    out: list[dict[str, Any]] = []
    after: list[Any] | None = None
    try:
        # Bounded: one page more than the limit needs, whatever the alias holds.
        for _ in range(limit // page_size + 1):
            size = min(page_size, limit - len(out))
            if size <= 0:
                break
            body = _page_body(pit, size, after)
            found = await _call(lambda b=body: client.search(**b), alias, policy)  # type: ignore[misc]
            pit = found.get("pit_id", pit)
            hits = found["hits"]["hits"]
            out.extend(hit["_source"] for hit in hits)
            if on_page is not None:
                total = found["hits"]["total"]["value"]
                on_page(VerdictPage([h["_source"] for h in hits], int(total)))
            if len(hits) < size:
                break
            after = hits[-1]["sort"]
    finally:
        await _close(client, pit, alias, policy)
    return out


async def _close(client: Any, pit: str, alias: str, policy: RetryPolicy) -> None:
    try:
        await _call(lambda: client.close_point_in_time(id=pit), alias, policy)
    except ConnectorError:
        # Not worth failing the read for: an unclosed point in time expires by its keep-alive.
        return


def _page_body(pit: str, size: int, after: list[Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pit": {"id": pit, "keep_alive": _KEEP_ALIVE},
        "query": verdict_query(),
        "sort": [{"_shard_doc": "asc"}],
        "size": size,
        "source_includes": list(VERDICT_SOURCE),
        "track_total_hits": True,
    }
    if after is not None:
        body["search_after"] = after
    return body


async def _call(fn: Callable[[], Awaitable[T]], alias: str, policy: RetryPolicy) -> T:
    async def attempt() -> T:
        try:
            return await fn()
        except NotFoundError as exc:
            raise NoLeadsIndex(f"no leads index or alias {alias!r} in Elasticsearch") from exc
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc

    return await retry_call(attempt, kind="index", policy=policy)
