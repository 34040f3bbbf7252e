"""The worker's health: the state rule as a table, the monitor over time, the offsets adapter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import pytest
from elasticsearch import ConnectionError as ESConnectionError

from connectors.elasticsearch import ElasticsearchLeadIndexer
from connectors.kafka import RosterMessage
from connectors.retry import Retrier, RetryCounter
from matchers.records import parse_event_bytes
from streams.app import build_pipeline
from streams.health import (
    FIXES,
    HEALTH_REASONS,
    KIND_REASONS,
    HealthMonitor,
    HealthPolicy,
    Observation,
    PartitionKey,
    PartitionOffsets,
    Verdict,
    consumer_offsets,
    decide,
    health_document,
)
from streams.pipeline import PipelineStats
from tests.unit.connectors.test_elasticsearch import FakeElasticsearch, FaultyElasticsearch
from tests.unit.streams.fakes import FakeMatcher, record, roster
from tests.unit.streams.test_agents import SETTINGS

POLICY = HealthPolicy(failing_after_s=10, no_progress_s=30, lag_threshold=100, trend_window_s=30)


def obs(
    *,
    loaded: bool = True,
    failing: Mapping[str, float] | None = None,
    lag: int = 0,
    trend: Any = "unknown",
    stalled: float = 0.0,
) -> Observation:
    return Observation(
        roster_loaded=loaded, failing_for=failing or {}, lag=lag, lag_trend=trend, stalled_s=stalled
    )


CASES = [
    ("roster not loaded, nothing wrong", obs(loaded=False), "starting", ()),
    (
        "roster not loaded, lag piling up: by design",
        obs(loaded=False, lag=10**6, trend="not_falling", stalled=999),
        "starting",
        (),
    ),
    ("roster loaded, no lag", obs(), "ready", ()),
    ("lag at the threshold is still ready", obs(lag=100), "ready", ()),
    ("lag above the threshold, falling", obs(lag=5000, trend="falling"), "catching_up", ()),
    ("lag above the threshold, no trend yet", obs(lag=5000), "catching_up", ()),
    (
        "lag above the threshold, not falling for a window",
        obs(lag=5000, trend="not_falling"),
        "degraded",
        ("falling_behind",),
    ),
    ("small lag not falling is fine", obs(lag=50, trend="not_falling"), "ready", ()),
    ("index failing for 9 s: not yet", obs(failing={"index": 9.9}), "ready", ()),
    (
        "index failing for 10 s",
        obs(failing={"index": 10.0}),
        "degraded",
        ("elasticsearch_unavailable",),
    ),
    (
        "closing leads failing",
        obs(failing={"close": 60.0}),
        "degraded",
        ("elasticsearch_unavailable",),
    ),
    (
        "index and close: one reason",
        obs(failing={"index": 11, "close": 12}),
        "degraded",
        ("elasticsearch_unavailable",),
    ),
    ("publish failing", obs(failing={"publish": 15}), "degraded", ("publish_failing",)),
    (
        "roster failing while starting",
        obs(loaded=False, failing={"roster": 20}),
        "degraded",
        ("roster_follower_failing",),
    ),
    (
        "publish and roster failing: Kafka",
        obs(failing={"publish": 15, "roster": 12}),
        "degraded",
        ("kafka_unavailable",),
    ),
    ("an unknown kind of work", obs(failing={"commit": 40}), "degraded", ("work_failing",)),
    (
        "the alerts' reads and notification log: Elasticsearch",
        obs(failing={"alert": 12}),
        "degraded",
        ("elasticsearch_unavailable",),
    ),
    ("the alerts topic refusing", obs(failing={"notify": 12}), "degraded", ("publish_failing",)),
    ("stalled 29 s: not yet", obs(lag=5, stalled=29.9), "ready", ()),
    ("stalled 30 s with lag", obs(lag=5, stalled=30.0), "degraded", ("no_progress",)),
    (
        "everything at once, in a stable order",
        obs(lag=5000, trend="not_falling", stalled=31, failing={"index": 11, "publish": 11}),
        "degraded",
        ("elasticsearch_unavailable", "publish_failing", "no_progress", "falling_behind"),
    ),
]


@pytest.mark.parametrize(
    ("observation", "state", "reasons"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide(observation: Observation, state: str, reasons: tuple[str, ...]) -> None:
    verdict = decide(observation, POLICY)
    assert (verdict.state, verdict.reasons) == (state, reasons)
    assert verdict.http_status == (503 if state == "degraded" else 200)


def test_every_reason_has_a_fix_that_names_no_value() -> None:
    assert set(FIXES) == set(HEALTH_REASONS)
    assert all(fix and len(fix) < 200 for fix in FIXES.values())
    assert set(KIND_REASONS.values()) <= set(HEALTH_REASONS)


def test_policy_reports_every_bad_bound_at_once() -> None:
    with pytest.raises(ValueError, match="failing_after_s, interval_s, lag_threshold"):
        HealthPolicy(failing_after_s=0, interval_s=-1, lag_threshold=-5)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    """What the monitor reads: stats, a roster flag, offsets; and a clock to move."""

    stats: PipelineStats = field(default_factory=PipelineStats)
    loaded: bool = False
    offsets: dict[PartitionKey, PartitionOffsets] = field(default_factory=dict)
    clock: Clock = field(default_factory=Clock)

    def monitor(self, policy: HealthPolicy = POLICY) -> HealthMonitor:
        return HealthMonitor(
            self.stats,
            policy=policy,
            roster_loaded=lambda: self.loaded,
            read_offsets=lambda: self.offsets,
            clock=self.clock,
        )

    def run(self, monitor: HealthMonitor, seconds: float, *, step: float = 5.0) -> Verdict:
        verdict = monitor.evaluate()
        for _ in range(int(seconds / step)):
            self.clock.now += step
            verdict = monitor.evaluate()
        return verdict


def test_monitor_goes_starting_then_ready() -> None:
    world = World(offsets={("feeds.bank", 0): PartitionOffsets(highwater=50, committed=0)})
    monitor = world.monitor()
    assert world.run(monitor, 60).state == "starting"  # lag waiting for the roster is no stall
    world.loaded = True
    world.offsets = {("feeds.bank", 0): PartitionOffsets(highwater=50, committed=50)}
    assert world.run(monitor, 5) == Verdict("ready")


def test_monitor_a_stalled_partition_is_no_progress_after_30_s(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(loaded=True)
    world.offsets = {
        ("leads", 0): PartitionOffsets(highwater=80, committed=20),
        ("feeds.bank", 0): PartitionOffsets(highwater=10, committed=10),
    }
    monitor = world.monitor()
    assert world.run(monitor, 25).state == "ready"
    assert monitor.observation.stalled_s == 25.0
    with caplog.at_level(logging.INFO, logger="streams.health"):
        assert world.run(monitor, 30).reasons == ("no_progress",)
        # The committed offset moves: the stall clock restarts and the worker recovers.
        world.offsets[("leads", 0)] = PartitionOffsets(highwater=80, committed=40)
        assert world.run(monitor, 5).state == "ready"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1 and "no_progress" in warnings[0].getMessage()
    assert FIXES["no_progress"] in warnings[0].getMessage()
    assert len(infos) == 1 and "recovered, now ready" in infos[0].getMessage()


def test_monitor_reads_failing_since_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    world = World(loaded=True)
    monitor = world.monitor()
    world.stats.failing_since["index"] = world.clock.now
    with caplog.at_level(logging.INFO, logger="streams.health"):
        assert world.run(monitor, 5).state == "ready"
        assert world.run(monitor, 5).reasons == ("elasticsearch_unavailable",)
        assert world.run(monitor, 60).reasons == ("elasticsearch_unavailable",)  # no new line
        world.stats.failing_since["publish"] = world.clock.now - 20
        assert world.run(monitor, 5).reasons == ("elasticsearch_unavailable", "publish_failing")
        world.stats.failing_since.clear()  # both kinds succeeded again
        assert world.run(monitor, 5).state == "ready"
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in lines] == ["WARNING", "WARNING", "INFO"]
    assert "elasticsearch_unavailable" in lines[0][1] and "publish_failing" not in lines[0][1]
    assert "publish_failing" in lines[1][1] and "elasticsearch_unavailable" not in lines[1][1]
    assert "degraded for 65 s" in lines[2][1]  # from 10 s of failing until cleared


def test_monitor_lag_trend_over_the_window() -> None:
    world = World(loaded=True)
    monitor = world.monitor()
    key = ("feeds.bank", 0)

    def lag_of(n: int) -> None:
        # The committed offset moves every time: progress, so only the trend matters.
        committed = int(world.clock.now)
        world.offsets = {key: PartitionOffsets(highwater=committed + n, committed=committed)}

    lag_of(5000)
    assert world.run(monitor, 25).state == "catching_up"
    assert monitor.observation.lag_trend == "unknown"
    lag_of(4000)
    assert world.run(monitor, 10) == Verdict("catching_up")
    assert monitor.observation.lag_trend == "falling"
    for _ in range(8):  # the lag grows for 40 s: events arrive faster than handled
        lag_of(6000 + 100 * _)
        verdict = world.run(monitor, 5)
    assert verdict == Verdict("degraded", ("falling_behind",))
    lag_of(50)
    assert world.run(monitor, 5) == Verdict("ready")


def test_monitor_survives_an_offsets_reader_that_raises(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Mapping[PartitionKey, PartitionOffsets]:
        raise RuntimeError("consumer gone")

    monitor = HealthMonitor(
        PipelineStats(), policy=POLICY, roster_loaded=lambda: True, read_offsets=broken
    )
    assert monitor.evaluate() == Verdict("ready")
    assert "reading the consumer offsets failed" in caplog.text


def test_revoked_partitions_are_forgotten() -> None:
    world = World(loaded=True)
    world.offsets = {("leads", 1): PartitionOffsets(highwater=9, committed=1)}
    monitor = world.monitor()
    world.run(monitor, 20)
    world.offsets = {}  # a rebalance gave the partition to another worker
    world.run(monitor, 5)
    world.offsets = {("leads", 1): PartitionOffsets(highwater=9, committed=1)}
    world.run(monitor, 10)
    assert monitor.observation.stalled_s == 10.0  # counted from when it came back


@dataclass(frozen=True)
class TP:
    topic: str
    partition: int


class FakeConsumer:
    def __init__(self, highwaters: dict[TP, int | None], committed: dict[TP, int]) -> None:
        self._highwaters = highwaters
        self._committed_offset = committed

    def assignment(self) -> set[TP]:
        return set(self._highwaters)

    def highwater(self, tp: TP) -> int | None:
        if tp.partition == 9:
            raise AssertionError("Partition is not assigned")  # aiokafka, after a revoke
        return self._highwaters[tp]


def test_consumer_offsets_reads_what_faust_holds() -> None:
    feeds, leads, roster = TP("p.feeds.bank", 0), TP("p.leads", 3), TP("p.roster", 0)
    fetched_never, uncommitted, revoked = TP("p.leads", 1), TP("p.leads", 2), TP("p.leads", 9)
    consumer = FakeConsumer(
        {feeds: 120, leads: 7, roster: 50, fetched_never: None, uncommitted: 30, revoked: 4},
        {feeds: 100, leads: 7, roster: 0, fetched_never: 0, revoked: 0},
    )
    app = type("App", (), {"_consumer": consumer})()
    offsets = consumer_offsets(app, {"p.feeds.bank", "p.leads"})
    assert offsets == {
        ("p.feeds.bank", 0): PartitionOffsets(120, 100),
        ("p.leads", 3): PartitionOffsets(7, 7),
    }
    assert {k: o.lag for k, o in offsets.items()} == {("p.feeds.bank", 0): 20, ("p.leads", 3): 0}
    assert consumer_offsets(type("App", (), {"_consumer": None})(), {"p.leads"}) == {}


def test_health_document_carries_the_figures() -> None:
    world = World(loaded=True)
    world.offsets = {("leads", 0): PartitionOffsets(highwater=30, committed=10)}
    world.stats.events, world.stats.leads_created = 40, 3
    world.stats.retries["index"] = 7
    world.stats.failing_since["index"] = world.clock.now - 12.34
    monitor = world.monitor()
    monitor.evaluate()
    body = health_document(monitor, roster_size=300)
    assert body["state"] == "degraded"
    assert body["reasons"] == ["elasticsearch_unavailable"]
    assert body["fixes"] == {"elasticsearch_unavailable": FIXES["elasticsearch_unavailable"]}
    assert body["failing_s"] == {"index": 12.3}
    assert body["lag"] == 20 and body["lag_by_partition"] == {"leads:0": 20}
    assert (body["events"], body["leads_created"], body["roster_size"]) == (40, 3, 300)
    assert body["retries"] == {"index": 7}


class Seen:
    """An injected sleep that notes what ``failing_since`` held at each retry pause."""

    def __init__(self) -> None:
        self.stats = PipelineStats()
        self.failing: list[dict[str, float]] = []

    async def __call__(self, _delay: float) -> None:
        self.failing.append(dict(self.stats.failing_since))


def wired(seen: Seen) -> tuple[PipelineStats, Retrier]:
    """The worker's wiring (tracer worker): one retrier, counting into the pipeline's stats."""
    stats = PipelineStats()
    seen.stats = stats
    return stats, Retrier(sleep=seen, observer=RetryCounter(stats.retries, stats.failing_since))


async def test_an_unreachable_elasticsearch_is_noted_for_the_health_check(tmp_path: Any) -> None:
    # The indexer's bulk retries mark "index" as failing (the shared retrier's counter); the
    # success of the bulk clears it.
    client = FaultyElasticsearch({1: ESConnectionError("refused"), 2: ESConnectionError("x")})
    seen = Seen()
    stats, retrier = wired(seen)
    indexer = ElasticsearchLeadIndexer(client, "leads", retrier=retrier)
    p = build_pipeline(
        SETTINGS,
        matcher=FakeMatcher(),
        parse_event=parse_event_bytes,
        indexer=indexer,
        web_enabled=False,
        datadir=tmp_path,
        stats=stats,
        retrier=retrier,
    )
    lead = {"lead_id": "p1:e1", "person_id": "p1", "event_id": "e1", "status": "new"}
    dead = await p.writer.write([record(orjson.dumps(lead), topic="leads", offset=0)])
    assert dead == [] and client.docs.keys() == {"p1:e1"}
    assert [list(f) for f in seen.failing] == [["index"], ["index"]]
    assert seen.failing[0] == seen.failing[1]  # when the run of failures began, kept
    assert p.stats.retries == {"index": 2}
    assert p.stats.failing_since == {}  # written: no longer failing


class SearchFailsOnce(FakeElasticsearch):
    def __init__(self) -> None:
        super().__init__()
        self.searches = 0

    async def search(self, **kwargs: Any) -> Any:
        self.searches += 1
        if self.searches == 1:
            raise ESConnectionError("refused")
        return await super().search(**kwargs)


async def test_closing_leads_while_elasticsearch_is_away_is_noted_too(tmp_path: Any) -> None:
    client, seen = SearchFailsOnce(), Seen()
    stats, retrier = wired(seen)
    p = build_pipeline(
        SETTINGS,
        matcher=FakeMatcher(),
        parse_event=parse_event_bytes,
        indexer=ElasticsearchLeadIndexer(client, "leads", retrier=retrier),
        web_enabled=False,
        datadir=tmp_path,
        stats=stats,
        retrier=retrier,
    )
    client.docs["p1:e1"] = {"lead_id": "p1:e1", "person_id": "p1", "status": "new"}
    p.watchlist.apply(RosterMessage(b"p1", roster("p1", status="located"), 0, 0, None))
    assert await p.closer.close_pending() == 1
    assert [list(f) for f in seen.failing] == [["close"]]
    assert p.stats.retries == {"close": 1}
    assert p.stats.failing_since == {}  # the search answered again


class Probe:
    """What the Kafka probe answers, round by round."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    async def __call__(self) -> Any:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        if answer == "hang":
            await asyncio.sleep(3600)
        return answer


