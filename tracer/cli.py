"""The ``tracer`` command: one entry point, sub-commands registered from ``tracer.commands``.

Errors of our own (``TracerError``) and bad arguments end in one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from typer.exceptions import TyperException

from connectors.endpoints import ConnectionRefused
from matchers.errors import TracerError
from tracer.commands import (
    kibana,
    reprocess,
    retention,
    roles,
    simulate,
    stack,
    subscriptions,
    train,
    users,
)
from tracer.commands.audit import audit
from tracer.commands.demo import demo
from tracer.commands.produce import produce
from tracer.commands.serve import serve
from tracer.commands.worker import worker

__all__ = ["app", "main"]

app = typer.Typer(
    name="tracer",
    help="Leads for people who dropped out of supervision, from Kafka feeds to Elasticsearch.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(stack.app, name="stack")
app.add_typer(kibana.app, name="kibana")
app.add_typer(roles.app, name="roles")
app.add_typer(retention.app, name="retention")
app.add_typer(subscriptions.app, name="subscriptions")
app.command("reprocess")(reprocess.reprocess)
app.command("train")(train.train)
app.command("simulate")(simulate.simulate)
app.command()(worker)
app.command()(produce)
app.command()(demo)
app.command()(serve)
app.add_typer(users.app, name="users")
app.command()(audit)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and translate every expected failure into one line and an exit code."""
    try:
        result = app(args=argv, standalone_mode=False)
    except TyperException as exc:  # bad arguments: usage errors carry exit code 2
        _fail(exc.format_message().replace("\n", " "), code=exc.exit_code)
    except typer.Abort:
        _fail("aborted", code=130)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except ConnectionRefused as exc:
        _fail(f"{exc}; {_START_HINT[exc.service]}", code=1)
    except TracerError as exc:
        _fail(str(exc), code=1)
    return int(result) if isinstance(result, int) else 0


# What to do when nothing listens where a service is configured.
_START_HINT = {
    "Kafka": "start the local stack with `tracer stack up`, or set TRACER_KAFKA_BOOTSTRAP "
    "to a running broker",
    "Elasticsearch": "start the local stack with `tracer stack up`, or set "
    "TRACER_ELASTICSEARCH_URL to a running node",
}


def _fail(message: str, *, code: int) -> None:
    print(f"tracer: error: {message}", file=sys.stderr)
    raise SystemExit(code)


if __name__ == "__main__":
    raise SystemExit(main())
