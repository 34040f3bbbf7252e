"""``tracer simulate --out DIR``: a synthetic roster, a day of feeds and the truth, as JSONL.

Writes ``DIR/roster.jsonl`` (RosterRecord lines), ``DIR/events.jsonl`` (hukou, bank and telecom
events mixed, ordered by ``occurred_at``, with a few malformed lines for the dead-letter path) and
``DIR/truth.jsonl`` (which event is about which roster person and how it was damaged; see
:mod:`simulator.truth`). Only invented people. The same seed gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from matchers.errors import TracerError
from simulator import SimulatedWorld, SimulationConfig, build_world

__all__ = ["simulate", "write_world"]

_console = Console(stderr=True, highlight=False)


class SimulateError(TracerError):
    """The simulation cannot run with these arguments or cannot write its files."""


def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the three files into.")],
    *,
    people: Annotated[
        int, typer.Option(help="Population size (roster and feeds draw from it).")
    ] = 50_000,
    watchlist: Annotated[int, typer.Option(help="Roster size.")] = 2_000,
    events: Annotated[int, typer.Option(help="Feed lines for the day.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same files.")] = 0,
    hard_decoys: Annotated[
        bool,
        typer.Option(
            "--hard-decoys",
            help="Add hard decoys (namesakes with the same birth date, recycled phones, ...).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Write a synthetic roster, a day of messy feed events and the truth about them."""
    try:
        config = SimulationConfig(
            people=people, watchlist=watchlist, events=events, seed=seed, hard_decoys=hard_decoys
        )
    except ValueError as exc:
        raise SimulateError(str(exc)) from exc
    with _progress(quiet) as bar:
        tasks = {
            "people": bar.add_task("people", total=people),
            "watchlist": bar.add_task("roster", total=watchlist),
            "events": bar.add_task("events", total=events),
        }
        world = build_world(config, progress=lambda phase, n: bar.advance(tasks[phase], n))
        write_world(world, out, bar=bar)
    matches = sum(1 for t in world.truth if t["kind"] == "match")
    malformed = len(world.truth) - matches
    _console.print(
        f"[green]wrote[/] {out}: {watchlist:,} roster people, {len(world.events):,} events "
        f"({matches:,} about roster people, {malformed:,} malformed), seed {seed}"
    )


def write_world(world: SimulatedWorld, out: Path, *, bar: Progress | None = None) -> None:
    """Write ``roster.jsonl``, ``events.jsonl`` and ``truth.jsonl`` into ``out``.

    Raises:
        SimulateError: the folder or a file cannot be written.
    """
    task: TaskID | None = None
    if bar is not None:
        total = len(world.watchlist) + len(world.events) + len(world.truth)
        task = bar.add_task("writing", total=total)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, lines in (
            ("roster.jsonl", map(_line, world.roster)),
            ("events.jsonl", (_line(e.payload) for e in world.events)),
            ("truth.jsonl", map(_line, world.truth)),
        ):
            with (out / name).open("wb") as handle:
                for chunk in _chunks(lines, 5_000):
                    handle.write(b"".join(chunk))
                    if bar is not None and task is not None:
                        bar.advance(task, len(chunk))
    except OSError as exc:
        raise SimulateError(f"{out}: cannot write ({exc.strerror or exc})") from exc


def _line(record: dict[str, Any] | str) -> bytes:
    # Malformed feed lines are raw text on purpose; everything else is one JSON object.
    if isinstance(record, str):
        return record.encode() + b"\n"
    return orjson.dumps(record) + b"\n"


def _chunks(lines: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _RateColumn(ProgressColumn):
    """Records per second, the figure that says whether 100k events take seconds or minutes."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="cyan")


def _progress(quiet: bool) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console,
        disable=quiet,
        transient=False,
    )
