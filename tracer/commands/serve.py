"""``tracer serve``: the officers' review service (pages and JSON API) on loopback by default.

Composes :mod:`review` from the settings: the async Elasticsearch client, the Kafka producer
that mirrors the audit trail to the ``audit`` topic, the session key, and runs uvicorn until
SIGINT / SIGTERM (uvicorn's own handling; the audit mirror drains for a few seconds).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated

import typer
import uvicorn
from elasticsearch import AsyncElasticsearch
from rich.console import Console

from connectors.clients import aiokafka_producer, async_elasticsearch_client
from connectors.endpoints import kafka_addresses, require_listening, url_address
from connectors.topics import TopicSpec, ensure_topics, kafka_admin
from contract import topic_name
from review.app import build_app
from review.audit import AuditTrail
from review.security import SessionCodec
from review.service import ReviewConfig, ReviewService
from tracer.settings import TracerSettings, load_settings

__all__ = ["async_client", "review_config", "serve"]

_out = Console(stderr=True, highlight=False)


def async_client(settings: TracerSettings) -> AsyncElasticsearch:
    """The async Elasticsearch client of the settings (its own retries off: es_call retries)."""
    return async_elasticsearch_client(settings, request_timeout=10, max_retries=0)


def review_config(settings: TracerSettings) -> ReviewConfig:
    """The review service's names and bounds from the settings."""
    return ReviewConfig(
        leads_alias=settings.leads_alias,
        users_index=settings.review_users_index,
        audit_index=settings.audit_index,
        events_alias=settings.event_archive_alias,
        audit_topic=topic_name("audit", prefix=settings.topic_prefix),
        session_seconds=settings.review_session_minutes * 60.0,
        secure_cookie=settings.review_secure_cookie,
    )


def _ensure_audit_topic(settings: TracerSettings, topic: str) -> None:
    # The broker may not create topics on first use (the local stack does not).
    admin = kafka_admin(settings)
    try:
        ensure_topics(admin, [TopicSpec(topic, partitions=settings.feed_partitions)])
    finally:
        admin.close()


async def _serve(settings: TracerSettings, host: str, port: int) -> None:
    config = review_config(settings)
    secret = (settings.review_secret or secrets.token_urlsafe(48)).encode()
    codec = SessionCodec(secret, lifetime_s=config.session_seconds)
    client = async_client(settings)
    producer = aiokafka_producer(settings, acks="all")
    await producer.start()
    try:
        trail = AuditTrail(client, config.audit_index, topic=config.audit_topic, publisher=producer)
        app = build_app(ReviewService(client, config, codec, trail))
        server = uvicorn.Server(
            uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False)
        )
        _out.print(f"review service on http://{host}:{port}/ (Ctrl-C stops it)")
        await server.serve()
    finally:  # the app's lifespan closed the Elasticsearch client
        await producer.stop()


def serve(
    *,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default TRACER_REVIEW_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default TRACER_REVIEW_PORT, 8080).")
    ] = None,
) -> None:
    """Run the officers' review service: search, read, reveal and decide leads, audited."""
    settings = load_settings()
    require_listening("Elasticsearch", [url_address(settings.elasticsearch_url)])
    require_listening("Kafka", kafka_addresses(settings.kafka_bootstrap))
    _ensure_audit_topic(settings, f"{settings.topic_prefix}audit")
    asyncio.run(_serve(settings, host or settings.review_host, port or settings.review_port))
