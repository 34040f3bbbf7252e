"""``GET /metrics``: the worker's counters in the Prometheus exposition format.

The hot path never calls ``prometheus_client``: the handlers increment the plain
:class:`~streams.pipeline.PipelineStats` dataclass, and :class:`WorkerCollector` (a custom
collector, in a registry per worker rather than the global default one) reads it when scraped.
Counters are monotonic because the stats only grow; a label of a counter keeps the series it was
given first.

Label values come from the stats (dead-letter reasons, kinds of retried work), which are meant to
be closed sets; :class:`LabelCap` holds them to that defensively: a value that is not a short
machine word, or any value beyond the first ``limit``, is counted under ``other``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from streams.health import HEALTH_REASONS, HEALTH_STATES, HealthReason, HealthState, PartitionKey
from streams.pipeline import PipelineStats

__all__ = [
    "OTHER",
    "LabelCap",
    "WorkerCollector",
    "WorkerFigures",
    "exposition",
    "worker_registry",
]

#: The label value of everything a :class:`LabelCap` does not give its own series.
OTHER = "other"

_MACHINE_WORD = re.compile(r"[a-z][a-z0-9_]{0,62}\Z")


@dataclass(frozen=True, slots=True)
class WorkerFigures:
    """What one scrape reads: the live stats plus the figures kept outside them."""

    stats: PipelineStats
    roster_size: int
    roster_invalid: int
    leads_closed: int
    lag: Mapping[PartitionKey, int]
    state: HealthState
    reasons: tuple[HealthReason, ...]


class LabelCap:
    """Bounded, sticky label values: the first ``limit`` machine words keep their own series.

    >>> cap = LabelCap(limit=1)
    >>> cap.fold({"not_utf8": 2, "Bad Value 123": 1, "too_large": 4})
    {'other': 5, 'not_utf8': 2}
    """

    def __init__(self, *, limit: int = 32) -> None:
        self._limit = limit
        self._admitted: set[str] = set()

    def fold(self, counts: Mapping[str, int]) -> dict[str, int]:
        """Return ``counts`` with every value not admitted summed under :data:`OTHER`."""
        folded: dict[str, int] = {}
        for value, count in sorted(counts.items()):
            label = self._label(value)
            folded[label] = folded.get(label, 0) + count
        return folded

    def _label(self, value: str) -> str:
        if value in self._admitted:
            return value
        if len(self._admitted) < self._limit and value != OTHER and _MACHINE_WORD.match(value):
            self._admitted.add(value)
            return value
        return OTHER


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class WorkerCollector:
    """A Prometheus collector reading :class:`WorkerFigures` at each scrape.

    Args:
        figures: Returns the figures now (called once a scrape).
        max_label_values: Series per labelled counter before values go to ``other``.
    """

    def __init__(self, figures: Callable[[], WorkerFigures], *, max_label_values: int = 32) -> None:
        self._figures = figures
        self._reasons = LabelCap(limit=max_label_values)
        self._kinds = LabelCap(limit=max_label_values)

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family of the worker."""
        f = self._figures()
        s = f.stats
        yield _counter("tracer_events", "Feed events handled (matched or dead-lettered).", s.events)
        yield self._dead_letters(s)
        yield _counter(
            "tracer_leads_emitted", "Lead messages published by the matcher.", s.leads_emitted
        )
        yield _counter("tracer_leads_created", "Leads Elasticsearch created.", s.leads_created)
        yield _counter(
            "tracer_leads_already_present",
            "Leads that were already in Elasticsearch (redelivery).",
            s.leads_present,
        )
        yield _counter(
            "tracer_leads_closed",
            "Open leads closed because their person left the trace.",
            f.leads_closed,
        )
        yield _counter(
            "tracer_leads_closed_on_write",
            "Leads written closed: their person had left the trace when they were indexed.",
            s.leads_closed_on_write,
        )
        retries = CounterMetricFamily("tracer_retries", "Retries by kind of work.", labels=["kind"])
        for kind, count in self._kinds.fold(s.retries).items():
            retries.add_metric([kind], count)
        yield retries
        yield _gauge("tracer_roster_size", "People on this worker's watchlist.", f.roster_size)
        yield _counter(
            "tracer_roster_invalid_records",
            "Roster records this worker found invalid (the person kept their state).",
            f.roster_invalid,
        )
        yield _counter(
            "tracer_roster_dead_letters",
            "Invalid roster records dead-lettered by this worker.",
            s.roster_dead_letters,
        )
        yield _counter(
            "tracer_handler_cpu_seconds",
            "CPU seconds spent validating and matching events.",
            s.handler_cpu_s,
        )
        yield from self._health(f)

    def _dead_letters(self, s: PipelineStats) -> CounterMetricFamily:
        family = CounterMetricFamily(
            "tracer_dead_letters", "Dead letters by reason.", labels=["reason"]
        )
        counts = dict(s.by_reason)
        # Dead letters counted without a reason (the lead writer's) go to "other".
        unreasoned = s.dead_letters - sum(counts.values())
        if unreasoned > 0:
            counts[OTHER] = counts.get(OTHER, 0) + unreasoned
        for reason, count in self._reasons.fold(counts).items():
            family.add_metric([reason], count)
        return family

    @staticmethod
    def _health(f: WorkerFigures) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "tracer_consumer_lag",
            "Records not yet committed by the group, per assigned partition (feeds, leads).",
            labels=["topic", "partition"],
        )
        for (topic, partition), records in sorted(f.lag.items()):
            lag.add_metric([topic, str(partition)], records)
        yield lag
        state = GaugeMetricFamily(
            "tracer_health_state", "1 for the worker's health state.", labels=["state"]
        )
        for name in HEALTH_STATES:
            state.add_metric([name], 1.0 if name == f.state else 0.0)
        yield state
        reasons = GaugeMetricFamily(
            "tracer_health_degraded_reason",
            "1 for each reason the worker is degraded.",
            labels=["reason"],
        )
        for reason in HEALTH_REASONS:
            reasons.add_metric([reason], 1.0 if reason in f.reasons else 0.0)
        yield reasons


def worker_registry(collector: WorkerCollector) -> CollectorRegistry:
    """Return a registry of its own (never the global default) holding ``collector``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def exposition(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """Return the scrape body and its content type, as the ``Accept`` header asks."""
    encode, content_type = choose_encoder(accept or "")
    return encode(registry), content_type
