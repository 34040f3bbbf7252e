"""``tracer subscriptions``: manage alert subscriptions, and compose the worker's alerting.

    tracer subscriptions add --owner wang.li --district 美兰区 --min-tier high
    tracer subscriptions add --owner wang.li --person P0012345 --webhook https://hooks.example/x
    tracer subscriptions add --owner wang.li --source bank --min-score 20
    tracer subscriptions add --owner wang.li --query '{"match": {"event_name": "zhang wei"}}'
    tracer subscriptions list [--owner wang.li] [--json]
    tracer subscriptions pause | resume | remove SUBSCRIPTION_ID
    tracer subscriptions key            # a new TRACER_ALERT_SECRET_KEY

An invalid subscription (unknown field, forbidden query type, malformed JSON, a district its
owner cannot see, a webhook URL refused) ends in one line naming every problem and exit 1;
nothing is stored. A webhook's signing secret is printed once, at creation, and stored only
encrypted with ``TRACER_ALERT_SECRET_KEY`` (:mod:`alerts.secretbox`).

:func:`alert_factory` builds the worker's :class:`~alerts.service.AlertService` from the
settings (``tracer worker`` hands it to :func:`streams.alerting.attach_alerts`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, TypeVar

import orjson
import typer
from elasticsearch import AsyncElasticsearch

from alerts.delivery import DeadLetter, Dispatcher
from alerts.errors import AlertError, InvalidSubscription
from alerts.outbox import AlertOutbox
from alerts.owners import ElasticsearchOwnerDirectory
from alerts.recorder import ElasticsearchAlertLog, Publish
from alerts.secretbox import SecretBox, new_key, new_webhook_secret
from alerts.service import AlertService
from alerts.store import ElasticsearchSubscriptionStore
from alerts.subscriptions import Subscription, SubscriptionRequest, new_subscription
from alerts.webhooks import AiohttpPoster, url_problem
from connectors.clients import retried_elasticsearch_client
from connectors.retry import Retrier, RetryPolicy
from tracer.settings import TracerSettings, load_settings

__all__ = ["alert_factory", "app"]

T = TypeVar("T")

app = typer.Typer(help="Alert subscriptions: be told once about each new lead that matches.")


def _client(settings: TracerSettings) -> AsyncElasticsearch:
    return retried_elasticsearch_client(settings)


def _run(work: Callable[[TracerSettings, AsyncElasticsearch, Retrier], Awaitable[T]]) -> T:
    """Run one command's work with a client; Elasticsearch away gives up after 20 s."""
    settings = load_settings()

    async def main() -> T:
        client = _client(settings)
        retrier = Retrier(RetryPolicy(cap_s=2.0, deadline_s=20.0))
        try:
            return await work(settings, client, retrier)
        finally:
            await client.close()

    return asyncio.run(main())


def _store(
    settings: TracerSettings, client: AsyncElasticsearch, retrier: Retrier
) -> ElasticsearchSubscriptionStore:
    return ElasticsearchSubscriptionStore(
        client, index=settings.subscriptions_index, retrier=retrier
    )


def _parse_query(text: str | None) -> Any:
    if text is None:
        return None
    try:
        query = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidSubscription(["query: malformed JSON"]) from None
    if not isinstance(query, dict):
        raise InvalidSubscription(["query: must be a JSON object"])
    return query


