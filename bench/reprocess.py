"""File reprocess speed on a feed of mostly new values, beside the original job and Splink 5.

    .venv/bin/python -m bench.reprocess [--events 1000000] [--people 2000000]
        [--watchlists 2000,100000] [--workers N] [--original 453d82f^] [--splink-events N]
        [--world DIR] [--skip-original] [--original-tree DIR] [--skip-splink]

The world comes from ``tracer simulate`` (cached under ``bench/results/reprocess-cache.tmp/``,
or ``--world`` names one): a population many times the day's events, so most names, ids and
phones in the feed are new to every cache (issue 14's "mostly new values" feed). It is simulated
once with the largest watchlist; a smaller watchlist is the roster file's first lines, so every
run reads the *same events file*. For each watchlist, in one run:

* ``tracer reprocess`` as a user runs it (a fresh process, import and roster load included) on
  ``--workers 1`` and on every core: wall seconds, and CPU seconds of the process and its
  workers (``getrusage``: the figure other processes' load disturbs least);
* the original ``tracer reprocess`` (``--original``: the command before issue 14, its module run
  against this checkout's matchers) on one core: the per-core target is 4x its rate;
* with ``--original-tree``, a whole checkout of the commit issue 14 was filed on (``cadd1ac``,
  the parent of both first commits of its work, 453d82f and d0fab38): its command *and* its
  matchers, compiled, on one core, the baseline the 4x is stated against;
* Splink 5's whole job (read the files, prepare, train, predict) on every core, and its predict
  alone (``bench.splink_compare``), on the first ``--splink-events`` lines of the same file when
  the whole file does not fit the time: rates (events/s) are then compared, sizes recorded.

Before them: where one core's time goes, in this process (CPU time per event of reading lines,
JSON, the event's normalisation and ``Matcher.match_record``), and how often the feed's values
repeat (what any cache of normalised values could save). Figures are ratios from one run:
absolute rates differ by more than 2x between machines and with other processes' load.
Results go to ``bench/results/reprocess.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from bench.common import RESULTS, environment, write_json

__all__ = ["main"]

CACHE = RESULTS / "reprocess-cache.tmp"
ROOT = Path(__file__).resolve().parent.parent
TRACER = str(Path(sys.executable).parent / "tracer")
#: The ``tracer reprocess`` of before issue 14 (files in, leads out, one core).
ORIGINAL = "453d82f^"
_MAX_BYTES = 65536


def _world(people: int, watchlist: int, events: int, seed: int) -> Path:
    folder = CACHE / f"people{people}-watch{watchlist}-events{events}-seed{seed}"
    if not (folder / "events.jsonl").exists():
        print(f"reprocess bench: simulating {events:,} events from {people:,} people", flush=True)
        sizes = ["--people", str(people), "--watchlist", str(watchlist), "--events", str(events)]
        command = [TRACER, "simulate", "--out", str(folder), *sizes, "--seed", str(seed)]
        subprocess.run([*command, "--quiet"], check=True)
    return folder


def _roster(folder: Path, size: int, scratch: Path) -> Path:
    """The world's roster cut to its first ``size`` people (the same events file for all)."""
    whole = folder / "roster.jsonl"
    with whole.open("rb") as handle:
        total = sum(1 for _ in handle)
    if size >= total:
        return whole
    path = scratch / f"roster{size}.jsonl"
    with whole.open("rb") as source, path.open("wb") as target:
        for _, line in zip(range(size), source, strict=False):
            target.write(line)
    return path


def _head(path: Path, lines: int, scratch: Path) -> Path:
    """The first ``lines`` lines of an events file (Splink's share when the whole is too big)."""
    target = scratch / f"events{lines}.jsonl"
    with path.open("rb") as source, target.open("wb") as out:
        for _, line in zip(range(lines), source, strict=False):
            out.write(line)
    return target


