"""The worker's health: one state an operator (and a load balancer) can read, and why.

::

    starting ──roster loaded──> catching_up ──lag <= threshold──> ready
        │                            │                              │
        └────────── a kind of work failing for 10 s, or a stall ────┴──> degraded (503)

:func:`decide` is the rule, a pure function of an :class:`Observation` and a
:class:`HealthPolicy`. :class:`HealthMonitor` makes the observation -- from
``PipelineStats.failing_since`` (kind of work -> ``time.monotonic()`` when its current run of
failures began, kept by the retry loops), the roster follower, and the consumer's offsets --
keeps the little history the rule needs (the lag a trend window ago, when each partition's
committed offset last moved), and logs one WARNING when the worker becomes degraded and one
INFO line when it recovers. The worker's watchdog timer and ``GET /health`` both evaluate it.

The watchdog also probes Kafka's addresses with a plain TCP connect (``connectors.endpoints``):
the Kafka clients wait out a broker that went away without raising anything, so a refused
connection is the one sign of it when nothing else fails. It counts as the kind ``kafka``.

Lag comes from what Faust's consumer already holds in memory (no request per scrape): the
highwater of each assigned partition, as the last fetch response gave it, minus the offset this
group committed. A partition with no committed offset yet (a new group before its first commit)
or no fetch yet has no known lag and is left out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from connectors.endpoints import Reach

from streams.pipeline import PipelineStats

__all__ = [
    "FIXES",
    "HEALTH_REASONS",
    "HEALTH_STATES",
    "KIND_REASONS",
    "HealthMonitor",
    "HealthPolicy",
    "HealthReason",
    "HealthState",
    "LagTrend",
    "Observation",
    "PartitionKey",
    "PartitionOffsets",
    "Verdict",
    "consumer_offsets",
    "decide",
    "health_document",
]

log = logging.getLogger(__name__)

HealthState = Literal["starting", "catching_up", "ready", "degraded"]
"""``starting``: roster not loaded; ``catching_up``: lag above the threshold and falling."""

HealthReason = Literal[
    "elasticsearch_unavailable",
    "kafka_unavailable",
    "publish_failing",
    "roster_follower_failing",
    "work_failing",
    "no_progress",
    "falling_behind",
]
"""Why a worker is degraded (machine words: safe as log text and metric labels)."""

LagTrend = Literal["falling", "not_falling", "unknown"]
"""The total lag now against a trend window ago (``unknown``: not that much history yet)."""

HEALTH_STATES: tuple[HealthState, ...] = get_args(HealthState)
HEALTH_REASONS: tuple[HealthReason, ...] = get_args(HealthReason)

#: The reason a kind of work in ``PipelineStats.failing_since`` gives; other kinds give
#: ``work_failing``. The publish and roster loops use two separate Kafka clients: both failing
#: at once reads as ``kafka_unavailable``.
KIND_REASONS: Mapping[str, HealthReason] = {
    "kafka": "kafka_unavailable",
    "index": "elasticsearch_unavailable",
    "close": "elasticsearch_unavailable",
    "publish": "publish_failing",
    "roster": "roster_follower_failing",
    # The alerts' Elasticsearch work (subscriptions, owners, the notification log) and their
    # publishing to the alerts topic; webhook delivery ("deliver") is the receivers' health,
    # shown on each subscription, and stays ``work_failing`` here.
    "alert": "elasticsearch_unavailable",
    "notify": "publish_failing",
}

#: What an operator does about each reason (the WARNING line and ``/health`` carry it).
FIXES: Mapping[HealthReason, str] = {
    "elasticsearch_unavailable": (
        "Elasticsearch does not acknowledge writes: check TRACER_ELASTICSEARCH_URL and "
        "`tracer stack status`; leads wait in Kafka and are written once it answers"
    ),
    "kafka_unavailable": (
        "Kafka does not answer: check TRACER_KAFKA_BOOTSTRAP and `tracer stack status`"
    ),
    "publish_failing": (
        "publishing to Kafka keeps failing: check the broker and that the topics exist "
        "(`tracer stack init`)"
    ),
    "roster_follower_failing": (
        "the roster topic cannot be read: check Kafka and the roster topic (`tracer stack init`)"
    ),
    "work_failing": "a retry loop keeps failing: see the errors logged above",
    "no_progress": (
        "a partition has lag but nothing was committed for a while: see the errors logged "
        "above; restart the worker if none explains it"
    ),
    "falling_behind": (
        "events arrive faster than this worker handles them: start more workers "
        "(up to the partition count)"
    ),
}


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """The thresholds of :func:`decide` and the watchdog's period.

    Args:
        failing_after_s: A kind of work failing this long makes the worker degraded.
        no_progress_s: A partition with lag whose committed offset has not moved this long
            (roster loaded) is ``no_progress``.
        lag_threshold: Total lag (records) above which the worker is catching up.
        trend_window_s: Lag above the threshold that has not fallen over this window is
            ``falling_behind``.
        interval_s: Period of the watchdog.
        probe_timeout_s: Longest wait for the Kafka probe of one watchdog round.

    Raises:
        ValueError: Every bound that is not positive, all at once.
    """

    failing_after_s: float = 10.0
    no_progress_s: float = 30.0
    lag_threshold: int = 1000
    trend_window_s: float = 30.0
    interval_s: float = 5.0
    probe_timeout_s: float = 3.0

    def __post_init__(self) -> None:
        bad = [
            name
            for name in (
                "failing_after_s",
                "no_progress_s",
                "trend_window_s",
                "interval_s",
                "probe_timeout_s",
            )
            if not getattr(self, name) > 0
        ]
        if self.lag_threshold < 0:
            bad.append("lag_threshold")
        if bad:
            raise ValueError(f"health policy: not positive: {', '.join(bad)}")


@dataclass(frozen=True, slots=True)
class Observation:
    """What the worker looks like at one instant (the input of :func:`decide`)."""

    roster_loaded: bool
    #: Kind of work -> seconds its current run of failures has lasted.
    failing_for: Mapping[str, float]
    #: Total lag over the partitions whose lag is known.
    lag: int = 0
    lag_trend: LagTrend = "unknown"
    #: Longest time a partition with lag has gone without its committed offset moving.
    stalled_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """A state and, when degraded, its reasons (in :data:`HEALTH_REASONS` order)."""

    state: HealthState
    reasons: tuple[HealthReason, ...] = ()

    @property
    def http_status(self) -> int:
        """503 when degraded (a load balancer or ``curl -f`` can tell), else 200."""
        return 503 if self.state == "degraded" else 200


def _reasons(obs: Observation, policy: HealthPolicy) -> tuple[HealthReason, ...]:
    failing = {k for k, s in obs.failing_for.items() if s >= policy.failing_after_s}
    found = {KIND_REASONS.get(kind, "work_failing") for kind in failing}
    if {"publish", "roster"} <= failing:
        found -= {"publish_failing", "roster_follower_failing"}
        found.add("kafka_unavailable")
    # Before the roster is loaded the feeds wait by design: lag then is no stall.
    if obs.roster_loaded and obs.stalled_s >= policy.no_progress_s:
        found.add("no_progress")
    if obs.roster_loaded and obs.lag > policy.lag_threshold and obs.lag_trend == "not_falling":
        found.add("falling_behind")
    return tuple(reason for reason in HEALTH_REASONS if reason in found)


def decide(obs: Observation, policy: HealthPolicy) -> Verdict:
    """Return the worker's state and reasons.

    >>> decide(Observation(roster_loaded=True, failing_for={"index": 12.0}), HealthPolicy())
    Verdict(state='degraded', reasons=('elasticsearch_unavailable',))
    >>> decide(Observation(roster_loaded=True, failing_for={}, lag=5000), HealthPolicy()).state
    'catching_up'
    """
    reasons = _reasons(obs, policy)
    if reasons:
        return Verdict("degraded", reasons)
    if not obs.roster_loaded:
        return Verdict("starting")
    if obs.lag > policy.lag_threshold:
        return Verdict("catching_up")
    return Verdict("ready")


PartitionKey = tuple[str, int]
"""A partition as ``(topic, partition)``."""


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """A partition's highwater (next offset to be written) and the group's committed offset."""

    highwater: int
    committed: int

    @property
    def lag(self) -> int:
        """Records not yet committed by the group."""
        return max(0, self.highwater - self.committed)


def consumer_offsets(app: Any, topics: Collection[str]) -> dict[PartitionKey, PartitionOffsets]:
    """Return the known offsets of the partitions of ``topics`` assigned to ``app``'s consumer.

    Reads Faust's in-memory view only (faust-streaming 0.15; the committed offsets are its
    private ``_committed_offset``, kept from the group's commits): no request to Kafka. Never
    raises: a consumer that is not started, or a partition revoked meanwhile, is left out.
    """
    consumer = getattr(app, "_consumer", None)  # never create a consumer from here
    if consumer is None:
        return {}
    try:
        assigned = list(consumer.assignment())
        committed = getattr(consumer, "_committed_offset", {})
    except Exception:  # not started yet, or stopping
        return {}
    offsets: dict[PartitionKey, PartitionOffsets] = {}
    for tp in assigned:
        if tp.topic not in topics:
            continue
        try:
            highwater = consumer.highwater(tp)
            done = committed.get(tp)
        except Exception:  # revoked since assignment() (another thread's state): skip it
            continue
        if highwater is not None and done is not None:
            offsets[(tp.topic, tp.partition)] = PartitionOffsets(int(highwater), int(done))
    return offsets


class HealthMonitor:
    """Observe the worker, decide its state with :func:`decide`, log the transitions.

    Args:
        stats: The worker's counters (``failing_since`` is read).
        policy: The thresholds.
        roster_loaded: Whether the roster follower has caught up.
        read_offsets: The consumer's partition offsets (:func:`consumer_offsets`).
        probe_kafka: Whether Kafka's addresses accept a connection (``refused``: nothing
            listens); run by :meth:`check`, never by a request to ``/health``.
        clock: Monotonic seconds, injectable for tests.
    """

    def __init__(
        self,
        stats: PipelineStats,
        *,
        policy: HealthPolicy,
        roster_loaded: Callable[[], bool],
        read_offsets: Callable[[], Mapping[PartitionKey, PartitionOffsets]],
        probe_kafka: Callable[[], Awaitable[Reach]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stats = stats
        self.policy = policy
        self._roster_loaded = roster_loaded
        self._read_offsets = read_offsets
        self._probe_kafka = probe_kafka
        self._clock = clock
        #: Kinds the monitor's own probes found failing (kind -> since when).
        self._probed_failing: dict[str, float] = {}
        self.verdict = Verdict("starting")
        self.observation = Observation(roster_loaded=False, failing_for={})
        self.lag: dict[PartitionKey, int] = {}
        self._committed: dict[PartitionKey, int] = {}
        self._moved_at: dict[PartitionKey, float] = {}
        # (time, total lag), one a second at most: bounded whatever the scrape rate.
        self._samples: deque[tuple[float, int]] = deque(maxlen=256)
        self._degraded_at: float | None = None

    async def check(self) -> Verdict:
        """Probe Kafka (at most ``probe_timeout_s``), then :meth:`evaluate`; never raises."""
        if self._probe_kafka is not None:
            try:
                reach = await asyncio.wait_for(self._probe_kafka(), self.policy.probe_timeout_s)
            except Exception:  # a probe that cannot tell (timeout, no name): no news
                reach = "unknown"
            if reach == "refused":
                self._probed_failing.setdefault("kafka", self._clock())
            elif reach == "listening":
                self._probed_failing.pop("kafka", None)
        return self.evaluate()

    def evaluate(self) -> Verdict:
        """Observe now, decide, log a transition into or out of ``degraded``; never raises."""
        now = self._clock()
        try:
            offsets = dict(self._read_offsets())
        except Exception:  # a health check that raises would hide the state it checks
            log.exception("health: reading the consumer offsets failed")
            offsets = {}
        loaded = self._roster_loaded()
        self.lag = {tp: o.lag for tp, o in sorted(offsets.items())}
        total = sum(self.lag.values())
        self.observation = Observation(
            roster_loaded=loaded,
            failing_for={k: max(0.0, now - t) for k, t in self._failing_since().items()},
            lag=total,
            lag_trend=self._trend(now, total),
            stalled_s=self._stalled(now, offsets, loaded),
        )
        verdict = decide(self.observation, self.policy)
        self._report(self.verdict, verdict, now)
        self.verdict = verdict
        return verdict

    def _failing_since(self) -> dict[str, float]:
        return {**self.stats.failing_since, **self._probed_failing}

    def _stalled(
        self, now: float, offsets: Mapping[PartitionKey, PartitionOffsets], loaded: bool
    ) -> float:
        for gone in self._moved_at.keys() - offsets.keys():  # revoked: another worker's now
            del self._moved_at[gone]
            self._committed.pop(gone, None)
        stalled = 0.0
        for tp, o in offsets.items():
            moved = self._committed.get(tp) != o.committed
            if moved or o.lag == 0 or not loaded or tp not in self._moved_at:
                self._moved_at[tp] = now
            self._committed[tp] = o.committed
            if o.lag > 0:
                stalled = max(stalled, now - self._moved_at[tp])
        return stalled

    def _trend(self, now: float, lag: int) -> LagTrend:
        if not self._samples or now - self._samples[-1][0] >= 1.0:
            self._samples.append((now, lag))
        window = self.policy.trend_window_s
        # The newest sample at least a window old is the reference; older ones are not needed.
        while len(self._samples) > 1 and now - self._samples[1][0] >= window:
            self._samples.popleft()
        then, old_lag = self._samples[0]
        if now - then < window:
            return "unknown"
        return "falling" if lag < old_lag else "not_falling"

    def _report(self, old: Verdict, new: Verdict, now: float) -> None:
        if new.state == "degraded":
            added = [r for r in new.reasons if old.state != "degraded" or r not in old.reasons]
            if added:
                self._degraded_at = self._degraded_at if old.state == "degraded" else now
                log.warning(
                    "health: degraded: %s",
                    "; ".join(f"{reason} (fix: {FIXES[reason]})" for reason in added),
                )
        elif old.state == "degraded":
            lasted = now - (self._degraded_at if self._degraded_at is not None else now)
            log.info(
                "health: recovered, now %s (degraded for %.0f s: %s)",
                new.state,
                lasted,
                ", ".join(old.reasons),
            )
            self._degraded_at = None


def health_document(monitor: HealthMonitor, *, roster_size: int) -> dict[str, Any]:
    """Return the body of ``GET /health``: the verdict, the fixes, and the figures behind it."""
    verdict, obs, stats = monitor.verdict, monitor.observation, monitor.stats
    return {
        "state": verdict.state,
        "reasons": list(verdict.reasons),
        "fixes": {reason: FIXES[reason] for reason in verdict.reasons},
        "roster_loaded": obs.roster_loaded,
        "roster_size": roster_size,
        "lag": obs.lag,
        "lag_threshold": monitor.policy.lag_threshold,
        "lag_trend": obs.lag_trend,
        "lag_by_partition": {f"{topic}:{part}": n for (topic, part), n in monitor.lag.items()},
        "stalled_s": round(obs.stalled_s, 1),
        "failing_s": {kind: round(s, 1) for kind, s in sorted(obs.failing_for.items())},
        "retries": dict(sorted(stats.retries.items())),
        "events": stats.events,
        "leads_emitted": stats.leads_emitted,
        "leads_created": stats.leads_created,
        "leads_already_present": stats.leads_present,
        "dead_letters": stats.dead_letters,
    }