@app.command()
def add(
    *,
    owner: Annotated[str, typer.Option(help="The review service user who owns it.")],
    name: Annotated[str, typer.Option(help="A label.")] = "",
    person: Annotated[list[str] | None, typer.Option(help="A person_id to watch.")] = None,
    district: Annotated[list[str] | None, typer.Option(help="A district (owner's).")] = None,
    source: Annotated[list[str] | None, typer.Option(help="hukou, bank or telecom.")] = None,
    event_type: Annotated[list[str] | None, typer.Option(help="An event type.")] = None,
    min_tier: Annotated[str | None, typer.Option(help="low, medium or high.")] = None,
    min_score: Annotated[float | None, typer.Option(help="Lowest score.")] = None,
    query: Annotated[str | None, typer.Option(help="Restricted query DSL (JSON).")] = None,
    delivery: Annotated[str, typer.Option(help="immediate or digest.")] = "immediate",
    digest_minutes: Annotated[int, typer.Option(help="Digest period.")] = 15,
    rate_limit: Annotated[int | None, typer.Option(help="Deliveries per minute.")] = None,
    webhook: Annotated[str | None, typer.Option(help="https URL to POST to.")] = None,
) -> None:
    """Add a subscription; print its id (and, with a webhook, its secret, once)."""
    request = SubscriptionRequest(
        owner=owner,
        name=name,
        persons=person or [],
        districts=district or [],
        sources=source or [],
        event_types=event_type or [],
        min_tier=min_tier,
        min_score=min_score,
        query=_parse_query(query),
        delivery=delivery,
        digest_minutes=digest_minutes,
        rate_limit_per_minute=rate_limit,
        webhook_url=webhook,
    )
    subscription, secret = _run(partial(_add, request))
    print(subscription.subscription_id)
    if secret is not None:
        print(f"webhook secret (shown once): {secret}", file=sys.stderr)


async def _add(
    request: SubscriptionRequest,
    settings: TracerSettings,
    client: AsyncElasticsearch,
    retrier: Retrier,
) -> tuple[Subscription, str | None]:
    box = SecretBox(settings.alert_secret_key) if settings.alert_secret_key else None
    if request.webhook_url is not None and box is None:
        raise InvalidSubscription(["webhook_url: set TRACER_ALERT_SECRET_KEY to seal its secret"])
    owners = ElasticsearchOwnerDirectory(client, index=settings.review_users_index, retrier=retrier)
    found = await owners.owners([request.owner])
    subscription = new_subscription(
        request,
        found.get(request.owner),
        subscription_id=uuid.uuid4().hex,
        now=datetime.now(UTC).isoformat(),
        url_problem=partial(
            url_problem,
            allow_http=settings.alert_allow_http_webhooks,
            allow_private=settings.alert_allow_private_webhooks,
        ),
    )
    secret = None
    if box is not None and subscription.webhook_url is not None:
        secret = new_webhook_secret()
        subscription = subscription.changed(
            now=subscription.updated_at, webhook_secret=box.seal(secret)
        )
    store = _store(settings, client, retrier)
    await store.ensure()
    await store.add(subscription)
    return subscription, secret


