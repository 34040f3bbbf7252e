"""``tracer worker``: run the streaming pipeline (a Faust worker) against Kafka and Elasticsearch.

    tracer worker [--web-port 6067 | --no-web] [--loglevel info] [--profile worker.prof]

Composes one worker from the settings: makes sure the contract topics and the leads index
exist, loads the match model, and hands the matcher, the event parser and the Elasticsearch
indexer to :func:`streams.app.build_pipeline`. Start several with the same consumer group (and
distinct web ports) to share the partitions; each reads the whole roster.
"""

from __future__ import annotations

import atexit
import cProfile
import sys
import time
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from elasticsearch import Elasticsearch
from faust.worker import Worker

from connectors.elasticsearch import ElasticsearchLeadIndexer
from connectors.endpoints import require_listening, url_address
from connectors.lead_index import ensure_lead_index
from connectors.topics import contract_topics, ensure_topics, kafka_admin
from matchers.matcher import Matcher
from matchers.modelfile import default_model, load_model
from matchers.records import parse_event_bytes
from streams.app import build_pipeline
from tracer.settings import TracerSettings, load_settings

__all__ = ["prepare_services", "worker"]


def _basic_auth(settings: TracerSettings) -> tuple[str, str] | None:
    if settings.elasticsearch_user and settings.elasticsearch_password:
        return settings.elasticsearch_user, settings.elasticsearch_password
    return None


def prepare_services(settings: TracerSettings) -> str:
    """Create the contract topics and the leads index if missing; return the write index.

    Raises:
        ConnectionRefused: nothing listens at Kafka's or Elasticsearch's address.
        ServiceUnavailable: Kafka or Elasticsearch did not answer.
        StackError: a topic or the index could not be created.
    """
    admin = kafka_admin(settings.kafka_bootstrap)
    try:
        ensure_topics(
            admin,
            contract_topics(prefix=settings.topic_prefix, feed_partitions=settings.feed_partitions),
        )
    finally:
        admin.close()
    require_listening("Elasticsearch", [url_address(settings.elasticsearch_url)])
    client = Elasticsearch(settings.elasticsearch_url, basic_auth=_basic_auth(settings))
    try:
        return ensure_lead_index(client, settings.leads_alias)
    finally:
        client.close()


def _profile_until_exit(path: Path) -> None:
    """Profile this process's CPU time from now on; dump the stats when it exits (SIGTERM too)."""
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()

    def dump() -> None:
        profiler.disable()
        profiler.dump_stats(path)

    atexit.register(dump)


def worker(
    web_port: Annotated[
        int | None, typer.Option(help="Port of the worker's web server (127.0.0.1).")
    ] = None,
    web: Annotated[bool, typer.Option(help="Run the Faust web server.")] = True,
    loglevel: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    profile: Annotated[
        Path | None, typer.Option(help="Write a cProfile of the worker here when it stops.")
    ] = None,
) -> None:
    """Run one streaming worker until stopped (SIGTERM / Ctrl-C)."""
    if profile is not None:
        _profile_until_exit(profile)
    settings = load_settings()
    if web_port is not None:
        settings = settings.model_copy(update={"worker_web_port": web_port})
    index = prepare_services(settings)
    model = load_model(settings.model_path) if settings.model_path else default_model()
    indexer = ElasticsearchLeadIndexer.connect(
        settings.elasticsearch_url, settings.leads_alias, basic_auth=_basic_auth(settings)
    )
    pipeline = build_pipeline(
        settings,
        matcher=Matcher(model),
        # Matcher.match checks the envelope with the same reasons: checking it twice cost ~4 %
        # of the worker's CPU.
        parse_event=partial(parse_event_bytes, check_envelope=False),
        indexer=indexer,
        web_enabled=web,
    )
    print(
        f"tracer worker: group {settings.consumer_group!r}, Kafka {settings.kafka_bootstrap}, "
        f"leads -> {settings.elasticsearch_url} alias {settings.leads_alias!r} ({index}), "
        f"web {'off' if not web else f'{settings.worker_web_host}:{settings.worker_web_port}'}",
        file=sys.stderr,
        flush=True,
    )
    Worker(pipeline.app, loglevel=loglevel, redirect_stdouts=False).execute_from_commandline()
