"""The parts of one worker: what :func:`streams.app.build_pipeline` composes and the agents use.

Its own module so that the dependencies point one way: :mod:`streams.app` builds a
:class:`Pipeline` and hands it to :func:`streams.agents.register_agents`; the agents know the
parts, never the composition.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import faust
from connectors.deadletter import DEFAULT_MAX_DEAD_LETTER_BYTES
from connectors.elasticsearch import LeadIndexer
from connectors.kafka import KafkaRosterFollower
from prometheus_client import CollectorRegistry

from streams.archiver import EventArchiver
from streams.health import HealthMonitor
from streams.last_valid import LastValidKeeper
from streams.lead_writer import LeadWriter
from streams.pipeline import EventHandler, PipelineStats
from streams.publisher import Publisher
from streams.retro import RetroMatcher
from streams.roster import LeadCloser, Watchlist

__all__ = ["Pipeline"]


@dataclass
class Pipeline:
    """One worker's app, topics and collaborators (the agents close over it)."""

    app: faust.App
    feeds: Any
    leads: Any
    deadletter: Any
    roster: Any
    roster_topic: str
    watchlist: Watchlist
    follower: KafkaRosterFollower
    closer: LeadCloser
    keeper: LastValidKeeper
    handle_events: EventHandler
    writer: LeadWriter
    indexer: LeadIndexer
    health: HealthMonitor
    metrics: CollectorRegistry
    publisher: Publisher
    #: Set when the worker begins to stop: every retry loop gives up (streams.agents).
    stopping: asyncio.Event
    bulk_max_actions: int = 500
    bulk_flush_seconds: float = 0.5
    stats: PipelineStats = field(default_factory=PipelineStats)
    max_dead_letter_bytes: int = DEFAULT_MAX_DEAD_LETTER_BYTES
    #: The event archive's writer on the live path and retro-matching (None: archive off).
    archiver: EventArchiver | None = None
    retro: RetroMatcher | None = None
    archive_retention_days: int = 90
