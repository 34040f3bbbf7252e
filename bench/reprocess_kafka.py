"""Time-range reprocess from Kafka beside the file reprocess of the same events, in one run.

    .venv/bin/python -m bench.reprocess_kafka [--events 1000000] [--watchlist 2000]
        [--workers N] [--world DIR] [--rounds 2] [--keep]

The events are bench.reprocess's feed of mostly new values (the same cached ``tracer simulate``
world, or ``--world``), cut to ``--events`` lines, and the roster is its first ``--watchlist``
people. They are published once with ``tracer produce`` on a topic prefix of their own; then
``tracer reprocess --since T`` (T: just before the publish, so the range holds exactly these
events) and ``tracer reprocess --events FILE`` run alternately ``--rounds`` times, each a fresh
process as a user runs it, both on ``--workers`` processes and with the roster from the same
file, so what differs is where the events come from. Each job's leads are sorted and hashed: the
time-range job must equal the file job (issue 14's stream-and-batch agreement, here at 1M).

Figures: events per minute (wall) and per CPU minute (the job's processes, ``getrusage``) of
each job, the Kafka job's rate as a ratio to the file job's, and the publish rate. Absolute rates
differ by more than 2x between machines and with load; the ratio is the figure to compare.
Results go to ``bench/results/reprocess_kafka.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.common import environment, write_json
from bench.e2e import TRACER, Slice
from bench.reprocess import _head, _measured, _roster, _world

__all__ = ["main"]


def _sorted_digest(path: Path) -> str:
    """The leads' sha256 in a fixed order: the two jobs write the same leads in other orders."""
    with path.open("rb") as handle:
        return hashlib.sha256(b"".join(sorted(handle))).hexdigest()


def _job(s: Slice, args: list[str], out: Path, lines: int) -> dict[str, Any]:
    """One ``tracer reprocess`` as a user runs it: a fresh process, its figures."""
    command = [TRACER, "reprocess", *args, "--out", str(out), "--run-id", "bench"]
    figures: dict[str, Any] = {}
    with _measured(figures):
        subprocess.run(command, env=s.env, check=True, capture_output=True)
    figures["events_per_min_wall"] = round(lines * 60 / figures["wall_s"])
    figures["events_per_min_cpu"] = round(lines * 60 / max(figures["cpu_s"], 1e-9))
    figures["leads"] = sum(1 for _ in out.open("rb"))
    figures["leads_sorted_sha256"] = _sorted_digest(out)
    return figures


def _publish(s: Slice, roster: Path, events: Path) -> tuple[str, float]:
    """Publish the files with ``tracer produce``; the ``--since`` that holds exactly them."""
    # Record timestamps are the broker's receipt times (CreateTime by the producer): a second
    # of margin before the first send keeps the range exact on a clock that ticks coarsely.
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    started = time.perf_counter()
    command = [TRACER, "produce", "--roster", str(roster), "--events", str(events)]
    subprocess.run(command, env=s.env, check=True, capture_output=True)
    return since, time.perf_counter() - started


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=2_000_000)
    parser.add_argument("--watchlist", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--world", type=Path, help="a simulated world's folder to use instead")
    parser.add_argument("--rounds", type=int, default=2, help="file/Kafka jobs alternated")
    parser.add_argument("--keep", action="store_true", help="keep the topics afterwards")
    parser.add_argument("--output", default="reprocess_kafka.json", help="file in bench/results/")
    args = parser.parse_args(argv)
    folder = args.world or _world(args.people, 100_000, args.events, args.seed)
    result: dict[str, Any] = {"environment": environment(), "workers": args.workers}
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        roster = _roster(folder, args.watchlist, scratch)
        events = _head(folder / "events.jsonl", args.events, scratch)
        lines = sum(1 for _ in events.open("rb"))
        result |= {"events": lines, "watchlist": args.watchlist, "world": folder.name}
        s = Slice("reprocess-kafka", scratch)
        try:
            since, seconds = _publish(s, roster, events)
            result["publish_events_per_min"] = round(lines * 60 / seconds)
            print(f"reprocess-kafka bench: published {lines:,} events in {seconds:.1f} s")
            _rounds(
                args, s, since=since, roster=roster, events=events, lines=lines,
                scratch=scratch, result=result,
            )  # fmt: skip
        finally:
            s.stop(keep=args.keep)
    path = write_json(args.output, result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    print(f"reprocess-kafka bench: written to {path}")
    return result


def _rounds(
    args: argparse.Namespace,
    s: Slice,
    *,
    since: str,
    roster: Path,
    events: Path,
    lines: int,
    scratch: Path,
    result: dict[str, Any],
) -> None:
    """Alternate the file job and the time-range job; their mean rates and agreement."""
    base = ["--roster", str(roster), "--workers", str(args.workers)]
    jobs = {
        "file": [*base, "--events", str(events)],
        "kafka": [*base, "--since", since],
    }
    runs: dict[str, list[dict[str, Any]]] = {"file": [], "kafka": []}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    ) as progress:  # fmt: skip
        task = progress.add_task("jobs", total=2 * args.rounds)
        for n in range(args.rounds):
            for name, job in jobs.items():
                progress.update(task, description=f"round {n + 1}: {name} job")
                out = scratch / f"{name}{n}.jsonl"
                runs[name].append(_job(s, job, out, lines))
                out.unlink()
                progress.advance(task)
    result["runs"] = runs
    for name in jobs:
        result[f"{name}_events_per_min_wall"] = round(
            _mean([r["events_per_min_wall"] for r in runs[name]])
        )
        result[f"{name}_events_per_min_cpu"] = round(
            _mean([r["events_per_min_cpu"] for r in runs[name]])
        )
    result["kafka_vs_file_wall"] = round(
        result["kafka_events_per_min_wall"] / result["file_events_per_min_wall"], 2
    )
    digests = {r["leads_sorted_sha256"] for name in jobs for r in runs[name]}
    result["same_leads_file_and_kafka"] = len(digests) == 1


if __name__ == "__main__":
    main()
