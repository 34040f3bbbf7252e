"""Matcher speed and memory on one core: roster load rate, events/s, p50/p99, whole-process RSS.

Standalone (no cache, no sub-process): it reads a roster and events written by
``tracer simulate`` and prints the figures the performance targets name::

    tracer simulate --out /tmp/w100k --people 120000 --watchlist 100000 --events 20000 --seed 7
    python -m bench.matcher_speed --roster /tmp/w100k/roster.jsonl \
        --events /tmp/w100k/events.jsonl --repeat 3

The roster is streamed line by line (so the file is never held in memory) and the RSS printed
is the whole process's (``VmRSS``): interpreter, libraries, matcher. Events are parsed up front
(JSON parsing is not matching); each :meth:`Matcher.match` is timed with ``perf_counter_ns``
and events/s is events over the sum of those times. ``--repeat`` matches the same events again
and reports the min and median of each figure, since the machine is shared; before each run
the field modules' per-value caches are emptied, so repeats see the events as new. Times are
given as wall time and as the thread's CPU time (what one core spends, without the waits for a
core that a loaded machine adds).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import os
import statistics
import time
from pathlib import Path
from typing import Any

import orjson

from matchers.errors import InvalidRecord
from matchers.scoring.modelfile import default_model
from matchers.watchlist.matcher import Matcher

__all__ = ["clear_value_caches", "load_roster", "main", "rss_mb", "time_events"]


def rss_mb() -> float:
    """The process's resident set size in MB (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load_roster(matcher: Matcher, path: Path, *, limit: int | None = None) -> tuple[int, float]:
    """Apply every roster line of a JSONL file; returns (records, seconds)."""
    started = time.perf_counter()
    n = 0
    with path.open("rb") as handle:
        for line in handle:
            matcher.apply_roster(orjson.loads(line))
            n += 1
            if limit is not None and n >= limit:
                break
    return n, time.perf_counter() - started


def _events(path: Path, limit: int | None) -> list[Any]:
    out: list[Any] = []
    with path.open("rb") as handle:
        for line in handle:
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue  # malformed lines never reach the matcher
            if limit is not None and len(out) >= limit:
                break
    return out


def clear_value_caches() -> None:
    """Empty the per-value caches (a field's ``_normalise``, every cache of ``records``).

    Every run then sees the events as new; the caches of pinyin readings and similar stay
    warm, as in a worker that has been running for a while.
    """
    for name in (
        "fields.names",
        "fields.ids",
        "fields.phones",
        "fields.dates",
        "fields.addresses",
        "records",
    ):
        module = importlib.import_module(f"matchers.{name}")
        for attr in vars(module).values():
            if not callable(getattr(attr, "cache_clear", None)):
                continue
            if name == "records" or "normalise" in attr.__name__:
                attr.cache_clear()


def time_events(matcher: Matcher, events: list[Any]) -> dict[str, float]:
    """Match each event once: wall and thread-CPU times per event (µs) and the throughputs.

    On a shared machine the wall time includes waiting for a core; the thread's CPU time is
    what one core spends, so both are reported.
    """
    wall: list[int] = []
    cpu: list[int] = []
    leads = 0
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for raw in events:
        start, start_cpu = clock(), cpu_clock()
        with contextlib.suppress(InvalidRecord):  # a bad envelope costs its time too
            leads += len(matcher.match(raw).leads)
        cpu.append(cpu_clock() - start_cpu)
        wall.append(clock() - start)
    out: dict[str, float] = {"events": len(wall), "leads": leads}
    for label, samples in (("wall", wall), ("cpu", cpu)):
        samples.sort()
        n, total = len(samples), sum(samples)
        out[f"{label}_events_per_s"] = n / (total / 1e9) if total else 0.0
        out[f"{label}_p50_us"] = samples[n // 2] / 1000
        out[f"{label}_p99_us"] = samples[min(n - 1, n * 99 // 100)] / 1000
        out[f"{label}_max_us"] = samples[-1] / 1000
    return out


def _summary(runs: list[dict[str, float]], key: str) -> str:
    values = [r[key] for r in runs]
    return f"min {min(values):,.0f} median {statistics.median(values):,.0f} max {max(values):,.0f}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and print the figures (and one JSON line with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roster", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--roster-limit", type=int, default=None)
    parser.add_argument("--event-limit", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--no-freeze", action="store_true", help="skip Matcher.freeze() after the roster load"
    )
    args = parser.parse_args(argv)
    rss_start = rss_mb()
    matcher = Matcher(default_model())
    records, seconds = load_roster(matcher, args.roster, limit=args.roster_limit)
    freeze = None if args.no_freeze else getattr(matcher, "freeze", None)
    if callable(freeze):
        freeze()
    gc.collect()
    rss_roster = rss_mb()
    print(
        f"roster: {records:,} records, {len(matcher):,} watched, {seconds:.1f} s "
        f"({records / seconds:,.0f} people/s); RSS {rss_start:.0f} MB before, "
        f"{rss_roster:.0f} MB after ({(rss_roster - rss_start) * 2**20 / max(1, len(matcher)):,.0f}"
        f" B/person); load avg {os.getloadavg()[0]:.1f}"
    )
    events = _events(args.events, args.event_limit)
    runs = []
    for _ in range(max(1, args.repeat)):
        clear_value_caches()
        runs.append(time_events(matcher, events))
    print(f"{runs[0]['events']:,} events, {runs[0]['leads']:,} leads per run, {len(runs)} runs")
    for key in ("events_per_s", "p50_us", "p99_us", "max_us"):
        for label in ("cpu", "wall"):
            print(f"  {label}_{key}: {_summary(runs, f'{label}_{key}')}")
    result = {
        "roster_records": records,
        "watched": len(matcher),
        "load_seconds": round(seconds, 2),
        "load_people_per_s": round(records / seconds),
        "rss_start_mb": round(rss_start, 1),
        "rss_after_roster_mb": round(rss_roster, 1),
        "rss_end_mb": round(rss_mb(), 1),
        "runs": runs,
        "loadavg": os.getloadavg(),
    }
    print(f"RSS at end {result['rss_end_mb']} MB")
    if args.json:
        print(orjson.dumps(result).decode())
    return result


if __name__ == "__main__":
    main()
