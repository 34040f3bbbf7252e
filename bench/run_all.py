"""Run every benchmark: ``python -m bench.run_all [--quick] [--only PART,...]``.

Figures go to the terminal (a rich table), ``bench/results/*.json``, ``bench/results/latest.md``
and PNG plots. ``--quick`` is a small version for a smoke test (about a minute); the full run
is sized for 2 cores and aims at under 30 minutes. The ``e2e`` and ``alerts`` parts need the
local stack (``make bench`` starts it).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from bench.common import RESULTS, environment, write_json

__all__ = ["main"]

FULL = {
    "events": 100_000,
    "watchlist": 2_000,
    "people": 60_000,
    "sizes": (1_000, 100_000, 1_000_000),
    "speed_events": 20_000,
    # Fresh processes per roster size; the median one is reported, the others beside it.
    "speed_repeats": 3,
    "splink_stream": 100,
    "e2e": {"events": 60_000, "workers": 1, "latency_rate": 1_000, "latency_seconds": 20.0},
    # bench.reprocess at a size that fits the run (its own command runs the 1M events).
    "reprocess": ["--events", "200000", "--people", "400000", "--watchlists", "2000"],
    # Seven worker runs (off, then each case on with an off after it): about 12 minutes.
    "alerts": {"events": 20_000, "counts": (1_000, 10_000), "heavy": (10_000,), "rounds": 1},
}
QUICK = {
    "events": 8_000,
    "watchlist": 400,
    "people": 6_000,
    "sizes": (1_000, 10_000),
    "speed_events": 2_000,
    "speed_repeats": 1,
    "splink_stream": 10,
    "e2e": {"people": 20_000, "events": 5_000, "latency_rate": 500, "latency_seconds": 10.0},
    "reprocess": ["--events", "10000", "--people", "20000", "--watchlists", "400"],
    "alerts": {
        "people": 6_000,
        "watchlist": 400,
        "events": 4_000,
        "counts": (10_000,),
        "mixes": ("realistic",),
        "heavy": (),
        "rounds": 1,
    },
}
PARTS = ("febrl", "quality", "splink", "speed", "e2e", "reprocess", "alerts")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all")
    parser.add_argument("--quick", action="store_true", help="small, fast version")
    parser.add_argument("--only", default=",".join(PARTS), help="comma list of " + ",".join(PARTS))
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument(
        "--sizes", default="", help="roster sizes for the speed part, e.g. 1000,100000"
    )
    args = parser.parse_args(argv)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    unknown = parts - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    size = dict(QUICK if args.quick else FULL)
    if args.sizes:
        size["sizes"] = tuple(int(v) for v in args.sizes.split(",") if v.strip())
    console = Console(stderr=True, highlight=False)

    def say(text: str) -> None:
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}")

    warnings.simplefilter("ignore")  # third-party deprecations are not benchmark figures
    started = time.perf_counter()
    results: dict[str, Any] = {"environment": environment(), "quick": args.quick, "sizes": size}
    prefix = "quick-" if args.quick else ""  # a smoke run never overwrites the full figures
    _run(parts, size, results, seed=args.seed, say=say, prefix=prefix)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    if parts != set(PARTS):
        results = _merged_with_previous(results, parts, RESULTS / f"{prefix}all.json")
    from bench.report import plot, print_tables, write_markdown

    write_json(f"{prefix}all.json", results)
    print_tables(results, Console(highlight=False, width=150))
    command = "python -m bench.run_all " + " ".join(argv if argv is not None else sys.argv[1:])
    if not args.quick:
        write_markdown(results, command.strip())
        for path in plot(results):
            say(f"plot: {path.relative_to(RESULTS.parent.parent)}")
    say(f"done in {results['total_seconds']:.0f} s")
    return 0


def _merged_with_previous(
    results: dict[str, Any], parts: set[str], previous_path: Path
) -> dict[str, Any]:
    """Keep the figures of parts not run this time from the previous run (marked as such)."""
    if not previous_path.exists():
        return results
    previous = orjson.loads(previous_path.read_bytes())
    kept = [p for p in PARTS if p not in parts and p in previous]
    merged = {**results, **{p: previous[p] for p in kept}}
    if "quality" in kept and "quality_hainan" in previous:  # reported beside the quality part
        merged["quality_hainan"] = previous["quality_hainan"]
    if kept:
        merged["carried_over"] = {
            "parts": kept,
            "from_run_started_at": previous.get("environment", {}).get("started_at"),
        }
    return merged


def _run(
    parts: set[str],
    size: dict[str, Any],
    results: dict[str, Any],
    *,
    seed: int,
    say: Any,
    prefix: str,
) -> None:
    if "febrl" in parts:
        from bench.febrl import run_febrl

        say("febrl: FEBRL4 5,000 x 5,000")
        results["febrl"] = run_febrl(say=say)
        write_json(f"{prefix}febrl.json", results["febrl"])
    if parts & {"quality", "splink"}:
        from bench.quality import build_quality_world, run_quality, run_trained, truth_pairs

        say(f"quality: generating {size['events']:,} events, {size['watchlist']:,} roster")
        world, generated = build_quality_world(
            events=size["events"], watchlist=size["watchlist"], people=size["people"], seed=seed
        )
        quality = run_quality(world, generated=generated)
        samples = quality.pop("latency_samples_ns")
        results["quality"] = quality
        say(f"quality: F1 {quality['overall']['f1']:.4f} ({len(samples):,} events matched)")
        quality["trained_unsupervised"] = run_trained(world)
        say(f"quality: unsupervised model F1 {quality['trained_unsupervised']['f1']:.4f}")
        write_json(f"{prefix}quality.json", quality)
        _run_hainan(size, results, seed=seed, say=say, prefix=prefix)
        if "splink" in parts:
            from bench.splink_compare import run_splink

            events = [
                e.payload
                for e in world.events
                if isinstance(e.payload, dict) and "event_id" in e.payload
            ]
            results["splink"] = run_splink(
                world.roster,
                events,
                truth_pairs(world),
                stream_sample=size["splink_stream"],
                say=say,
            )
            say(f"splink: batch F1 {results['splink']['batch_f1']:.4f}")
            write_json(f"{prefix}splink.json", results["splink"])
        del world
    if "speed" in parts:
        from bench.speed import run_speed

        results["speed"] = run_speed(
            size["sizes"], events=size["speed_events"], repeats=size["speed_repeats"], say=say
        )
        write_json(f"{prefix}speed.json", results["speed"])
    if "e2e" in parts:
        from bench.e2e import run_e2e

        results["e2e"] = run_e2e(**size["e2e"], say=say)
    if "reprocess" in parts:
        from bench.reprocess import main as run_reprocess

        say(f"reprocess: tracer reprocess, the original job and Splink ({size['reprocess']})")
        output = ["--output", f"{prefix}reprocess.json", "--stage-events", "20000"]
        results["reprocess"] = run_reprocess([*size["reprocess"], *output])
    if "alerts" in parts:
        from bench.alerts import run_alerts

        results["alerts"] = run_alerts(
            **size["alerts"], phases=("evaluate", "pipeline"), say=say, prefix=prefix
        )


def _run_hainan(
    size: dict[str, Any], results: dict[str, Any], *, seed: int, say: Any, prefix: str
) -> None:
    """The same quality part on the hainan feed mix (``simulator.hainan``)."""
    from bench.quality import build_quality_world, run_quality, run_trained

    say(f"quality: generating the hainan mix, {size['events']:,} events")
    world, generated = build_quality_world(
        events=size["events"],
        watchlist=size["watchlist"],
        people=size["people"],
        seed=seed,
        mix="hainan",
    )
    hainan = run_quality(world, generated=generated)
    hainan.pop("latency_samples_ns")
    results["quality_hainan"] = hainan
    # The shipped model's name table knows the classic population's names only; the province's
    # own feed teaches it Hainan's (what ``tracer train`` does on a deployment's data).
    hainan["trained_unsupervised"] = run_trained(world)
    say(
        f"quality: hainan mix F1 {hainan['overall']['f1']:.4f}, recall "
        f"{hainan['overall']['recall']:.4f} of a ceiling {hainan.get('ceiling')}"
    )
    write_json(f"{prefix}quality_hainan.json", hainan)


if __name__ == "__main__":
    raise SystemExit(main())
