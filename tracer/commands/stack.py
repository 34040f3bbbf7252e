"""``tracer stack up | down | status | init``: the local single-node Kafka and Elasticsearch."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Start, stop and inspect the local Kafka and Elasticsearch.", no_args_is_help=True
)


@app.command()
def status() -> None:
    """Report what runs (work in progress)."""
    typer.echo("stack: not implemented yet")
    raise typer.Exit(code=1)
