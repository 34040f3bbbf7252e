"""Retention: every topic and index keeps its data for a configured number of days, no longer.

Topics: ``retention.ms`` set on each delete-policy topic (the compacted roster topics keep the
latest record per person for as long as the person is on the roster, by design). Indices:
day indices (``events-YYYY.MM.DD``) are deleted whole once past their age; elsewhere the
documents older than the age are found with a point-in-time search and deleted in bulk (the
local Elasticsearch has no delete-by-query). Every step is idempotent: a second run finds
nothing more to remove. Planning is pure (tested by value); the I/O is in the three
``apply_``/``delete_`` functions::

    plan = topic_retention({"feeds.bank": 7, "deadletter": 30}, prefix="")
    apply_topic_retention(admin, plan)                       # -> TopicRetentionReport
    delete_old_day_indices(es, "events-", days=30)           # -> ["events-2026.10.01", ...]
    delete_old_documents(es, "alerts", field="@timestamp", days=90)   # -> 1234
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from elasticsearch import ApiError, Elasticsearch, TransportError
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaError

from connectors.errors import ServiceUnavailable, StackError
from connectors.topics import AdminClient

__all__ = [
    "ConfigAdmin",
    "TopicRetentionReport",
    "apply_topic_retention",
    "day_indices_older_than",
    "delete_old_day_indices",
    "delete_old_documents",
    "topic_retention",
]

_DAY_MS: Final = 86_400_000
_DAY_INDEX: Final = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})")
_PAGE: Final = 1000
#: At most this many pages per target and run: a run is bounded; the next run goes on.
_MAX_PAGES: Final = 1000


def topic_retention(days_by_topic: Mapping[str, int], *, prefix: str = "") -> dict[str, int]:
    """Return ``{full topic name: retention.ms}`` for each topic and its days.

    Raises:
        ValueError: a retention below one day.
    """
    plan = {}
    for topic, days in days_by_topic.items():
        if days < 1:
            raise ValueError(f"retention of {topic} must be at least one day, got {days}")
        plan[f"{prefix}{topic}"] = days * _DAY_MS
    return plan


@dataclass(frozen=True)
class TopicRetentionReport:
    """Topics whose retention was set, and topics that do not exist (skipped, reported)."""

    applied: dict[str, int]
    missing: tuple[str, ...]


class ConfigAdmin(AdminClient, Protocol):
    """The slice of kafka-python's admin client this module uses (listing, altering)."""

    def alter_configs(self, config_resources: Any, **kwargs: Any) -> Any:
        """Alter configs (incrementally where the broker supports it)."""
        ...


def apply_topic_retention(admin: ConfigAdmin, plan: Mapping[str, int]) -> TopicRetentionReport:
    """Set ``retention.ms`` on every existing topic of ``plan`` (only that key is changed).

    Raises:
        StackError: the broker refused the change.
        ServiceUnavailable: the broker did not answer.
    """
    try:
        present = set(admin.list_topics())
        applied = {topic: ms for topic, ms in plan.items() if topic in present}
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": str(ms)})
            for topic, ms in sorted(applied.items())
        ]
        if resources:
            admin.alter_configs(resources)
    except KafkaError as exc:
        if exc.retriable:
            raise ServiceUnavailable(f"Kafka did not answer: {type(exc).__name__}") from exc
        raise StackError(f"Kafka refused the retention change: {type(exc).__name__}") from exc
    missing = tuple(sorted(set(plan) - set(applied)))
    return TopicRetentionReport(applied=applied, missing=missing)


def day_indices_older_than(
    names: Iterable[str], prefix: str, *, days: int, today: dt.date
) -> list[str]:
    """Return the day indices (``<prefix>YYYY.MM.DD``) whose day is ``days`` or more ago.

    A name under the prefix that is not a date (``events-template``) is never chosen.

    Example:
        ``day_indices_older_than(["events-2026.01.01"], "events-", days=30,
        today=date(2026, 3, 1))`` gives ``["events-2026.01.01"]``.
    """
    cutoff = today - dt.timedelta(days=days)
    old = []
    for name in names:
        if not name.startswith(prefix):
            continue
        match = _DAY_INDEX.fullmatch(name[len(prefix) :])
        if match is None:
            continue
        try:
            day = dt.date(*(int(part) for part in match.groups()))
        except ValueError:
            continue
        if day <= cutoff:
            old.append(name)
    return sorted(old)


def _today(now: dt.datetime | None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()


def delete_old_day_indices(
    client: Elasticsearch, prefix: str, *, days: int, now: dt.datetime | None = None
) -> list[str]:
    """Delete the day indices under ``prefix`` past their age; return their names.

    Raises:
        StackError: Elasticsearch refused.
        ServiceUnavailable: Elasticsearch did not answer.
    """
    try:
        found = client.options(ignore_status=404).indices.get(
            index=f"{prefix}*", expand_wildcards="open,closed"
        )
        old = day_indices_older_than(found.body or {}, prefix, days=days, today=_today(now))
        for name in old:
            client.options(ignore_status=404).indices.delete(index=name)
    except ApiError as exc:
        raise StackError(f"Elasticsearch refused to delete old indices: {exc.meta.status}") from exc
    except TransportError as exc:
        raise ServiceUnavailable(f"Elasticsearch did not answer: {type(exc).__name__}") from exc
    return old


def _old_query(field: str, days: int, now: dt.datetime | None) -> dict[str, Any]:
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)
    return {"range": {field: {"lt": cutoff.astimezone(dt.UTC).isoformat()}}}


def delete_old_documents(
    client: Elasticsearch,
    target: str,
    *,
    field: str,
    days: int,
    now: dt.datetime | None = None,
    page: int = _PAGE,
    max_pages: int = _MAX_PAGES,
) -> int:
    """Delete the documents of ``target`` whose ``field`` is older than ``days``; return how many.

    A point in time keeps the pages consistent while documents go; each page is deleted with
    one bulk request. A missing ``target`` has nothing to delete. Bounded by ``max_pages``.

    Raises:
        StackError: Elasticsearch refused a search or a deletion.
        ServiceUnavailable: Elasticsearch did not answer.
    """
    try:
        if not client.indices.exists(index=target):
            return 0
        pit = client.open_point_in_time(index=target, keep_alive="1m").body["id"]
        try:
            return _delete_pages(client, pit, _old_query(field, days, now), page, max_pages)
        finally:
            client.options(ignore_status=404).close_point_in_time(id=pit)
    except ApiError as exc:
        raise StackError(
            f"Elasticsearch refused to delete old documents of {target}: {exc.meta.status}"
        ) from exc
    except TransportError as exc:
        raise ServiceUnavailable(f"Elasticsearch did not answer: {type(exc).__name__}") from exc


def _delete_pages(
    client: Elasticsearch, pit: str, query: dict[str, Any], page: int, max_pages: int
) -> int:
    removed = 0
    after: list[Any] | None = None
    for _ in range(max_pages):
        body: dict[str, Any] = {
            "pit": {"id": pit, "keep_alive": "1m"},
            "query": query,
            "size": page,
            "sort": [{"_shard_doc": "asc"}],
            "_source": False,
        }
        if after is not None:
            body["search_after"] = after
        hits = client.search(**body).body["hits"]["hits"]
        if not hits:
            break
        operations = [{"delete": {"_index": hit["_index"], "_id": hit["_id"]}} for hit in hits]
        response = client.bulk(operations=operations, refresh="wait_for").body
        removed += sum(1 for item in response["items"] if item["delete"].get("result") == "deleted")
        after = hits[-1]["sort"]
    return removed
