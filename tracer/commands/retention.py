"""``tracer retention set | run``: every topic and index keeps its data for its days, no longer.

``set`` gives each delete-policy topic its ``retention.ms`` from the settings
(``TRACER_RETENTION_*_DAYS``); the Docker stack's set-up job runs it after ``stack init``.
``run`` removes what is past its age from Elasticsearch: whole day indices of the event
archive, and old documents of leads, alerts and audit (point-in-time search + bulk delete).
Both report what they did and are safe to run twice.
"""

from __future__ import annotations

from typing import Annotated

import typer
from elasticsearch import Elasticsearch
from rich.console import Console

from connectors.clients import elasticsearch_client
from connectors.retention import (
    apply_topic_retention,
    delete_old_day_indices,
    delete_old_documents,
    topic_retention,
)
from connectors.topics import kafka_admin
from contract import FEED_TOPICS
from kibana.acls import AUDIT_TOPIC
from kibana.roles import ALERTS_INDEX, AUDIT_INDEX, EVENTS_INDEX_PREFIX
from tracer.settings import TracerSettings, load_settings

__all__ = ["app", "topic_days"]

app = typer.Typer(help="Retention: set topics' retention, remove old data.", no_args_is_help=True)
_err = Console(stderr=True, highlight=False)

#: The time field retention reads in every index (the lead's is its event's time).
_TIME_FIELD = "@timestamp"


def topic_days(settings: TracerSettings) -> dict[str, int]:
    """Return the retention in days of each delete-policy topic (before the prefix)."""
    days: dict[str, int] = dict.fromkeys(FEED_TOPICS, settings.retention_feeds_days)
    days |= {
        "deadletter": settings.retention_deadletter_days,
        "leads": settings.retention_leads_days,
        "alerts": settings.retention_alerts_days,
        AUDIT_TOPIC: settings.retention_audit_days,
    }
    return days


@app.command("set")
def set_topics() -> None:
    """Set ``retention.ms`` on every delete-policy topic that exists."""
    settings = load_settings()
    plan = topic_retention(topic_days(settings), prefix=settings.topic_prefix)
    admin = kafka_admin(settings)
    try:
        report = apply_topic_retention(admin, plan)
    finally:
        admin.close()
    for topic, ms in sorted(report.applied.items()):
        typer.echo(f"retention: topic {topic} keeps {ms // 86_400_000} days")
    for topic in report.missing:
        typer.echo(f"retention: topic {topic} does not exist (skipped)")


def _client(settings: TracerSettings) -> Elasticsearch:
    return elasticsearch_client(settings, request_timeout=60)


@app.command("run")
def run(
    events_prefix: Annotated[
        str, typer.Option(help="Prefix of the event archive's day indices.")
    ] = f"{EVENTS_INDEX_PREFIX}-",
) -> None:
    """Remove what is past its age: old day indices, old leads, alerts and audit documents."""
    settings = load_settings()
    targets = (
        (settings.leads_alias, settings.retention_leads_days),
        (ALERTS_INDEX, settings.retention_alerts_days),
        (AUDIT_INDEX, settings.retention_audit_days),
    )
    with _client(settings) as client, _err.status("tracer retention run", spinner="dots"):
        gone = delete_old_day_indices(client, events_prefix, days=settings.retention_events_days)
        typer.echo(
            f"retention: {len(gone)} day indices deleted{': ' if gone else ''}{', '.join(gone)}"
        )
        for target, days in targets:
            removed = delete_old_documents(client, target, field=_TIME_FIELD, days=days)
            typer.echo(
                f"retention: {removed} documents older than {days} days removed from {target}"
            )
