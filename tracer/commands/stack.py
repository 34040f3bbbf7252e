"""``tracer stack up | down | status | init``: the local single-node Kafka and Elasticsearch.

``up`` fetches the stack once from Maven Central into ``.stack``, starts both services detached
and creates the contract's topics and the leads index. ``init`` does only the last part, against
whatever addresses are configured (docker-compose's ``setup`` job runs it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, TypeVar
from urllib.parse import urlsplit

import typer
from elasticsearch import TransportError
from kafka.errors import KafkaError
from rich.console import Console

from connectors.clients import elasticsearch_client
from connectors.endpoints import require_listening, url_address
from connectors.errors import RetryGaveUp, ServiceUnavailable, StackError
from connectors.lead_index import ensure_lead_index
from connectors.retry import RetryPolicy, retry_call
from connectors.topics import contract_topics, ensure_topics, kafka_admin
from stack import SERVICES, LocalStack, ServiceName, ServiceStatus, StackConfig
from tracer.settings import TracerSettings, load_settings

__all__ = ["app", "provision", "stack_config"]

app = typer.Typer(
    help="Start, stop and inspect the local Kafka and Elasticsearch (no Docker needed).",
    no_args_is_help=True,
)

_T = TypeVar("_T")
_err = Console(stderr=True)


def stack_config(settings: TracerSettings) -> StackConfig:
    """Translate the settings into the plain values of the local stack."""
    kafka_host, _, kafka_port = settings.kafka_bootstrap.split(",")[0].strip().rpartition(":")
    url = urlsplit(settings.elasticsearch_url)
    return StackConfig(
        stack_dir=settings.stack_dir,
        kafka_version=settings.kafka_version,
        elasticsearch_version=settings.elasticsearch_version,
        kafka_host=kafka_host or "127.0.0.1",
        kafka_port=int(kafka_port or 9092),
        elasticsearch_host=url.hostname or "127.0.0.1",
        elasticsearch_port=url.port or 9200,
        kafka_heap=settings.kafka_heap,
        elasticsearch_heap=settings.elasticsearch_heap,
        java_home=settings.java_home,
        elasticsearch_java_home=settings.elasticsearch_java_home,
    )


def _with_backoff(
    action: Callable[[], _T],
    *,
    what: str,
    deadline: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> _T:
    """Run ``action`` until it stops failing with a retriable error or ``deadline`` passes.

    The project's retry helper paces it (kind ``stack``; 0.5 s doubling to 5 s, jittered).
    A refused connection is not retried (:class:`ConnectionRefused` is not retriable):
    nothing listens, and waiting will not start it.
    """

    async def attempt() -> _T:
        try:
            # In a thread: the action blocks, and may run an event loop of its own (the
            # fail-fast probe of connectors.endpoints).
            return await asyncio.to_thread(action)
        except KafkaError as exc:  # translated here, the adapter's edge for this command
            if not exc.retriable:
                raise StackError(f"{what} refused the set-up: {exc}") from exc
            raise ServiceUnavailable(f"{what}: {type(exc).__name__}") from exc
        except TransportError as exc:
            raise ServiceUnavailable(f"{what}: {type(exc).__name__}") from exc

    policy = RetryPolicy(base_s=0.5, cap_s=5.0, deadline_s=max(deadline - time.monotonic(), 0.01))
    try:
        # INFO, not WARNING: waiting for a service that is starting is what this command does.
        retrying = retry_call(
            attempt, kind="stack", policy=policy, sleep=sleep, log_level=logging.INFO
        )
        return asyncio.run(retrying)
    except RetryGaveUp as exc:
        raise StackError(f"{what} was not ready in time: {exc.__cause__}") from exc


def _remaining(deadline: float) -> float:
    """Seconds one attempt may take: what is left before ``deadline``, 1 to 10 s."""
    return max(1.0, min(10.0, deadline - time.monotonic()))


def _create_topics(settings: TracerSettings, deadline: float) -> str:
    admin = kafka_admin(settings, timeout_s=_remaining(deadline))
    try:
        specs = contract_topics(
            prefix=settings.topic_prefix, feed_partitions=settings.feed_partitions
        )
        report = ensure_topics(admin, specs)
    finally:
        admin.close()
    return f"topics: {len(report.created)} created, {len(report.existing)} already there"


def _create_index(settings: TracerSettings, deadline: float) -> str:
    require_listening("Elasticsearch", [url_address(settings.elasticsearch_url)])
    with elasticsearch_client(settings, request_timeout=_remaining(deadline)) as client:
        index = ensure_lead_index(client, settings.leads_alias)
    return f"index: alias {settings.leads_alias!r} -> {index}"


def provision(settings: TracerSettings, *, timeout_s: float, say: Callable[[str], None]) -> None:
    """Create the contract's topics and the leads index, retrying until ``timeout_s`` passes.

    A service that refuses connections (nothing listens) fails within seconds; one that
    listens but is not ready yet is waited for.

    Raises:
        ConnectionRefused: nothing listens at Kafka's or Elasticsearch's address.
        StackError: Kafka or Elasticsearch did not become ready, or refused the set-up.
    """
    deadline = time.monotonic() + timeout_s
    say(_with_backoff(lambda: _create_topics(settings, deadline), what="Kafka", deadline=deadline))
    say(
        _with_backoff(
            lambda: _create_index(settings, deadline), what="Elasticsearch", deadline=deadline
        )
    )


def _line(status: ServiceStatus) -> str:
    pid = f"pid {status.pid}" if status.pid else "-"
    return (
        f"{status.service:<14} {status.state:<9} {status.address:<24} {pid:<11}"
        f" v{status.version:<7} log {status.log}"
    )


def _print_status(statuses: tuple[ServiceStatus, ...], *, as_json: bool) -> None:
    if as_json:
        rows = [asdict(status) | {"log": str(status.log)} for status in statuses]
        typer.echo(json.dumps(rows, indent=2))
        return
    for status in statuses:
        typer.echo(_line(status))


_ONLY_HELP = "Only this service (kafka or elasticsearch); repeat for both. Default: both."


def _services(only: list[str] | None) -> tuple[ServiceName, ...]:
    """The services ``--only`` names, in the stack's order; all of them when it is not given."""
    if not only:
        return SERVICES
    unknown = sorted(set(only) - set(SERVICES))
    if unknown:
        raise typer.BadParameter(
            f"unknown service {', '.join(unknown)}; choose from {', '.join(SERVICES)}",
            param_hint="--only",
        )
    return tuple(service for service in SERVICES if service in only)


