"""The Faust app, built from the settings and collaborators passed in (never from the environment).

:func:`build_pipeline` composes one worker: the Faust app and its topics (feeds read as raw
bytes), the matcher behind the :class:`~streams.roster.Watchlist`, the roster follower task, the
lead closer task, the agents from :mod:`streams.agents`, and the worker's health: a watchdog
timer and, on the Faust web server (loopback), ``GET /health`` (:mod:`streams.health`) and
``GET /metrics`` (:mod:`streams.metrics`). Several workers started with the same
``consumer_group`` share the feed and lead partitions; each holds the whole watchlist.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol, cast

import faust
from connectors.clients import KafkaClientSettings, faust_broker_credentials
from connectors.elasticsearch import LeadIndexer
from connectors.endpoints import kafka_addresses, probe
from connectors.event_archive import EventArchive
from connectors.kafka import KafkaRosterFollower
from connectors.retry import Retrier, RetryCounter
from contract import FEED_TOPICS, topic_name

from streams.agents import register_agents
from streams.archiver import EventArchiver
from streams.health import HealthMonitor, HealthPolicy, consumer_offsets, health_document
from streams.last_valid import LastValidKeeper
from streams.lead_writer import LeadWriter
from streams.metrics import WorkerCollector, WorkerFigures, exposition, worker_registry
from streams.parts import Pipeline
from streams.pipeline import EventHandler, EventParser, MatcherPort, PipelineStats
from streams.publisher import Publisher
from streams.retro import ArchivingMatcher, RetroMatcher, RetroPort
from streams.roster import LeadCloser, Watchlist
from streams.transport import RawBytes, install_fast_fetch

__all__ = ["StreamSettings", "build_pipeline"]

log = logging.getLogger(__name__)


class StreamSettings(KafkaClientSettings, Protocol):
    """The settings the streaming app reads (``tracer.settings.TracerSettings`` fits).

    Where Kafka is and how to log in are :class:`~connectors.clients.KafkaClientSettings`'s.
    """

    @property
    def topic_prefix(self) -> str:
        """Prefix of every topic name."""
        ...

    @property
    def consumer_group(self) -> str:
        """The consumer group (Faust app id) the workers share."""
        ...

    @property
    def feed_partitions(self) -> int:
        """Partitions of every contract topic."""
        ...

    @property
    def worker_web_host(self) -> str:
        """Address the Faust web server binds to."""
        ...

    @property
    def worker_web_port(self) -> int:
        """Port of the Faust web server."""
        ...

    @property
    def max_event_bytes(self) -> int:
        """Largest feed event accepted."""
        ...

    @property
    def bulk_max_actions(self) -> int:
        """Leads per Elasticsearch bulk request."""
        ...

    @property
    def bulk_flush_seconds(self) -> float:
        """Longest wait before a partial bulk is sent."""
        ...

    @property
    def event_future_margin_s(self) -> int:
        """How far after the time of matching an event's ``occurred_at`` may be."""
        ...

    @property
    def worker_health_lag_threshold(self) -> int:
        """Total lag (records) above which the worker reports ``catching_up``."""
        ...

    @property
    def max_roster_bytes(self) -> int:
        """Largest roster record accepted."""
        ...

    @property
    def max_lead_bytes(self) -> int:
        """Largest lead document published or indexed."""
        ...

    @property
    def max_dead_letter_bytes(self) -> int:
        """Largest encoded dead letter."""
        ...


def _faust_app(settings: StreamSettings, *, web_enabled: bool, datadir: Path | None) -> faust.App:
    return faust.App(
        settings.consumer_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=faust_broker_credentials(settings),
        autodiscover=False,
        datadir=str(datadir or Path(tempfile.gettempdir()) / "tracer-faust"),
        topic_partitions=settings.feed_partitions,
        topic_allow_declare=False,
        topic_disable_leader=True,
        web_enabled=web_enabled,
        web_bind=settings.worker_web_host,
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        consumer_auto_offset_reset="earliest",
        # A worker killed without goodbye frees its partitions after the session timeout.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        broker_commit_every=5000,
        # Commit acknowledged offsets every 0.2 s (one small request): the group's lag reaches
        # zero soon after the last batch, and a killed worker reads less again.
        broker_commit_interval=0.2,
        producer_linger=0.005,
        producer_acks=-1,
        # How long aiokafka keeps retrying a buffered message before failing it (Faust: 20
        # minutes). The publisher then counts the failure and sends it again with backoff, so
        # a broker that refuses for long shows in the retry counters; and a flush, which Faust
        # runs before every commit, waits at most this long.
        producer_request_timeout=30.0,
        # The buffers hold batches (streams/transport.py), each the records of one partition
        # from one fetch: at most consumer_max_fetch_size, about a thousand events.
        stream_buffer_maxsize=16,
        # At most 512 KiB per partition and fetch (Faust: 1 MiB): a batch is ~0.2 s of
        # matching. With per-message delivery, 1 MiB fetches of every feed partition made
        # several seconds of matching between two fetches of the worker's own leads, and the
        # indexer sat idle (bench.e2e); see also FETCH_MAX_WAIT_MS. With batches, fewer and
        # larger fetches cost less (128 KiB: ~10 us more CPU an event, bench.e2e).
        consumer_max_fetch_size=512 * 1024,
    )