async def test_check_reports_kafka_refusing_connections(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    rounds = ["listening", "refused", "unknown", "refused", OSError("no route"), "refused"]
    rounds += ["hang", "listening"]
    monitor = HealthMonitor(
        PipelineStats(),
        policy=replace(POLICY, probe_timeout_s=0.05),
        roster_loaded=lambda: True,
        read_offsets=dict,
        probe_kafka=Probe(*rounds),
        clock=clock,
    )
    verdicts = []
    for _ in rounds:
        verdicts.append(await monitor.check())
        clock.now += 5
    states = [v.reasons for v in verdicts]
    # Refused from the second round (t=5): degraded once 10 s have passed (t=15), kept while
    # the probe cannot tell (unknown, an error, a probe that hangs), cleared once it listens.
    k = ("kafka_unavailable",)
    assert states == [(), (), (), k, k, k, k, ()]
    assert monitor.observation.failing_for == {}
    assert "kafka_unavailable (fix: Kafka does not answer" in caplog.text


async def test_evaluate_alone_never_probes() -> None:
    probe = Probe()  # any call would fail: nothing to pop
    monitor = HealthMonitor(
        PipelineStats(),
        policy=POLICY,
        roster_loaded=lambda: True,
        read_offsets=dict,
        probe_kafka=probe,
    )
    assert monitor.evaluate() == Verdict("ready")