@app.command("list")
def list_(
    owner: Annotated[str | None, typer.Option(help="Only this owner's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """List subscriptions (never their secrets)."""

    async def work(s: TracerSettings, c: AsyncElasticsearch, r: Retrier) -> list[Subscription]:
        return await _store(s, c, r).all(owner=owner)

    for subscription in _run(work):
        doc = subscription.to_document()
        doc["webhook_secret"] = "sealed" if doc.get("webhook_secret") else None
        if as_json:
            print(orjson.dumps(doc).decode())
            continue
        state = "FAILING" if subscription.failing else subscription.state
        what = _summary(subscription)
        print(f"{subscription.subscription_id}  {subscription.owner}  {state}  {what}")


def _summary(s: Subscription) -> str:
    parts = [
        f"{label}={','.join(values)}"
        for label, values in (
            ("persons", s.persons),
            ("districts", s.districts),
            ("sources", s.sources),
            ("event_types", s.event_types),
        )
        if values
    ]
    if s.min_tier:
        parts.append(f"min_tier={s.min_tier}")
    if s.min_score is not None:
        parts.append(f"min_score={s.min_score}")
    if s.query is not None:
        parts.append("query")
    if s.webhook_url:
        parts.append(f"webhook({s.delivery})")
    return " ".join(parts) or "everything in the owner's districts"


def _set_state(subscription_id: str, state: str) -> None:
    async def work(s: TracerSettings, c: AsyncElasticsearch, r: Retrier) -> None:
        store = _store(s, c, r)
        found = await store.get(subscription_id)
        await store.put(found.changed(now=datetime.now(UTC).isoformat(), state=state))

    _run(work)
    print(f"{subscription_id} {state}")


@app.command()
def pause(subscription_id: str) -> None:
    """Stop notifying (leads created meanwhile are not notified later)."""
    _set_state(subscription_id, "paused")


@app.command()
def resume(subscription_id: str) -> None:
    """Notify again, from new leads on (never again for a lead already notified)."""
    _set_state(subscription_id, "active")


@app.command()
def remove(subscription_id: str) -> None:
    """Delete a subscription (its notifications stay in the ``alerts`` index)."""

    async def work(s: TracerSettings, c: AsyncElasticsearch, r: Retrier) -> None:
        await _store(s, c, r).remove(subscription_id)

    _run(work)
    print(f"{subscription_id} removed")


@app.command()
def key() -> None:
    """Print a new key for TRACER_ALERT_SECRET_KEY."""
    print(new_key())


def alert_factory(
    settings: TracerSettings, retrier: Retrier
) -> Callable[[Publish, DeadLetter], AlertService]:
    """The worker's alert service, built from the settings once the worker's topics exist."""

    def build(publish: Publish, dead_letter: DeadLetter) -> AlertService:
        client = _client(settings)
        store = ElasticsearchSubscriptionStore(
            client, index=settings.subscriptions_index, retrier=retrier
        )
        alert_log = ElasticsearchAlertLog(client, index=settings.alerts_index)
        box = SecretBox(settings.alert_secret_key) if settings.alert_secret_key else None

        def open_secret(token: str) -> str:
            if box is None:
                raise AlertError("webhook secret: TRACER_ALERT_SECRET_KEY is not set")
            return box.open(token)

        service: AlertService

        async def mark_failing(subscription_id: str, reason: str | None) -> None:
            found = await store.get(subscription_id)
            now = datetime.now(UTC).isoformat()
            await store.put(
                found.changed(now=now, failing=reason is not None, failing_reason=reason)
            )

        # One name per process for its claims, the outbox's and delivery's.
        owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        dispatcher = Dispatcher(
            AiohttpPoster(
                timeout_s=settings.alert_webhook_timeout_seconds,
                allow_private=settings.alert_allow_private_webhooks,
            ),
            # Late bound: the service is built below, with this dispatcher.
            subscription=lambda sub_id: service.subscription(sub_id),  # noqa: PLW0108
            open_secret=open_secret,
            delivery_log=alert_log,
            mark_failing=mark_failing,
            dead_letter=dead_letter,
            deadline_s=settings.alert_delivery_deadline_seconds,
            retrier=retrier,
            owner=owner,
            attempt_timeout_s=settings.alert_webhook_timeout_seconds,
        )
        service = AlertService(
            store,
            ElasticsearchOwnerDirectory(client, index=settings.review_users_index, retrier=retrier),
            AlertOutbox(
                alert_log,
                publish,
                owner=owner,
                lease_s=settings.alert_relay_lease_seconds,
                max_pending=settings.alert_pending_max,
                retrier=retrier,
            ),
            dispatcher=dispatcher,
            review_url=settings.review_base_url,
            reload_s=settings.alert_reload_seconds,
            sweep_s=settings.alert_sweep_seconds,
            relay_s=settings.alert_relay_seconds,
        )
        return service

    return build


async def prepare_alert_indices(settings: TracerSettings) -> None:
    """Create the ``subscriptions`` and ``alerts`` indices if missing (worker start)."""
    client = _client(settings)
    try:
        retrier = Retrier(RetryPolicy(cap_s=2.0, deadline_s=30.0))
        await _store(settings, client, retrier).ensure()
        await ElasticsearchAlertLog(client, index=settings.alerts_index).ensure()
    finally:
        await client.close()
