"""Shared pieces of the benchmarks: pairwise metrics, timing, running our matcher over events."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "RESULTS",
    "Latency",
    "Metrics",
    "environment",
    "latency",
    "match_events",
    "pair_metrics",
    "usable",
    "write_json",
]

RESULTS = Path(__file__).resolve().parent / "results"

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Metrics:
    """Pairwise linkage quality: a predicted pair is (event_id, person_id)."""

    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pair_metrics(predicted: Iterable[Pair], truth: Iterable[Pair]) -> Metrics:
    pred, true = set(predicted), set(truth)
    tp = len(pred & true)
    fp = len(pred - true)
    fn = len(true - pred)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Metrics(tp, fp, fn, precision, recall, f1)


@dataclass(frozen=True, slots=True)
class Latency:
    """Per-event latency summary (microseconds) and throughput on one core."""

    events: int
    seconds: float
    events_per_s: float
    p50_us: float
    p90_us: float
    p99_us: float
    max_us: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def latency(samples_ns: list[int]) -> Latency:
    if not samples_ns:
        return Latency(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    ordered = sorted(samples_ns)
    n = len(ordered)

    def pct(q: float) -> float:
        return ordered[min(n - 1, int(q * n))] / 1000

    seconds = sum(ordered) / 1e9
    return Latency(n, seconds, n / seconds, pct(0.5), pct(0.9), pct(0.99), ordered[-1] / 1000)


def match_events(
    matcher: Any,
    events: Iterable[Mapping[str, Any] | str],
    *,
    tiers: dict[Pair, str] | None = None,
) -> tuple[set[Pair], list[int], dict[str, int]]:
    """Run every event through ``matcher.match`` and time each call.

    Raw (string) lines are parsed first, as the worker does; a line that is not a usable event
    is counted as dead-lettered and not timed.

    Args:
        matcher: a ``matchers.watchlist.matcher.Matcher`` with the roster applied.
        events: raw events (dicts, or raw lines).
        tiers: when given, filled with each predicted pair's lead tier.

    Returns:
        (predicted pairs, per-event nanoseconds, counts: events, dead_lettered, leads).
    """
    from matchers.errors import InvalidRecord

    predicted: set[Pair] = set()
    samples: list[int] = []
    counts = {"events": 0, "dead_lettered": 0, "leads": 0}
    clock = time.perf_counter_ns
    match = matcher.match
    for raw in events:
        counts["events"] += 1
        payload: Any = raw
        if isinstance(raw, str):
            try:
                payload = orjson.loads(raw)
            except orjson.JSONDecodeError:
                counts["dead_lettered"] += 1
                continue
        if not isinstance(payload, Mapping):
            counts["dead_lettered"] += 1
            continue
        start = clock()
        try:
            outcome = match(payload)
        except InvalidRecord:
            counts["dead_lettered"] += 1
            continue
        samples.append(clock() - start)
        for lead in outcome.leads:
            pair = (lead["event_id"], lead["person_id"])
            predicted.add(pair)
            if tiers is not None:
                tiers[pair] = lead.get("tier", "")
        counts["leads"] += len(outcome.leads)
    return predicted, samples, counts


def usable(parse: Any, raws: list[dict[str, Any]]) -> list[Any]:
    """Parse every record ``parse`` accepts; the rest are left out, as the matcher does."""
    from matchers.errors import InvalidRecord

    out = []
    for raw in raws:
        try:
            out.append(parse(raw))
        except InvalidRecord:
            continue  # a roster line with no name at all: the matcher refuses it too
    return out


def environment() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1m": round(load[0], 2),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_json(name: str, data: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return path
