"""``tracer worker``: run the streaming pipeline (a Faust worker) against Kafka and Elasticsearch.

    tracer worker [--web-port 6067 | --no-web] [--loglevel info] [--profile worker.prof]

Composes one worker from the settings: makes sure the contract topics and the leads index
exist, loads the match model, and hands the matcher, the event parser and the Elasticsearch
indexer to :func:`streams.app.build_pipeline`. Start several with the same consumer group (and
distinct web ports) to share the partitions; each reads the whole roster.

One :class:`~connectors.retry.Retrier` serves every retry loop of the worker (the indexer's and
the pipeline's), with one stop event and one set of counters. SIGTERM / SIGINT first tells the
pipeline to stop (:func:`streams.agents.request_stop`: every retry gives up, the batches in
progress stay uncommitted), then lets Faust shut down; should that still take longer than
``worker_stop_timeout_seconds``, the process exits anyway (what was not committed is read
again), so a worker always stops within about that time.
"""

from __future__ import annotations

import asyncio
import atexit
import cProfile
import logging
import os
import sys
import threading
import time
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from faust.worker import Worker

from connectors.clients import elasticsearch_client
from connectors.elasticsearch import ElasticsearchLeadIndexer
from connectors.endpoints import require_listening, url_address
from connectors.event_archive import ElasticsearchEventArchive, ensure_event_archive
from connectors.lead_index import ensure_lead_index
from connectors.lead_schema import lead_problem
from connectors.retry import Retrier, RetryCounter, RetryPolicy
from connectors.topics import contract_topics, ensure_topics, kafka_admin
from contract import topic_name
from matchers.records import parse_event_bytes
from matchers.scoring.modelfile import default_model, load_model
from matchers.watchlist.matcher import Matcher
from streams.agents import request_stop
from streams.alerting import attach_alerts
from streams.app import build_pipeline
from streams.parts import Pipeline
from streams.pipeline import PipelineStats
from streams.transport import require_tested_versions
from tracer.commands.subscriptions import alert_factory, prepare_alert_indices
from tracer.logs import hold_client_repeats
from tracer.settings import TracerSettings, load_settings

__all__ = ["StoppingWorker", "prepare_services", "worker"]

log = logging.getLogger(__name__)

# What a worker forced to exit returns: not a clean stop (some work is read again).
_EXIT_FORCED = 70  # EX_SOFTWARE


def prepare_services(settings: TracerSettings) -> str:
    """Create the contract topics and the leads index if missing; return the write index.

    Raises:
        ConnectionRefused: nothing listens at Kafka's or Elasticsearch's address.
        ServiceUnavailable: Kafka or Elasticsearch did not answer.
        StackError: a topic or the index could not be created.
    """
    admin = kafka_admin(settings)
    try:
        ensure_topics(
            admin,
            contract_topics(prefix=settings.topic_prefix, feed_partitions=settings.feed_partitions),
        )
    finally:
        admin.close()
    require_listening("Elasticsearch", [url_address(settings.elasticsearch_url)])
    client = elasticsearch_client(settings)
    try:
        if settings.event_archive:
            ensure_event_archive(client, settings.event_archive_alias)
        return ensure_lead_index(client, settings.leads_alias)
    finally:
        client.close()


class StoppingWorker(Worker):
    """Faust's worker that stops the pipeline first on SIGTERM / SIGINT, within a deadline.

    Args:
        pipeline: The worker's pipeline.
        stop_timeout_s: Exit by then after the signal, whatever Faust still waits for.
        **kwargs: For :class:`faust.worker.Worker`.
    """

    def __init__(self, pipeline: Pipeline, *, stop_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(pipeline.app, **kwargs)
        self._pipeline = pipeline
        self._stop_timeout_s = stop_timeout_s
        self._deadline: threading.Timer | None = None

    def _on_sigterm(self) -> None:
        self._begin_stop()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        self._begin_stop()
        super()._on_sigint()

    def _begin_stop(self) -> None:
        if self._deadline is None:
            # A thread, not the event loop: the deadline must hold even if the loop is stuck.
            self._deadline = threading.Timer(
                self._stop_timeout_s, _exit_now, (self._stop_timeout_s,)
            )
            self._deadline.daemon = True
            self._deadline.start()
        try:
            request_stop(self._pipeline)
        except Exception:  # Faust's own shutdown must go on whatever happened here
            log.exception("worker: stopping the pipeline failed; shutting down anyway")


def _event_archive(settings: TracerSettings, retrier: Retrier) -> ElasticsearchEventArchive | None:
    """The event archive (``TRACER_EVENT_ARCHIVE``, default on): archiving and retro-matching."""
    if not settings.event_archive:
        return None
    return ElasticsearchEventArchive.connect(
        settings, settings.event_archive_alias, retrier=retrier
    )


def _exit_now(after_s: float) -> None:
    log.error(
        "worker: still stopping after %.0fs; exiting now (uncommitted batches are read again)",
        after_s,
    )
    logging.shutdown()
    sys.stderr.flush()
    os._exit(_EXIT_FORCED)


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
    # Before anything else: the overrides of Faust's internals run only on the tested release.
    require_tested_versions()
    hold_client_repeats()  # an outage is one line per kind of client error, with its count
    settings = load_settings()
    if web_port is not None:
        settings = settings.model_copy(update={"worker_web_port": web_port})
    index = prepare_services(settings)
    model = load_model(settings.model_path) if settings.model_path else default_model()
    stats = PipelineStats()
    retrier = Retrier(
        RetryPolicy(cap_s=settings.retry_max_seconds),
        stop=asyncio.Event(),
        observer=RetryCounter(stats.retries, stats.failing_since),
    )
    indexer = ElasticsearchLeadIndexer.connect(settings, settings.leads_alias, retrier=retrier)
    pipeline = build_pipeline(
        settings,
        matcher=Matcher(model, trace_lookback=timedelta(days=settings.retro_days)),
        # Matcher.match checks the envelope with the same reasons: checking it twice cost ~4 %
        # of the worker's CPU.
        parse_event=partial(parse_event_bytes, check_envelope=False),
        indexer=indexer,
        web_enabled=web,
        stats=stats,
        retrier=retrier,
        # Every lead message is held to the matcher's shape before it is indexed (issue 17.3).
        check_lead=lead_problem,
        archive=_event_archive(settings, retrier),
    )
    if settings.alerts_enabled:  # issue 16: new leads evaluated against subscriptions
        asyncio.run(prepare_alert_indices(settings))
        attach_alerts(
            pipeline,
            alert_factory(settings, retrier),
            alerts_topic=topic_name("alerts", prefix=settings.topic_prefix),
            kafka=settings,
        )
    print(
        f"tracer worker: group {settings.consumer_group!r}, Kafka {settings.kafka_bootstrap}, "
        f"leads -> {settings.elasticsearch_url} alias {settings.leads_alias!r} ({index}), "
        f"web {'off' if not web else f'{settings.worker_web_host}:{settings.worker_web_port}'}",
        file=sys.stderr,
        flush=True,
    )
    StoppingWorker(
        pipeline,
        stop_timeout_s=settings.worker_stop_timeout_seconds,
        loglevel=loglevel,
        redirect_stdouts=False,
    ).execute_from_commandline()