def _stages(roster: Path, events: Path) -> dict[str, Any]:
    """CPU microseconds an event per stage, in this process (no job around them).

    Run as the job runs: compiled when built, the roster frozen out of the GC's reach and the
    GC's thresholds the job's (``batch.matching.GC_THRESHOLDS``; CPython's defaults made the
    collector rescan the growing value caches, a cost the job does not pay). The first half of
    the lines is normalised whole (``normalise``: ``event_from_raw``), the second field by field
    through the normalisers ``event_from_raw`` calls, each on values it has not seen (the
    feed's values are mostly new, so neither half warms the other's caches much); keys,
    lookups and scoring run on the first half's records.
    """
    from batch.matching import GC_THRESHOLDS
    from batch.sources import FileSource
    from matchers.errors import InvalidRecord
    from matchers.native import is_active
    from matchers.records import event_from_raw, parse_event_bytes
    from matchers.scoring.modelfile import default_model
    from matchers.watchlist.blocking import event_block_keys
    from matchers.watchlist.matcher import Matcher

    matcher = Matcher(default_model())
    for line in roster.read_bytes().splitlines():
        matcher.apply_roster(orjson.loads(line))
    matcher.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        seconds, counts = _timed_stages(
            FileSource([events], max_bytes=_MAX_BYTES, chunk_lines=2000),
            parse=partial(parse_event_bytes, max_bytes=_MAX_BYTES, check_envelope=False),
            normalise=event_from_raw,
            keys=event_block_keys,
            match=matcher.match_record,
            invalid=InvalidRecord,
        )
    finally:
        gc.set_threshold(*thresholds)
    per_event = {k: round(v / max(counts[k], 1) * 1e6, 2) for k, v in seconds.items()}
    # What earlier runs called "match" (Matcher.match_record, its keys made inside).
    per_event["match"] = round(per_event["block_keys"] + per_event["lookups_and_scoring"], 2)
    return per_event | {"compiled_matchers": is_active()}


def _timed_stages(
    source: Any,
    *,
    parse: Callable[[bytes], Any],
    normalise: Callable[..., Any],
    keys: Callable[[Any], frozenset[str]],
    match: Callable[..., Any],
    invalid: type[Exception],
) -> tuple[dict[str, float], dict[str, int]]:
    """CPU seconds and event counts of each stage (see :func:`_stages`)."""
    clock = time.process_time
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}

    def timed(name: str, work: Callable[[Any], object], items: list[Any]) -> None:
        started = clock()
        for item in items:
            with contextlib.suppress(invalid):  # the feed's malformed lines, as in the job
                work(item)
        seconds[name] = clock() - started
        counts[name] = len(items)

    started = clock()
    data = [line for chunk in source.chunks({}) for _, line in chunk.lines]
    seconds["read_lines"], counts["read_lines"] = clock() - started, len(data)
    raws: list[Any] = []
    timed("json", lambda line: raws.append(parse(line)), data)
    half = len(raws) // 2
    records: list[tuple[Any, Any]] = []
    timed("normalise", lambda raw: records.append((normalise(raw), raw)), raws[:half])
    for name, work in _field_stages().items():
        timed(name, work, raws[half:])
    made: list[frozenset[str]] = []
    timed("block_keys", lambda pair: made.append(keys(pair[0])), records)
    pairs = list(zip(records, made, strict=True))
    timed("lookups_and_scoring", lambda p: match(p[0][0], raw=p[0][1], keys=p[1]), pairs)
    return seconds, counts


def _field_stages() -> dict[str, Callable[[Any], object]]:
    """Each field's normaliser as ``event_from_raw`` calls it, on a decoded event."""
    from matchers.envelope import validate_event_envelope
    from matchers.fields.compact import compact_address, compact_id
    from matchers.fields.dates import normalise_date
    from matchers.fields.names import normalise_name
    from matchers.fields.phones import normalise_phone

    def text(raw: Any, field: str) -> str:
        value = raw.get(field) if isinstance(raw, dict) else None
        return value if isinstance(value, str) else ""

    def field(normaliser: Callable[[str], object], name: str) -> Callable[[Any], object]:
        # An absent or empty field is not normalised by event_from_raw either.
        return lambda raw: normaliser(text(raw, name)) if text(raw, name) else None

    def address(raw: Any) -> object:
        name = "registered_address" if text(raw, "source") == "telecom" else "address"
        return compact_address(text(raw, name)) if text(raw, name) else None

    return {
        "field_envelope": validate_event_envelope,
        "field_id": field(lambda value: compact_id(value, None), "id_number"),
        "field_name": field(normalise_name, "name"),
        "field_birth_date": field(normalise_date, "birth_date"),
        "field_phone": field(normalise_phone, "phone"),
        "field_address": address,
    }


def _repeats(events: Path) -> dict[str, float]:
    """Share of the feed's events whose name, address, phone, id was seen in an earlier event."""
    fields = {"name": ("name",), "address": ("address", "registered_address"),
              "phone": ("phone",), "id_number": ("id_number",)}  # fmt: skip
    seen: dict[str, set[bytes]] = {k: set() for k in fields}
    repeated = dict.fromkeys(fields, 0)
    present = dict.fromkeys(fields, 0)
    with events.open("rb") as handle:
        for line in handle:
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(event, dict):
                continue
            for key, names in fields.items():
                value = next((event[n] for n in names if isinstance(event.get(n), str)), None)
                if not value:
                    continue
                digest = hashlib.blake2b(value.encode(), digest_size=8).digest()
                present[key] += 1
                repeated[key] += digest in seen[key]
                seen[key].add(digest)
    return {k: round(repeated[k] / present[k], 3) if present[k] else 0.0 for k in fields}


