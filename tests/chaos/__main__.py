"""``python -m tests.chaos`` (``make chaos``): the fault runs on a private local stack.

See :mod:`tests.chaos` for what runs and what the table means. Exit 0 when every row has no
lead missing and none duplicated, 1 otherwise, 2 when the stack could not be started.
"""

from __future__ import annotations

import random
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, get_args

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from connectors.errors import StackError
from tests.chaos.faults import Context, Sizes, run_fault
from tests.chaos.report import table, write
from tests.chaos.stack import DEFAULT_STACK_DIR, PrivateStack, private_settings
from tests.chaos.tally import FaultName, Row
from tracer.settings import TracerSettings

with warnings.catch_warnings():  # kafka-python warns once on import
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka  # noqa: F401

ALL: tuple[FaultName, ...] = ("kill", "kafka", "elasticsearch", "two-workers", "hostile")
_REPO = Path(__file__).resolve().parents[2]

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _faults(names: str) -> list[FaultName]:
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in get_args(FaultName) or name == "smoke"]
    if unknown:
        raise typer.BadParameter(
            f"unknown fault {', '.join(unknown)}; choose from {', '.join(ALL)}"
        )
    return [name for name in ALL if name in chosen]


@app.command()
def main(
    *,
    faults: Annotated[str, typer.Option(help="Comma-separated faults to run.")] = ",".join(ALL),
    events: Annotated[int, typer.Option(help="Events of every fault but hostile.")] = 25_000,
    hostile_events: Annotated[int, typer.Option(help="Valid events of the hostile run.")] = 100_000,
    hostile_copies: Annotated[int, typer.Option(help="Copies of each hostile message.")] = 3,
    kill_runs: Annotated[int, typer.Option(help="SIGKILLs of the kill fault.")] = 5,
    feed_seconds: Annotated[float, typer.Option(help="Seconds the events are spread over.")] = 60.0,
    kafka_down: Annotated[float, typer.Option(help="Seconds Kafka stays stopped.")] = 20.0,
    es_down: Annotated[float, typer.Option(help="Seconds Elasticsearch stays stopped.")] = 60.0,
    seed: Annotated[int, typer.Option(help="Seed of the data and of the kill points.")] = 7,
    out: Annotated[Path, typer.Option(help="Where the table and each run's files go.")] = _REPO
    / "out"
    / "chaos",
    stack_dir: Annotated[
        Path, typer.Option(help="The private stack's folder.")
    ] = DEFAULT_STACK_DIR,
    kafka_port: Annotated[int, typer.Option(help="The private Kafka's port.")] = 19092,
    es_port: Annotated[int, typer.Option(help="The private Elasticsearch's port.")] = 19200,
    seed_from: Annotated[
        Path | None, typer.Option(help="A stack folder whose fetched jars and zip to share.")
    ] = None,
    keep_stack: Annotated[bool, typer.Option(help="Leave the private stack running.")] = False,
    keep_data: Annotated[bool, typer.Option(help="Keep each run's topics and index.")] = False,
) -> None:
    """Break things on a private stack and count the leads lost and duplicated."""
    chosen = _faults(faults)
    sizes = Sizes(
        events=events,
        hostile_events=hostile_events,
        hostile_copies=hostile_copies,
        kill_runs=kill_runs,
        feed_seconds=feed_seconds,
        kafka_down_s=kafka_down,
        elasticsearch_down_s=es_down,
        seed=seed,
    )
    # Piped (make, CI logs) rich assumes 80 columns: too narrow for the table.
    console = Console(width=None if sys.stdout.isatty() else 160)
    settings = private_settings(stack_dir, kafka_port=kafka_port, elasticsearch_port=es_port)
    stack = PrivateStack(settings, seed=seed_from or TracerSettings().stack_dir)
    began = time.monotonic()
    try:
        with console.status("chaos: starting the private stack") as status:

            def say(message: str) -> None:
                status.update(message)
                console.log(message, highlight=False)

            stack.up(say)
    except StackError as exc:
        console.print(f"[red]chaos: the private stack did not start: {exc}")
        raise typer.Exit(code=2) from exc
    try:
        rows = _run_all(
            settings=settings, stack=stack, chosen=chosen, sizes=sizes, out=out,
            console=console, keep=keep_data,
        )  # fmt: skip
    finally:
        if not keep_stack:
            stack.down(lambda m: console.log(m, highlight=False))
    console.print(table(rows))
    paths = write(rows, out, sizes=asdict(sizes) | {"faults": list(chosen)})
    console.print(f"written {paths[0]} and {paths[1]} ({time.monotonic() - began:.0f} s in all)")
    raise typer.Exit(code=0 if all(row.passed for row in rows) else 1)


def _run_all(
    *,
    settings: TracerSettings,
    stack: PrivateStack,
    chosen: list[FaultName],
    sizes: Sizes,
    out: Path,
    console: Console,
    keep: bool,
) -> list[Row]:
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    rows = []
    with Progress(*columns, console=console) as progress:
        ctx = Context(
            base=settings,
            out=out,
            sizes=sizes,
            console=console,
            progress=progress,
            stack=stack,
            keep=keep,
            rng=random.Random(sizes.seed),
        )
        for fault in chosen:
            row = run_fault(ctx, fault)
            rows.append(row)
            verdict = "passed" if row.passed else "FAILED"
            ctx.say(f"[{fault}] {verdict}: {row.comparison}")
    return rows


if __name__ == "__main__":
    app()
