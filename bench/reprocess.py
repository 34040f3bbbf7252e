"""File reprocess speed on a feed of mostly new values: one core, all cores, and where time goes.

    .venv/bin/python -m bench.reprocess [--events 100000] [--people 500000] [--watchlist 2000]
                                        [--baseline main] [--workers N]

The world comes from ``tracer simulate`` (cached under ``bench/results/reprocess-cache.tmp/``):
a population many times the day's events, so most names, ids and phones in the feed are new
to every cache, as on a real day (issue 14's "mostly new values" feed; ``bench.speed`` reuses
its generator's smaller population). Then:

* stages, in this process, over every line: reading lines (``batch.lines``), JSON (orjson),
  the event's normalisation (``event_from_raw``: names with OpenCC, ids, phones, addresses) and
  ``Matcher.match_record``; what the job adds on top of them is ours to cut;
* the whole ``tracer reprocess`` job as a user runs it (a fresh process, wall clock, import and
  roster load included) on ``--workers 1`` and on every core;
* with ``--baseline REF``: the ``tracer reprocess`` of a git ref (its command module run against
  this checkout's matchers) on one core, and the ratios to it.

Figures are ratios from one run: absolute rates differ by more than 2x between machines and
with the load of other processes. Results go to ``bench/results/reprocess.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.common import RESULTS, environment, write_json

__all__ = ["main"]

CACHE = RESULTS / "reprocess-cache.tmp"
ROOT = Path(__file__).resolve().parent.parent
TRACER = str(Path(sys.executable).parent / "tracer")


def _world(people: int, watchlist: int, events: int, seed: int) -> Path:
    folder = CACHE / f"people{people}-watch{watchlist}-events{events}-seed{seed}"
    if not (folder / "events.jsonl").exists():
        print(f"reprocess bench: simulating {events:,} events from {people:,} people", flush=True)
        sizes = ["--people", str(people), "--watchlist", str(watchlist), "--events", str(events)]
        command = [TRACER, "simulate", "--out", str(folder), *sizes, "--seed", str(seed)]
        subprocess.run([*command, "--quiet"], check=True)
    return folder


def _stages(folder: Path) -> dict[str, float]:
    """Seconds per stage over every line, in this process (no job around them)."""
    from batch.lines import open_lines
    from matchers.errors import InvalidRecord
    from matchers.matcher import Matcher
    from matchers.modelfile import default_model
    from matchers.records import event_from_raw, parse_event_bytes

    matcher = Matcher(default_model())
    for line in (folder / "roster.jsonl").read_bytes().splitlines():
        matcher.apply_roster(orjson.loads(line))
    matcher.freeze()
    started = time.perf_counter()
    handle, lines = open_lines(folder / "events.jsonl", max_bytes=65536)
    data = [x.data for x in lines if x.data is not None]
    handle.close()
    read = time.perf_counter() - started
    started = time.perf_counter()
    raws = []
    for line in data:
        with contextlib.suppress(InvalidRecord):  # the feed's malformed lines, as in the job
            raws.append(parse_event_bytes(line, max_bytes=65536, check_envelope=False))
    parse = time.perf_counter() - started
    records = []
    started = time.perf_counter()
    for raw in raws:
        with contextlib.suppress(InvalidRecord):
            records.append((event_from_raw(raw), raw))
    normalise = time.perf_counter() - started
    started = time.perf_counter()
    for record, raw in records:
        matcher.match_record(record, raw=raw)
    match = time.perf_counter() - started
    return {"read_lines": read, "json": parse, "normalise": normalise, "match": match}


def _job(folder: Path, out: Path, workers: int) -> float:
    command = [TRACER, "reprocess", "--roster", str(folder / "roster.jsonl"),
               "--events", str(folder / "events.jsonl"), "--out", str(out),
               "--workers", str(workers)]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def _baseline(folder: Path, out: Path, ref: str) -> float:
    """Wall time of ``ref``'s ``tracer reprocess`` (its command module, today's matchers)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:tracer/commands/reprocess.py"],
                            check=True, capture_output=True).stdout  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "reprocess_baseline.py").write_bytes(source)
        code = (
            "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
            "import reprocess_baseline as m;"
            "m.reprocess(roster=Path(sys.argv[2]), events=Path(sys.argv[3]), out=Path(sys.argv[4]),"
            " model=None)"
        )
        command = [sys.executable, "-c", code, tmp, str(folder / "roster.jsonl"),
                   str(folder / "events.jsonl"), str(out)]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=500_000)
    parser.add_argument("--watchlist", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--baseline", help="a git ref whose tracer reprocess to compare with")
    args = parser.parse_args(argv)
    folder = _world(args.people, args.watchlist, args.events, args.seed)
    lines = sum(1 for _ in (folder / "events.jsonl").open("rb"))
    result: dict[str, Any] = {"events": lines, "people": args.people, "watchlist": args.watchlist,
                              "environment": environment()}  # fmt: skip
    stages = _stages(folder)
    result["stage_us_per_event"] = {k: round(v / lines * 1e6, 1) for k, v in stages.items()}
    print(f"reprocess bench: stages (us an event) {result['stage_us_per_event']}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        one = _job(folder, Path(tmp) / "one.jsonl", 1)
        every = _job(folder, Path(tmp) / "all.jsonl", args.workers)
        result["job_events_per_s"] = {
            "one_core": round(lines / one),
            f"{args.workers}_workers": round(lines / every),
        }
        result["all_cores_vs_one"] = round(one / every, 2)
        if args.baseline:
            base = _baseline(folder, Path(tmp) / "base.jsonl", args.baseline)
            result["baseline"] = {
                "ref": args.baseline,
                "one_core_events_per_s": round(lines / base),
            }
            result["one_core_vs_baseline"] = round(base / one, 2)
            result["all_cores_vs_baseline"] = round(base / every, 2)
    path = write_json("reprocess.json", result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    print(f"reprocess bench: written to {path}")
    return result


if __name__ == "__main__":
    main()