def _run(
    command: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float | None = None,
    check: bool = True,
) -> tuple[dict[str, Any], bytes]:
    """Run one process: its wall and CPU seconds, peak RSS, the load around it, and its stdout.

    CPU and peak RSS are this child's alone (``wait4``: its reaped workers included, not the
    other runs'). Linux counts the spawning process's high-water mark into a child's peak RSS
    at ``exec``, so the peak is at least this process's (``spawner_peak_rss_mb``, small unless
    the stages ran first). Past ``timeout_s`` its process group is killed and ``timed_out`` set; a
    process that fails (killed by the OOM killer, say) raises when ``check``, else its exit
    status is recorded.
    """
    figures: dict[str, Any] = {
        "load_1m_before": round(os.getloadavg()[0], 2),
        "spawner_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
        status, usage = _wait(child.pid, deadline)
        if status is None:  # past the deadline: the whole group, DuckDB's threads and all
            os.killpg(child.pid, signal.SIGKILL)
            _, status, usage = os.wait4(child.pid, 0)
            figures["timed_out"] = True
        child.returncode = os.waitstatus_to_exitcode(status)
        figures["wall_s"] = round(time.perf_counter() - started, 2)
        figures["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
        figures["peak_rss_mb"] = usage.ru_maxrss // 1024  # KiB on Linux
        figures["load_1m_after"] = round(os.getloadavg()[0], 2)
        figures["exit_code"] = child.returncode
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if check and child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, command, stdout, stderr)
    if child.returncode != 0 and not figures.get("timed_out"):
        figures["stderr_tail"] = stderr[-2000:].decode(errors="replace")
    return figures, stdout


def _wait(pid: int, deadline: float | None) -> tuple[int | None, Any]:
    """``wait4`` the child until it ends or the deadline passes (``None`` status: it passed)."""
    if deadline is None:
        _, status, usage = os.wait4(pid, 0)
        return status, usage
    while time.monotonic() < deadline:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage
        time.sleep(0.5)
    return None, None


def _ours(roster: Path, events: Path, out: Path, workers: int) -> dict[str, Any]:
    command = [TRACER, "reprocess", "--roster", str(roster), "--events", str(events),
               "--out", str(out), "--workers", str(workers), "--run-id", "bench"]  # fmt: skip
    figures, _ = _run(command)
    figures["workers"] = workers
    figures["leads_sha256"] = hashlib.sha256(out.read_bytes()).hexdigest()
    return figures


def _original(roster: Path, events: Path, out: Path, ref: str) -> dict[str, Any]:
    """The ``ref``'s ``tracer reprocess`` (its command module, today's matchers), one core."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:tracer/commands/reprocess.py"],
                            check=True, capture_output=True).stdout  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        # Its imports name the matchers as they were then (today's are in sub-packages).
        # (The old names split in two, or the repository-wide rename would rename them.)
        for old, new in (
            (b"matchers." + b"matcher ", b"matchers.watchlist.matcher "),
            (b"matchers." + b"modelfile ", b"matchers.scoring.modelfile "),
        ):
            source = source.replace(b"from " + old, b"from " + new)
        (Path(tmp) / "reprocess_original.py").write_bytes(source)
        code = (
            "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
            "import reprocess_original as m;"
            "m.reprocess(roster=Path(sys.argv[2]), events=Path(sys.argv[3]), out=Path(sys.argv[4]),"
            " model=None)"
        )
        command = [sys.executable, "-c", code, tmp, str(roster), str(events), str(out)]
        figures, _ = _run(command, cwd=ROOT)
    return figures | {"ref": ref}


def _original_tree(roster: Path, events: Path, out: Path, tree: Path) -> dict[str, Any]:
    """A whole checkout's ``tracer reprocess`` (its command *and* its matchers), one core.

    ``tree`` is a checkout of the commit the issue's baseline was taken on, built with this
    venv (``git worktree add --detach DIR cadd1ac``, then in DIR ``PYTHONPATH=DIR python -m
    tools.compile_matchers``): run with ``PYTHONPATH`` set to it, its own packages shadow this
    checkout's editable install. It takes the files and writes the leads, nothing else.
    """
    code = "import sys; from tracer.cli import main; sys.argv[0] = 'tracer'; main()"
    command = [sys.executable, "-c", code, "reprocess", "--roster", str(roster),
               "--events", str(events), "--out", str(out)]  # fmt: skip
    environment = os.environ | {"PYTHONPATH": str(tree)}
    figures, _ = _run(command, cwd=tree, env=environment)
    return figures | {"tree": str(tree)}


def _splink(roster: Path, events: Path, threads: int, timeout_s: float) -> dict[str, Any]:
    """Splink's whole job in its own process, stopped after ``timeout_s``.

    Stopped, or killed for memory, it is recorded as such with the stages it finished (each
    stage's figures are a line of its output) and its peak RSS: that is the figure.
    """
    command = [sys.executable, "-m", "bench.splink_compare", "--roster", str(roster),
               "--events", str(events), "--threads", str(threads)]  # fmt: skip
    figures, stdout = _run(command, cwd=ROOT, timeout_s=timeout_s, check=False)
    lines = stdout.splitlines()
    reported = orjson.loads(lines[-1]) if lines else {}
    figures["finished"] = figures["exit_code"] == 0 and "links" in reported
    if not figures["finished"]:
        figures["stages_finished"] = [orjson.loads(line).get("stage") for line in lines]
    return figures | reported


def _rate(events: int, seconds: float) -> int:
    return round(events / seconds) if seconds else 0


def _ours_round(
    roster: Path, events: Path, scratch: Path, lines: int, workers: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Ours on one core, then on ``workers``, each a fresh process, with their rates."""
    runs = (
        _ours(roster, events, scratch / "one.jsonl", 1),
        _ours(roster, events, scratch / "all.jsonl", workers),
    )
    for figures in runs:
        figures["events_per_s_wall"] = _rate(lines, figures["wall_s"])
        figures["events_per_s_cpu"] = _rate(lines, figures["cpu_s"])
    return runs


def _splink_row(
    args: argparse.Namespace, events: Path, roster: Path, lines: int, scratch: Path
) -> dict[str, Any]:
    """Splink's whole job on the file (or its first ``--splink-events`` lines), with rates."""
    share = min(lines, args.splink_events or lines)
    splink_events = events if share >= lines else _head(events, share, scratch)
    splink = _splink(roster, splink_events, args.workers, args.splink_timeout)
    splink["file_lines"] = share
    splink["timeout_s"] = args.splink_timeout
    if splink["finished"]:
        splink["events_per_s_whole_job"] = _rate(share, splink["wall_s"])
        splink["events_per_s_whole_job_cpu"] = _rate(share, splink["cpu_s"])
        splink["events_per_s_predict"] = _rate(share, splink["predict_seconds"])
        splink["events_per_s_predict_cpu"] = _rate(share, splink["predict_cpu_seconds"])
    return splink


def _versus_splink(row: dict[str, Any]) -> None:
    """Our rates over Splink's, each round of ours (an unfinished Splink: a lower bound)."""
    splink = row["splink_all_cores"]
    ours = [row["ours_all_cores"]] + [r["ours_all_cores"] for r in row.get("ours_more_rounds", [])]
    if not splink["finished"]:
        # Splink's rate is at most its file over the time it was given.
        bound = _rate(splink["file_lines"], splink["wall_s"])
        row["ours_all_cores_vs_splink_whole_job_at_least"] = [
            round(o["events_per_s_wall"] / max(bound, 1), 2) for o in ours
        ]
        return
    for name, key in (
        ("whole_job", "events_per_s_whole_job"),
        ("whole_job_cpu", "events_per_s_whole_job_cpu"),
        ("predict", "events_per_s_predict"),
        ("predict_cpu", "events_per_s_predict_cpu"),
    ):
        mine = "events_per_s_cpu" if name.endswith("cpu") else "events_per_s_wall"
        row[f"ours_all_cores_vs_splink_{name}"] = [
            round(o[mine] / max(splink[key], 1), 2) for o in ours
        ]


def _one_watchlist(
    args: argparse.Namespace,
    folder: Path,
    size: int,
    lines: int,
    *,
    progress: Progress,
    task: Any,
    row: dict[str, Any],
    save: Callable[[], object],
) -> None:
    """Run the watchlist's jobs into ``row``, saving the results after each (a long run cut
    short keeps what it measured)."""
    events = folder / "events.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        roster = _roster(folder, size, scratch)
        row["roster_people"] = size

        def step(name: str) -> None:
            save()
            progress.update(task, description=f"watchlist {size:,}: {name}")

        step(f"ours, one core and {args.workers} workers")
        one, every = _ours_round(roster, events, scratch, lines, args.workers)
        row["ours_one_core"], row["ours_all_cores"] = one, every
        progress.advance(task, 2)
        row["same_leads_one_and_all_cores"] = one["leads_sha256"] == every["leads_sha256"]
        row["all_cores_vs_one_wall"] = round(one["wall_s"] / every["wall_s"], 2)
        if not args.skip_original:
            step("original, one core")
            base = row["original_one_core"] = _original(
                roster, events, scratch / "base.jsonl", args.original
            )
            progress.advance(task)
            base["events_per_s_wall"] = _rate(lines, base["wall_s"])
            base["events_per_s_cpu"] = _rate(lines, base["cpu_s"])
            row["one_core_vs_original_wall"] = round(base["wall_s"] / one["wall_s"], 2)
            row["one_core_vs_original_cpu"] = round(base["cpu_s"] / one["cpu_s"], 2)
        if args.original_tree:
            step("original tree, one core")
            whole = row["original_tree_one_core"] = _original_tree(
                roster, events, scratch / "tree.jsonl", args.original_tree
            )
            progress.advance(task)
            whole["events_per_s_cpu"] = _rate(lines, whole["cpu_s"])
            row["one_core_vs_original_tree_cpu"] = round(whole["cpu_s"] / one["cpu_s"], 2)
        if not args.skip_splink:
            step(f"Splink, {args.workers} threads")
            row["splink_all_cores"] = _splink_row(args, events, roster, lines, scratch)
            progress.advance(task)
        for n in range(1, args.rounds):  # alternated with the first round and Splink
            step(f"ours, round {n + 1}")
            again = _ours_round(roster, events, scratch, lines, args.workers)
            for figures in again:
                figures["same_leads"] = figures["leads_sha256"] == one["leads_sha256"]
            more = {"ours_one_core": again[0], "ours_all_cores": again[1]}
            row.setdefault("ours_more_rounds", []).append(more)
            progress.advance(task, 2)
        if not args.skip_splink:
            _versus_splink(row)
    save()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=2_000_000)
    parser.add_argument("--watchlists", default="2000,100000")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--world", type=Path, help="a simulated world's folder to use instead")
    parser.add_argument("--original", default=ORIGINAL, help="the git ref of the original job")
    parser.add_argument(
        "--original-tree", type=Path, help="a checkout of the issue's baseline, run whole"
    )
    parser.add_argument("--splink-events", type=int, help="Splink on the first N lines only")
    parser.add_argument(
        "--splink-timeout", type=float, default=1500.0, help="seconds before Splink is stopped"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of ours (one core, every core), alternated"
    )
    parser.add_argument("--stage-events", type=int, default=100_000, help="lines for stages")
    parser.add_argument("--skip-stages", action="store_true", help="jobs only")
    parser.add_argument("--skip-original", action="store_true")
    parser.add_argument("--skip-splink", action="store_true")
    parser.add_argument("--output", default="reprocess.json", help="file in bench/results/")
    args = parser.parse_args(argv)
    sizes = sorted(int(x) for x in args.watchlists.split(","))
    folder = args.world or _world(args.people, max(sizes), args.events, args.seed)
    events = folder / "events.jsonl"
    with events.open("rb") as handle:
        lines = sum(1 for _ in handle)
    result: dict[str, Any] = {"events": lines, "world": folder.name, "environment": environment()}
    if not args.skip_stages:
        with tempfile.TemporaryDirectory() as tmp:
            smallest = _roster(folder, sizes[0], Path(tmp))
            # Held in memory stage by stage: the first lines only (the feed's mix is uniform).
            head = _head(events, args.stage_events, Path(tmp))
            result["stage_us_per_event_cpu"] = _stages(smallest, head)
            result["stage_events"] = min(lines, args.stage_events)
        print(f"reprocess bench: stages (CPU us an event) {result['stage_us_per_event_cpu']}")
        result["value_repeat_share"] = _repeats(events)
        print(f"reprocess bench: values seen in an earlier event {result['value_repeat_share']}")
    steps = 2 * args.rounds + (not args.skip_original) + bool(args.original_tree)
    steps += not args.skip_splink
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    ) as progress:  # fmt: skip
        task = progress.add_task("runs", total=steps * len(sizes))
        rows: list[dict[str, Any]] = []
        result["watchlists"] = rows
        for size in sizes:
            rows.append({})
            _one_watchlist(
                args, folder, size, lines, progress=progress, task=task, row=rows[-1],
                save=lambda: write_json(args.output, result),
            )  # fmt: skip
    path = write_json(args.output, result)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    print(f"reprocess bench: written to {path}")
    return result


if __name__ == "__main__":
    main()
