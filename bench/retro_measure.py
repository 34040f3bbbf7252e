"""bench.retro's readings: where a drop-out's time goes, and live matching during a retro burst.

**Breakdown** (:func:`breakdown`): the worker logs one ``retro batch:`` line per batch
(streams/retro.py ``RetroStats``): people, queue wait (summed over them), and the batch's
seconds settling the archive writes, refreshing, waiting for the search, matching again and
publishing. Every person of a batch lives through its whole batch, so the mean per drop-out of
a phase is the batches' phase weighted by their people; the queue wait is its sum over all
people. ``rest`` is the mean latency minus those: the roster record reaching the worker and
its watchlist, and the leads being indexed and refreshed (1 s) in Elasticsearch.

**Burst** (:func:`live_lag_during_burst`): a live feed published at a steady rate the worker
keeps up with; the feed topics' lag (committed offsets, committed every 0.2 s, after the
events' archive documents are written) sampled every 0.25 s for a quiet window, while
drop-outs arrive 10 a second and are searched, and a quiet window after. Lag p50/p99 in
events, and in seconds behind (lag / rate), quiet against burst: does retro stall live
matching? (It replaced a backlog's consumed events/s, burst over quiet, which swung from 0.36
to 1.74 between runs with the load and the backlog running out inside a window.)
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from bench.e2e import Slice
from connectors.clients import kafka_producer_client
from connectors.kafka import ConsumerLagProbe, route_event_line
from contract import FEED_TOPICS

__all__ = ["PHASES", "breakdown", "live_lag_during_burst"]

PHASES = ("waited", "settled", "refreshed", "searched", "rematched", "published")
_LINE = re.compile(r"retro batch: people=(\d+) leads=(\d+)(.*)")
_FIGURE = re.compile(r"(\w+)=([\d.]+)")


def breakdown(log: str, mean_latency: float) -> dict[str, Any]:
    """Mean seconds per drop-out of each phase, from the worker's ``retro batch:`` lines."""
    people = 0
    batches: list[int] = []
    spent = dict.fromkeys(PHASES, 0.0)
    for match in _LINE.finditer(log):
        size = int(match.group(1))
        figures = {k: float(v) for k, v in _FIGURE.findall(match.group(3))}
        people += size
        batches.append(size)
        for phase in PHASES:
            weight = 1 if phase == "waited" else size  # waited: summed over the people already
            spent[phase] += figures.get(phase, 0.0) * weight
    if not people:
        return {"batches": 0}
    mean = {phase: round(total / people, 3) for phase, total in spent.items()}
    return {
        "batches": len(batches),
        "people_per_batch_max": max(batches),
        "people_per_batch_mean": round(people / len(batches), 1),
        "mean_s": mean,
        "rest_s": round(mean_latency - sum(mean.values()), 3),
    }


class _Feeder(threading.Thread):
    """Publishes ``lines`` to the slice's feed topics at ``rate`` events/s until halted."""

    def __init__(self, s: Slice, lines: list[bytes], rate: float) -> None:
        super().__init__(daemon=True)
        self._s, self._lines, self._rate = s, lines, rate
        self.halt = threading.Event()
        self.sent = 0

    def run(self) -> None:
        producer = kafka_producer_client(self._s.settings, linger_ms=5)
        started = time.perf_counter()
        try:
            while not self.halt.is_set() and self.sent < len(self._lines):
                due = min(len(self._lines), int((time.perf_counter() - started) * self._rate))
                for line in self._lines[self.sent : due]:
                    route = route_event_line(line)
                    producer.send(self._s.topic(route.topic), key=route.key, value=line)
                self.sent = max(self.sent, due)
                producer.flush()
                self.halt.wait(_TICK_S)
        finally:
            producer.close()


class _LagSampler(threading.Thread):
    """The worker group's lag on the feed topics every ``_TICK_S`` (time, events behind)."""

    def __init__(self, s: Slice) -> None:
        super().__init__(daemon=True)
        self._s = s
        self.halt = threading.Event()
        self.samples: list[tuple[float, int]] = []

    def run(self) -> None:
        probe = ConsumerLagProbe(self._s.settings)
        topics = [self._s.topic(t) for t in FEED_TOPICS]
        try:
            while not self.halt.is_set():
                self.samples.append(
                    (time.perf_counter(), probe.lag(self._s.settings.consumer_group, topics))
                )
                self.halt.wait(_TICK_S)
        finally:
            probe.close()


_TICK_S = 0.25


def _lag_figures(lags: list[int], rate: float) -> dict[str, Any]:
    """Quantiles of the sampled lag, in events and in seconds at the feed's ``rate``."""
    if not lags:
        return {"samples": 0}
    ordered = sorted(lags)
    p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "samples": len(ordered),
        "lag_p50": p50,
        "lag_p99": p99,
        "lag_max": ordered[-1],
        "behind_p50_s": round(p50 / rate, 2),
        "behind_p99_s": round(p99 / rate, 2),
    }


def live_lag_during_burst(
    s: Slice, burst: Callable[[], None], lines: list[bytes], *, rate: float, quiet_s: float = 12.0
) -> dict[str, Any]:
    """Live events fed at ``rate``/s: how far behind matching is, quiet, in a burst, quiet.

    A feed at a steady rate the worker keeps up with when quiet; the feed topics' lag (events
    published but not yet matched, archived and committed) is sampled every 0.25 s. Stalled
    live matching shows as lag growing during ``burst()`` (drop-outs sent and searched); lag /
    rate is how many seconds behind a live event then is. ``lines`` must last the three
    windows (``rate`` x about a minute).
    """
    feeder, sampler = _Feeder(s, lines, rate), _LagSampler(s)
    feeder.start()
    time.sleep(3.0)  # the feed flowing and matched before the first window
    sampler.start()
    edges = [time.perf_counter()]
    time.sleep(quiet_s)
    edges.append(time.perf_counter())
    burst()
    edges.append(time.perf_counter())
    time.sleep(quiet_s)
    edges.append(time.perf_counter())
    sampler.halt.set()
    feeder.halt.set()
    sampler.join()
    feeder.join()
    names = ("quiet_before", "burst", "quiet_after")
    out: dict[str, Any] = {"rate": rate, "sent": feeder.sent}
    for name, begin, end in zip(names, edges, edges[1:], strict=False):
        lags = [lag for at, lag in sampler.samples if begin <= at < end]
        out[name] = _lag_figures(lags, rate) | {"seconds": round(end - begin, 1)}
    if feeder.sent < int(rate * (edges[-1] - edges[0])):
        out["warning"] = "the feed ran out of lines: the windows are short of events"
    return out