@app.command()
def up(
    only: Annotated[list[str] | None, typer.Option("--only", help=_ONLY_HELP)] = None,
) -> None:
    """Fetch (first run only), start Kafka and Elasticsearch, create topics and the leads index."""
    services = _services(only)
    settings = load_settings()
    stack = LocalStack(stack_config(settings))
    begin = time.monotonic()
    with _err.status("tracer stack up", spinner="dots") as spinner:

        def say(message: str) -> None:
            spinner.update(message)
            _err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}", highlight=False)

        statuses = stack.up(say, only=services)
        # Topics and the index need both services: a restart of one alone finds them in place.
        if services == SERVICES:
            provision(settings, timeout_s=60.0, say=say)
    _err.print(f"stack ready in {time.monotonic() - begin:.1f} s", highlight=False)
    _print_status(statuses, as_json=False)


@app.command()
def down(
    only: Annotated[list[str] | None, typer.Option("--only", help=_ONLY_HELP)] = None,
) -> None:
    """Stop Kafka and Elasticsearch (SIGTERM, then SIGKILL) and leave nothing behind."""
    services = _services(only)
    stack = LocalStack(stack_config(load_settings()))
    with _err.status("tracer stack down", spinner="dots"):
        statuses = stack.down(typer.echo, only=services)
    _print_status(statuses, as_json=False)


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of lines.")] = False,
) -> None:
    """Show what runs, where, which versions and where it logs; exit 1 unless both run."""
    statuses = LocalStack(stack_config(load_settings())).status()
    _print_status(statuses, as_json=as_json)
    if any(status.state != "running" for status in statuses):
        raise typer.Exit(code=1)


@app.command()
def init(
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the services.")] = 180.0,
) -> None:
    """Create the topics and the leads index on the configured Kafka and Elasticsearch."""
    settings = load_settings()
    provision(settings, timeout_s=timeout, say=typer.echo)
