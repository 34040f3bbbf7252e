"""Benchmark 3: throughput, per-event latency and memory for rosters of 1k, 100k and 1M people.

Each size runs in a fresh interpreter (``python -m bench.speed --child ...``) so its resident
memory is the matcher's own plus the interpreter, not what the generator left behind. The
parent generates the roster and events once per size into ``bench/results/speed-cache.tmp/``
(reused by later runs) and the child reads them as the worker would: JSON lines.

One core: the child is a single thread; events/s is events over the sum of per-event times
(``time.perf_counter_ns`` around each ``Matcher.match``), so JSON parsing is not counted.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.common import RESULTS, latency

__all__ = ["run_speed"]

CACHE = RESULTS / "speed-cache.tmp"
QUANTILES = 200


def run_speed(
    sizes: tuple[int, ...], *, events: int, repeats: int = 1, seed: int = 7, say: Any = print
) -> list[dict[str, Any]]:
    """Per roster size, the median of ``repeats`` fresh-process runs by events/s.

    A shared machine's noise moves one run by 10-20 %; the median run is reported whole (its
    latencies and memory), with every run's events/s beside it in ``events_per_s_runs``.
    """
    out = []
    for size in sizes:
        folder = _generate(size, events, seed, say)
        runs = []
        for run in range(1, repeats + 1):
            say(
                f"speed: matching {events:,} events against {size:,} roster people "
                f"(fresh process, run {run} of {repeats})"
            )
            command = [sys.executable, "-m", "bench.speed", "--child", str(folder)]
            done = subprocess.run(command, check=True, capture_output=True, cwd=_root())
            runs.append(orjson.loads(done.stdout.splitlines()[-1]))
        runs.sort(key=lambda r: r["latency"]["events_per_s"])
        result = runs[len(runs) // 2]
        result["roster_size"] = size
        result["events_per_s_runs"] = [round(r["latency"]["events_per_s"]) for r in runs]
        out.append(result)
    return out


def _root() -> Path:
    return Path(__file__).resolve().parent.parent


def _generate(size: int, events: int, seed: int, say: Any) -> Path:
    from simulator import SimulationConfig, build_world

    folder = CACHE / f"roster{size}-events{events}-seed{seed}-{_generator_digest()}"
    if (folder / "done").exists():
        return folder
    for stale in CACHE.glob(f"roster{size}-events{events}-seed{seed}-*"):
        shutil.rmtree(stale, ignore_errors=True)  # made by an older generator
    say(f"speed: generating a {size:,}-person roster and {events:,} events")
    started = time.perf_counter()
    people = size + max(20_000, size // 20)
    world = build_world(SimulationConfig(people=people, watchlist=size, events=events, seed=seed))
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "roster.jsonl").open("wb") as handle:
        handle.writelines(orjson.dumps(r) + b"\n" for r in world.roster)
    with (folder / "events.jsonl").open("wb") as handle:
        for event in world.events:
            payload = event.payload
            line = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
            handle.write(line + b"\n")
    seconds = time.perf_counter() - started
    (folder / "done").write_text(f"{seconds:.1f}\n")
    say(f"speed: generated in {seconds:.1f} s")
    return folder


def _generator_digest() -> str:
    """Changes whenever the generator's code does, so a cached world is never stale."""
    digest = hashlib.sha256()
    for path in sorted((_root() / "matchers" / "synthetic").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def _child(folder: Path) -> dict[str, Any]:
    import psutil

    from matchers.native import is_active
    from matchers.scoring.modelfile import default_model
    from matchers.watchlist.matcher import Matcher

    process = psutil.Process()
    matcher = Matcher(default_model())
    gc.collect()
    rss_start = process.memory_info().rss
    started = time.perf_counter()
    with (folder / "roster.jsonl").open("rb") as handle:
        roster = 0
        for line in handle:
            matcher.apply_roster(orjson.loads(line))
            roster += 1
    load_seconds = time.perf_counter() - started
    freeze = getattr(matcher, "freeze", None)
    if freeze is not None:
        freeze()  # as tracer reprocess does after its roster load: no GC pauses over it
    gc.collect()
    rss_roster = process.memory_info().rss
    raw = [line.rstrip(b"\n") for line in (folder / "events.jsonl").open("rb")]
    parsed: list[Any] = []
    for line in raw:
        try:
            parsed.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            parsed.append(line.decode("utf-8", "replace"))
    samples, normalising, counts = _match_timed(matcher, parsed)
    rss_end = process.memory_info().rss
    ordered = sorted(samples)
    cdf = [ordered[min(len(ordered) - 1, i * len(ordered) // QUANTILES)] for i in range(QUANTILES)]
    return {
        "matchers_compiled": is_active(),
        "roster_records": roster,
        "traced_people": len(matcher),
        "roster_load_seconds": round(load_seconds, 2),
        "roster_people_per_s": round(roster / load_seconds) if load_seconds else 0,
        "rss_start_mb": round(rss_start / 2**20, 1),
        "rss_after_roster_mb": round(rss_roster / 2**20, 1),
        "rss_end_mb": round(rss_end / 2**20, 1),
        "peak_rss_mb": round(_peak_rss() / 2**20, 1),
        "counts": counts,
        "latency": latency(samples).as_dict(),
        # Where an event's time goes: turning the raw dict into an EventRecord, then blocking,
        # scoring and building leads (their sum is the latency above).
        "normalise_us_per_event": round(sum(normalising) / max(len(normalising), 1) / 1000, 1),
        "match_us_per_event": round(
            (sum(samples) - sum(normalising)) / max(len(samples), 1) / 1000, 1
        ),
        "candidates_per_event": round(counts["candidates"] / max(len(samples), 1), 2),
        "latency_quantiles_us": [round(v / 1000, 1) for v in cdf],
    }


def _match_timed(matcher: Any, events: list[Any]) -> tuple[list[int], list[int], dict[str, int]]:
    """``matcher.match`` for each event, timed as its two halves (normalise, then match).

    Returns:
        (nanoseconds per event, of which normalising, counts: events, dead_lettered, leads,
        candidates).
    """
    from matchers.errors import InvalidRecord
    from matchers.records import event_from_raw

    clock = time.perf_counter_ns
    samples: list[int] = []
    normalising: list[int] = []
    counts = {"events": 0, "dead_lettered": 0, "leads": 0, "candidates": 0}
    for payload in events:
        counts["events"] += 1
        if not isinstance(payload, dict):
            counts["dead_lettered"] += 1
            continue
        start = clock()
        try:
            event = event_from_raw(payload)
        except InvalidRecord:
            counts["dead_lettered"] += 1
            continue
        normalised = clock()
        outcome = matcher.match_record(event)
        samples.append(clock() - start)
        normalising.append(normalised - start)
        counts["leads"] += len(outcome.leads)
        counts["candidates"] += outcome.candidates_considered
    return samples, normalising, counts


def _peak_rss() -> int:
    """Peak resident bytes of this process since exec.

    ``ru_maxrss`` survives ``execve`` on Linux, so a child forked from a big parent would
    report the parent's peak; ``VmHWM`` belongs to the new address space.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", type=Path, required=True)
    parser.add_argument(
        "--pure-python", action="store_true", help="the matchers as Python, even when compiled"
    )
    args = parser.parse_args()
    if args.pure_python:
        from matchers.native import run_as_python

        run_as_python()
    sys.stdout.write(orjson.dumps(_child(args.child)).decode() + "\n")


if __name__ == "__main__":
    main()
