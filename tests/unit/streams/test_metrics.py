"""The /metrics exposition, parsed back with prometheus_client's own parser."""

from __future__ import annotations

import doctest
from dataclasses import replace

from prometheus_client.parser import text_string_to_metric_families

import streams.health
import streams.metrics
from streams.health import HEALTH_REASONS, HEALTH_STATES
from streams.metrics import OTHER, WorkerCollector, WorkerFigures, exposition, worker_registry
from streams.pipeline import PipelineStats


def figures(stats: PipelineStats, **changes: object) -> WorkerFigures:
    base = WorkerFigures(
        stats=stats,
        roster_size=300,
        roster_invalid=2,
        leads_closed=4,
        lag={("p.feeds.bank", 0): 12, ("p.leads", 1): 0},
        state="ready",
        reasons=(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def scrape(collector: WorkerCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape: (name, sorted labels) -> value."""
    body, content_type = exposition(worker_registry(collector), None)
    assert content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_the_exposition_carries_every_figure() -> None:
    stats = PipelineStats(
        events=1000,
        leads_emitted=40,
        dead_letters=7,
        leads_created=38,
        leads_present=2,
        leads_closed_on_write=1,
        roster_dead_letters=2,
        handler_cpu_s=1.5,
        by_reason={"not_json": 3, "missing_event_id": 2},
        retries={"index": 9, "publish": 1},
    )
    got = scrape(WorkerCollector(lambda: figures(stats)))
    assert got[("tracer_events_total", ())] == 1000
    assert got[("tracer_leads_emitted_total", ())] == 40
    assert got[("tracer_leads_created_total", ())] == 38
    assert got[("tracer_leads_already_present_total", ())] == 2
    assert got[("tracer_leads_closed_total", ())] == 4
    assert got[("tracer_leads_closed_on_write_total", ())] == 1
    assert got[("tracer_dead_letters_total", (("reason", "not_json"),))] == 3
    assert got[("tracer_dead_letters_total", (("reason", "missing_event_id"),))] == 2
    # Two dead letters were counted without a reason (the lead writer's).
    assert got[("tracer_dead_letters_total", (("reason", OTHER),))] == 2
    assert got[("tracer_retries_total", (("kind", "index"),))] == 9
    assert got[("tracer_retries_total", (("kind", "publish"),))] == 1
    assert got[("tracer_roster_size", ())] == 300
    assert got[("tracer_roster_invalid_records_total", ())] == 2
    assert got[("tracer_roster_dead_letters_total", ())] == 2
    assert got[("tracer_handler_cpu_seconds_total", ())] == 1.5
    assert got[("tracer_consumer_lag", (("partition", "0"), ("topic", "p.feeds.bank")))] == 12
    assert got[("tracer_consumer_lag", (("partition", "1"), ("topic", "p.leads")))] == 0
    states = {s: got[("tracer_health_state", (("state", s),))] for s in HEALTH_STATES}
    assert states == {"starting": 0, "catching_up": 0, "ready": 1, "degraded": 0}


def test_health_gauges_show_the_degraded_reasons() -> None:
    stats = PipelineStats()
    view = figures(stats, state="degraded", reasons=("elasticsearch_unavailable", "no_progress"))
    got = scrape(WorkerCollector(lambda: view))
    assert got[("tracer_health_state", (("state", "degraded"),))] == 1
    on = {r for r in HEALTH_REASONS if got[("tracer_health_degraded_reason", (("reason", r),))]}
    assert on == {"elasticsearch_unavailable", "no_progress"}


def test_labels_are_capped_and_counters_stay_monotonic() -> None:
    stats = PipelineStats()
    collector = WorkerCollector(lambda: figures(stats), max_label_values=2)

    def dead(reason: str, n: int = 1) -> None:
        stats.dead_letters += n
        stats.by_reason[reason] = stats.by_reason.get(reason, 0) + n

    dead("not_json", 5)
    dead("Name 张伟 is bad")  # not a machine word (a value that leaked): never a label
    first = scrape(collector)
    # Two new words between scrapes, one slot left: the first in sorted order takes it.
    dead("too_large", 2)
    dead("not_utf8", 3)
    dead("not_json")
    second = scrape(collector)
    reasons = {
        labels[0][1]: value
        for (name, labels), value in second.items()
        if name == "tracer_dead_letters_total"
    }
    assert reasons == {"not_json": 6, "not_utf8": 3, OTHER: 3}
    assert sum(reasons.values()) == stats.dead_letters
    for key, value in first.items():
        if key[0].endswith("_total"):
            assert second[key] >= value, key
    assert not any("张" in str(key) for key in second)
    dead("too_large")  # sticky: still not a label of its own
    assert scrape(collector)[("tracer_dead_letters_total", (("reason", OTHER),))] == 4


def test_each_worker_has_its_own_registry() -> None:
    one, two = PipelineStats(events=1), PipelineStats(events=2)
    assert scrape(WorkerCollector(lambda: figures(one)))[("tracer_events_total", ())] == 1
    assert scrape(WorkerCollector(lambda: figures(two)))[("tracer_events_total", ())] == 2


def test_the_scrape_reads_the_stats_live() -> None:
    stats = PipelineStats()
    collector = WorkerCollector(lambda: figures(stats))
    assert scrape(collector)[("tracer_events_total", ())] == 0
    stats.events += 17  # what the hot path does: a plain increment
    assert scrape(collector)[("tracer_events_total", ())] == 17


def test_openmetrics_when_asked() -> None:
    registry = worker_registry(WorkerCollector(lambda: figures(PipelineStats())))
    body, content_type = exposition(registry, "application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


def test_the_doctests_of_the_health_modules() -> None:
    for module in (streams.health, streams.metrics):
        assert doctest.testmod(module).failed == 0
