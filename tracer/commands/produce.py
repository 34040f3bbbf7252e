"""``tracer produce --roster R.jsonl --events E.jsonl``: publish JSONL exports onto the topics.

Roster lines go to ``supervision.roster`` keyed by ``person_id``; each event goes to
``feeds.<source>`` keyed by ``event_id``. A line that is not a JSON object is still published,
raw, to the feed its file maps to (``feeds.hukou`` when it names no source), so the worker
dead-letters it with its reason: nothing is dropped on the way in.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from connectors.errors import ConnectorError, InputFileError
from connectors.kafka import Route, kafka_producer, route_event_line, route_roster_line
from connectors.topics import topic_name
from tracer.settings import TracerSettings, load_settings

__all__ = ["ProduceReport", "produce", "produce_files"]


@dataclass
class ProduceReport:
    """What was published: messages per topic, failures, and how long it took."""

    per_topic: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Messages published."""
        return sum(self.per_topic.values())


def _lines(path: Path) -> Iterator[tuple[bytes, int]]:
    """Yield (line without its break, byte offset after it) for every non-blank line."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputFileError(f"{path}: {exc.strerror or exc}") from exc
    with handle:
        end = 0
        for line in handle:
            end += len(line)
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                yield raw, end


def produce_files(
    settings: TracerSettings,
    *,
    roster: Path | None,
    events: Path | None,
    on_progress: Callable[[int], None] | None = None,
) -> ProduceReport:
    """Publish the roster first (the worker waits for it), then the events; flush; report.

    Raises:
        InputFileError: a file is missing or unreadable.
        ConnectorError: Kafka refused some messages.
    """
    report = ProduceReport()
    producer = kafka_producer(settings.kafka_bootstrap, client_id="tracer-produce")
    started = time.perf_counter()

    def failed(_exc: Any) -> None:
        report.failed += 1

    jobs: list[tuple[Path, Callable[[bytes], Route]]] = []
    if roster is not None:
        jobs.append((roster, route_roster_line))
    if events is not None:
        jobs.append((events, route_event_line))
    done = 0
    try:
        for path, route in jobs:
            for raw, end in _lines(path):
                target = route(raw)
                name = topic_name(target.topic, prefix=settings.topic_prefix)  # type: ignore[arg-type]
                producer.send(name, key=target.key, value=raw).add_errback(failed)
                report.per_topic[target.topic] += 1
                if on_progress is not None:
                    on_progress(done + end)
            done += path.stat().st_size
            producer.flush()
    finally:
        producer.close()
    report.seconds = time.perf_counter() - started
    if report.failed:
        raise ConnectorError(f"Kafka refused {report.failed} of {report.total} messages")
    return report


def produce(
    roster: Annotated[
        Path | None, typer.Option(help="Roster JSONL (one RosterRecord per line).")
    ] = None,
    events: Annotated[Path | None, typer.Option(help="Events JSONL (hukou/bank/telecom).")] = None,
) -> None:
    """Publish a roster and/or events export onto the Kafka topics."""
    if roster is None and events is None:
        raise typer.BadParameter("give --roster, --events or both")
    for path in (roster, events):
        if path is not None and not path.is_file():
            raise InputFileError(f"{path}: no such file")
    settings = load_settings()
    total = sum(p.stat().st_size for p in (roster, events) if p is not None) or 1
    columns = (TextColumn("produce"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as progress:
        task = progress.add_task("produce", total=total)
        report = produce_files(
            settings,
            roster=roster,
            events=events,
            on_progress=lambda n: progress.update(task, completed=n),
        )
    rate = report.total / report.seconds if report.seconds else 0.0
    typer.echo(
        f"published {report.total} messages in {report.seconds:.1f}s ({rate:,.0f}/s) "
        f"to {settings.kafka_bootstrap}"
    )
    for topic, count in sorted(report.per_topic.items()):
        typer.echo(f"  {topic_name(topic, prefix=settings.topic_prefix)}: {count}")  # type: ignore[arg-type]
