"""``tracer produce --roster R.jsonl --events E.jsonl``: publish JSONL exports onto the topics.

Roster lines go to ``supervision.roster`` keyed by ``person_id``; each event goes to
``feeds.<source>`` keyed by ``event_id``. A line that is not a JSON object is still published,
raw, to the feed its file maps to (``feeds.hukou`` when it names no source), so the worker
dead-letters it with its reason: nothing is dropped on the way in.

A line that cannot be published is a *reject*, never a traceback: a roster line without a
``person_id`` (the compacted topic refuses records without a key), a line over
``produce_max_line_bytes`` (the broker's limit; such a line is never read whole: only a prefix
is kept, while its size and sha256 are counted in bounded chunks by
:func:`connectors.files.read_lines`, the reader ``tracer reprocess`` uses too; a UTF-8
byte-order mark at a file's start is dropped), or anything else Kafka
refuses for good. Each reject is one JSON line in the rejects file (``--rejects``; by default
``<input>.rejects.jsonl`` beside each input, mode 0600, rewritten by each run): file, line
number, reason, size, sha256 and a bounded prefix. The rest of the file is published.

The exit status is non-zero only when nothing could be published, or Kafka went away (then
the run stops at once and says from which line to start again).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any, Final

import orjson
import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from connectors.errors import ConnectorError, InputFileError, ServiceUnavailable
from connectors.files import PREFIX_BYTES, Line, open_private, read_lines
from connectors.kafka import (
    PublishRefusal,
    Route,
    kafka_producer,
    refusal_of,
    route_event_line,
    route_roster_line,
)
from contract import topic_name
from tracer.settings import TracerSettings, load_settings

__all__ = [
    "PREFIX_BYTES",
    "Line",
    "ProduceReport",
    "RejectLog",
    "produce",
    "produce_files",
    "read_lines",
]

#: How long the last flush may wait for Kafka before the run is called failed.
_FLUSH_TIMEOUT_S: Final = 60.0


class RejectLog:
    """The rejects files: one JSON line a reject, mode 0600, opened on the first reject.

    Callable from kafka-python's sender thread (delivery failures) and the main thread alike.

    Args:
        path: One file for every input, or ``None`` for ``<input>.rejects.jsonl`` beside each.
    """

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._files: dict[Path, IO[bytes]] = {}
        self._lock = threading.Lock()
        self.by_reason: Counter[PublishRefusal] = Counter()

    def target(self, source: Path) -> Path:
        """Where the rejects of ``source`` go."""
        return self._path or source.with_name(source.name + ".rejects.jsonl")

    def add(self, source: Path, line: Line, reason: PublishRefusal) -> None:
        """Write one reject (prefix and hash only: the line itself may be huge)."""
        record = {
            "file": str(source),
            "line": line.number,
            "reason": reason,
            "size": line.size,
            "sha256": line.digest(),
            "prefix": line.prefix.decode("utf-8", errors="replace"),
        }
        with self._lock:
            self._open(self.target(source)).write(orjson.dumps(record) + b"\n")
            self.by_reason[reason] += 1

    def _open(self, path: Path) -> IO[bytes]:
        if path not in self._files:
            self._files[path] = open_private(path)
        return self._files[path]

    def close(self) -> None:
        """Close every rejects file."""
        with self._lock:
            for handle in self._files.values():
                handle.close()

    @property
    def paths(self) -> list[Path]:
        """The rejects files written so far."""
        return sorted(self._files)


@dataclass
class ProduceReport:
    """What was published (per topic), what was rejected (per reason) and how long it took."""

    per_topic: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    rejects_files: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """Messages published (acknowledged by Kafka)."""
        return sum(self.per_topic.values())

    @property
    def failed(self) -> int:
        """Lines rejected."""
        return sum(self.rejected.values())


class _KafkaAway(Exception):
    """Kafka stopped answering mid-run (a delivery came back ``unavailable``)."""


@dataclass
class _Publisher:
    """Sends lines and books each delivery as published or rejected."""

    producer: Any
    prefix: str
    rejects: RejectLog
    report: ProduceReport
    away: threading.Event = field(default_factory=threading.Event)

    def publish(self, source: Path, line: Line, route: Route) -> None:
        if line.data is None:
            self.rejects.add(source, line, "too_large")
        elif route.key is None and route.topic == "supervision.roster":
            self.rejects.add(source, line, "no_key")
        else:
            self._send(source, line, route)

    def _send(self, source: Path, line: Line, route: Route) -> None:
        topic = topic_name(route.topic, prefix=self.prefix)
        try:
            future = self.producer.send(topic, key=route.key, value=line.data)
        except Exception as exc:  # refused before it left: too large, no metadata in time
            self._failed(source, line, exc)
            return
        future.add_callback(lambda _meta: self._published(route.topic))
        future.add_errback(lambda exc: self._failed(source, line, exc))

    def _published(self, topic: str) -> None:
        self.report.per_topic[topic] += 1  # only the sender thread counts; read after close

    def _failed(self, source: Path, line: Line, exc: BaseException) -> None:
        reason = refusal_of(exc)
        self.rejects.add(source, line, reason)
        if reason == "unavailable":
            self.away.set()


def produce_files(
    settings: TracerSettings,
    *,
    roster: Path | None,
    events: Path | None,
    rejects: Path | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ProduceReport:
    """Publish the roster first (the worker waits for it), then the events; flush; report.

    Raises:
        InputFileError: a file is missing or unreadable.
        ConnectionRefused: nothing listens at Kafka's address.
        ServiceUnavailable: Kafka did not answer, or went away mid-run (which line to resume).
        ConnectorError: nothing at all could be published.
    """
    report = ProduceReport()
    log = RejectLog(rejects)
    max_bytes = settings.produce_max_line_bytes
    producer = kafka_producer(
        settings, client_id="tracer-produce", max_request_bytes=max_bytes + 4096
    )
    publisher = _Publisher(producer, settings.topic_prefix, log, report)
    jobs: list[tuple[Path, Callable[[bytes], Route]]] = []
    if roster is not None:
        jobs.append((roster, route_roster_line))
    if events is not None:
        jobs.append((events, route_event_line))
    started = time.perf_counter()
    try:
        _publish_all(publisher, jobs, max_bytes=max_bytes, on_progress=on_progress)
    finally:
        # Kafka away: what is still in flight would only wait out its retries.
        producer.close(timeout=5.0 if publisher.away.is_set() else _FLUSH_TIMEOUT_S)
        log.close()
        report.seconds = time.perf_counter() - started
        report.rejected.update(log.by_reason)
        report.rejects_files = log.paths
    if report.total == 0 and report.failed:
        raise ConnectorError(f"nothing published: {_rejects_summary(report)}")
    return report


def _publish_all(
    publisher: _Publisher,
    jobs: list[tuple[Path, Callable[[bytes], Route]]],
    *,
    max_bytes: int,
    on_progress: Callable[[int], None] | None,
) -> None:
    done = 0
    for path, route in jobs:
        for line in _open_lines(path, max_bytes):
            if publisher.away.is_set():
                raise ServiceUnavailable(
                    f"Kafka stopped answering: {path} not published from line {line.number} "
                    f"on (rejects so far: {_rejects_summary(publisher.report, publisher.rejects)})"
                )
            publisher.publish(path, line, route(line.data or b""))
            if on_progress is not None:
                on_progress(done + line.end)
        done += path.stat().st_size
        publisher.producer.flush(timeout=_FLUSH_TIMEOUT_S)
        if publisher.away.is_set():
            raise ServiceUnavailable(f"Kafka stopped answering while {path} was published")


def _open_lines(path: Path, max_bytes: int) -> Iterator[Line]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputFileError(f"{path}: {exc.strerror or exc}") from exc
    with handle:
        yield from read_lines(handle, max_bytes=max_bytes)


def _rejects_summary(report: ProduceReport, log: RejectLog | None = None) -> str:
    counts = log.by_reason if log is not None else report.rejected
    if not counts:
        return "none rejected"
    return ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))


def produce(
    roster: Annotated[
        Path | None, typer.Option(help="Roster JSONL (one RosterRecord per line).")
    ] = None,
    events: Annotated[Path | None, typer.Option(help="Events JSONL (hukou/bank/telecom).")] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Where rejected lines are described (default: <input>.rejects.jsonl)."),
    ] = None,
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
            rejects=rejects,
            on_progress=lambda n: progress.update(task, completed=n),
        )
    rate = report.total / report.seconds if report.seconds else 0.0
    typer.echo(
        f"published {report.total} messages in {report.seconds:.1f}s ({rate:,.0f}/s) "
        f"to {settings.kafka_bootstrap}"
    )
    for topic, count in sorted(report.per_topic.items()):
        typer.echo(f"  {topic_name(topic, prefix=settings.topic_prefix)}: {count}")  # type: ignore[arg-type]
    if report.failed:
        typer.echo(f"rejected {report.failed} lines: {_rejects_summary(report)}")
        for path in report.rejects_files:
            typer.echo(f"  rejects: {path}")