def build_pipeline(
    settings: StreamSettings,
    *,
    matcher: MatcherPort,
    parse_event: EventParser,
    indexer: LeadIndexer,
    web_enabled: bool = True,
    datadir: Path | None = None,
    stats: PipelineStats | None = None,
    retrier: Retrier | None = None,
    check_lead: Callable[[dict[str, Any]], str | None] | None = None,
    archive: EventArchive | None = None,
) -> Pipeline:
    """Compose one worker's Faust app and register its agents and background tasks.

    ``stats`` and ``retrier`` are shared with the adapters built before (the indexer): pass
    the same ones. Without them, the pipeline makes its own (a fresh stop event, retries
    counted into ``stats``). ``check_lead`` finds fault with a lead message before it is
    indexed (``tracer worker`` passes ``connectors.lead_schema.lead_problem``).
    counted into ``stats``). With an ``archive``, every matched event is archived and new
    drop-outs are retro-matched (``streams/retro.py``; the matcher must be a ``Matcher``).
    """
    app = _faust_app(settings, web_enabled=web_enabled, datadir=datadir)
    prefix = settings.topic_prefix
    stats = stats or PipelineStats()
    retrier = retrier or Retrier(observer=RetryCounter(stats.retries, stats.failing_since))
    if retrier.stop is None:  # every retry loop must end when the worker stops
        retrier = replace(retrier, stop=asyncio.Event())
    stopping = retrier.stop
    assert stopping is not None
    install_fast_fetch(
        app, deadletter_topic=topic_name("deadletter", prefix=prefix), retrier=retrier, stats=stats
    )
    dead_max = settings.max_dead_letter_bytes
    lock = asyncio.Lock()
    watchlist = Watchlist(matcher, max_record_bytes=settings.max_roster_bytes)
    closer = LeadCloser(indexer, watchlist.status_of, lock, retrier=retrier)
    watchlist.on_traced_out = closer.request
    roster_topic = topic_name("supervision.roster", prefix=prefix)
    valid_topic = topic_name("tracer.roster.valid", prefix=prefix)
    follower = KafkaRosterFollower(
        settings,
        roster_topic,
        watchlist.on_roster,
        fallback_topic=valid_topic,
        fallback_handler=watchlist.on_fallback,
        retrier=retrier,
    )
    raw: dict[str, Any] = {"schema": RawBytes()}
    deadletter = app.topic(topic_name("deadletter", prefix=prefix), **raw)
    valid = app.topic(valid_topic, **raw)

    async def keep(key: bytes, value: bytes) -> object:
        # send() only queues the message: wait for Kafka's acknowledgement, so the roster
        # agent's offset is never committed past an invalid update whose last valid record
        # was not kept.
        queued = await valid.send(key=key, value=value)
        return await queued

    health = _health_monitor(settings, app, stats, follower)
    archiver = None if archive is None else EventArchiver(archive, positions=watchlist.positions)
    pipeline = Pipeline(
        app=app,
        feeds=app.topic(*(topic_name(t, prefix=prefix) for t in FEED_TOPICS), **raw),
        leads=app.topic(topic_name("leads", prefix=prefix), **raw),
        deadletter=deadletter,
        roster=app.topic(roster_topic, **raw),
        roster_topic=roster_topic,
        watchlist=watchlist,
        follower=follower,
        closer=closer,
        keeper=LastValidKeeper(watchlist.verdicts, follower.fetch, keep, retrier=retrier),
        handle_events=EventHandler(
            matcher if archiver is None else ArchivingMatcher(cast(RetroPort, matcher), archiver),
            parse_event,
            max_bytes=settings.max_event_bytes,
            stats=stats,
            max_lead_bytes=settings.max_lead_bytes,
            max_dead_letter_bytes=dead_max,
            future_margin=timedelta(seconds=settings.event_future_margin_s),
        ),
        writer=LeadWriter(
            indexer,
            watchlist.status_of,
            lock=lock,
            stats=stats,
            max_actions=settings.bulk_max_actions,
            max_lead_bytes=settings.max_lead_bytes,
            max_dead_letter_bytes=dead_max,
            retrier=retrier,
            check=check_lead,
        ),
        indexer=indexer,
        publisher=Publisher(
            deadletter, retrier=retrier, stats=stats, max_dead_letter_bytes=dead_max
        ),
        stopping=stopping,
        health=health,
        metrics=worker_registry(WorkerCollector(partial(_figures, watchlist, closer, health))),
        bulk_max_actions=settings.bulk_max_actions,
        bulk_flush_seconds=settings.bulk_flush_seconds,
        stats=stats,
        max_dead_letter_bytes=dead_max,
    )
    if archiver is not None:
        _attach_retro(pipeline, settings, matcher, archiver)
    register_agents(pipeline)
    _register_health(pipeline, web_enabled=web_enabled)
    return pipeline


