"""bench.retro's readings: where a drop-out's time goes, and live matching during a retro burst.

**Breakdown** (:func:`breakdown`): the worker logs one ``retro batch:`` line per batch
(streams/retro.py ``RetroStats``): people, queue wait (summed over them), and the batch's
seconds settling the archive writes, refreshing, waiting for the search, matching again and
publishing. Every person of a batch lives through its whole batch, so the mean per drop-out of
a phase is the batches' phase weighted by their people; the queue wait is its sum over all
people. ``rest`` is the mean latency minus those: the roster record reaching the worker and
its watchlist, and the leads being indexed and refreshed (1 s) in Elasticsearch.

**Burst** (:func:`live_rate_during_burst`): with a feed backlog being matched, the feed
topics' consumed events/s (committed offsets, committed every 0.2 s) for a quiet window,
while drop-outs arrive 10 a second and are searched, and a quiet window after; the ratio
burst / quiet says whether retro stalls live matching.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from bench.e2e import Slice
from connectors.kafka import ConsumerLagProbe
from contract import FEED_TOPICS

__all__ = ["PHASES", "breakdown", "live_rate_during_burst"]

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


def _consumed(probe: ConsumerLagProbe, s: Slice) -> int:
    """Events of the feed topics the worker's group has committed so far."""
    return -probe.lag(s.settings.consumer_group, [s.topic(t) for t in FEED_TOPICS])


def live_rate_during_burst(
    s: Slice, burst: Callable[[], None], *, quiet_s: float = 12.0
) -> dict[str, Any]:
    """Feed events/s quiet, during ``burst()`` (drop-outs sent and searched), quiet again.

    The backlog must be on the feed topics already, larger than the three windows consume.
    """
    probe = ConsumerLagProbe(s.settings)
    try:
        windows: dict[str, float] = {}

        def window(name: str, work: Callable[[], None]) -> None:
            before, started = _consumed(probe, s), time.perf_counter()
            work()
            windows[name] = (_consumed(probe, s) - before) / (time.perf_counter() - started)

        window("quiet_before", lambda: time.sleep(quiet_s))
        window("burst", burst)
        window("quiet_after", lambda: time.sleep(quiet_s))
        left = probe.lag(s.settings.consumer_group, [s.topic(t) for t in FEED_TOPICS])
    finally:
        probe.close()
    quiet = (windows["quiet_before"] + windows["quiet_after"]) / 2
    return {
        "events_per_s": {k: round(v) for k, v in windows.items()},
        "burst_over_quiet": round(windows["burst"] / quiet, 3) if quiet else None,
        "backlog_left": left,  # 0: the backlog ran out inside a window (the figure is low)
    }