def _attach_retro(
    p: Pipeline, settings: StreamSettings, matcher: Any, archiver: EventArchiver
) -> None:
    """Give the pipeline its archive writer and retro matcher (docs/design.md, Retro-matching)."""
    p.archiver = archiver
    p.archive_retention_days = int(getattr(settings, "retention_events_days", 90))
    p.retro = RetroMatcher(
        matcher,
        archiver.archive,
        partial(p.publisher.publish, p.leads, role="leads"),
        archiver=archiver,
        status_of=p.watchlist.status_of,
        concurrency=int(getattr(settings, "retro_concurrency", 2)),
        max_lead_bytes=settings.max_lead_bytes,
    )


def _health_monitor(
    settings: StreamSettings, app: faust.App, stats: PipelineStats, follower: KafkaRosterFollower
) -> HealthMonitor:
    # Feeds and leads: the roster partitions in the group feed only the dead-letter agent,
    # which waits for the follower by design.
    prefix = settings.topic_prefix
    watched = frozenset(topic_name(t, prefix=prefix) for t in (*FEED_TOPICS, "leads"))
    return HealthMonitor(
        stats,
        policy=HealthPolicy(lag_threshold=settings.worker_health_lag_threshold),
        roster_loaded=follower.caught_up.is_set,
        read_offsets=partial(consumer_offsets, app, watched),
        # A TCP connect in a thread (at most a second an address): the loop never blocks.
        probe_kafka=partial(asyncio.to_thread, probe, kafka_addresses(settings.kafka_bootstrap)),
    )


def _figures(watchlist: Watchlist, closer: LeadCloser, health: HealthMonitor) -> WorkerFigures:
    return WorkerFigures(
        stats=health.stats,
        roster_size=len(watchlist),
        roster_invalid=watchlist.stats.invalid,
        leads_closed=closer.closed,
        lag=dict(health.lag),
        state=health.verdict.state,
        reasons=health.verdict.reasons,
    )


def _register_health(p: Pipeline, *, web_enabled: bool) -> None:
    """Register the watchdog timer and, with the web server, ``/health`` and ``/metrics``."""

    async def watchdog() -> None:
        try:
            await p.health.check()
        except Exception:  # a crashed timer would end the checks for good: try next time
            log.exception("health: the check failed")

    p.app.timer(interval=p.health.policy.interval_s)(watchdog)
    if not web_enabled:
        return

    @p.app.page("/health")
    async def health(view: Any, _request: Any) -> Any:
        verdict = p.health.evaluate()
        body = health_document(p.health, roster_size=len(p.watchlist))
        return view.json(body, status=verdict.http_status)

    @p.app.page("/metrics")
    async def metrics(view: Any, request: Any) -> Any:
        p.health.evaluate()  # the lag and state gauges as of this scrape
        body, content_type = exposition(p.metrics, request.headers.get("Accept"))
        # aiohttp refuses a charset inside content_type=: pass the header whole.
        return view.bytes(body, headers={"Content-Type": content_type})
