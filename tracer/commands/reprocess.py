"""``tracer reprocess``: history through today's watchlist and model, as a resumable job.

    tracer reprocess --roster R.jsonl --events E.jsonl [--events E2.jsonl.gz ...] --out LEADS.jsonl
    tracer reprocess --roster-topic --since 2026-12-01T00:00:00+08:00 [--until T] --out LEADS.jsonl

Events come from JSONL files (plain or gzip, a byte-order mark accepted) or from the feed topics
over a time range (a consumer without a group: the live worker's group is never touched); the
roster from a file or the whole roster topic. The same :class:`matchers.watchlist.matcher.Matcher`
as the worker matches them, so the scores are the same; every lead carries the run's ``run_id``.
Leads are written in input order (the same order whatever ``--workers``); lines that cannot be
used go to the rejects file (``<out>.deadletter.jsonl``, mode 0600) with their line number (or
partition offset) and reason. A checkpoint (``<out>.checkpoint.json``) is written every
``--checkpoint-every`` events; ``--resume`` continues an interrupted run from it.

The stream's rules hold (docs/design.md, "Duplicates and late drop-outs"): the first event in
input order that makes a lead id writes it, a later one with the same content is a redelivery,
with other content a ``conflicting_duplicate`` reject; an event from before a person's trace
began makes no lead (counted, left to retro-matching).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from batch.checkpoint import load_checkpoint
from batch.job import Interrupted, Job, JobState, Tally
from batch.matching import ChunkMatcher, MatchPool, order_dependent
from batch.rejects import DiscardedRejects, Rejects, RejectsFile
from batch.sinks import ElasticsearchLeadSink, JsonlLeadSink, LeadSink
from batch.sources import (
    FileSource,
    KafkaSource,
    RosterCounts,
    Source,
    load_roster_file,
    load_roster_topic,
)
from connectors.clients import elasticsearch_client, retried_elasticsearch_client
from connectors.errors import InputFileError, ServiceUnavailable
from connectors.feed_history import FeedHistory, PartitionRange
from connectors.lead_index import ensure_lead_index
from connectors.lead_store import LeadStore
from connectors.retry import Retrier, RetryPolicy
from contract import FEED_TOPICS, topic_name
from matchers.errors import TracerError
from matchers.records import occurred_at_limit
from matchers.scoring.modelfile import default_model, load_model
from matchers.watchlist.matcher import Matcher
from tracer.settings import TracerSettings, load_settings

__all__ = ["reprocess"]

#: A lead store's requests give up after this long without an answer (then the job stops with
#: one line; its checkpoint is kept and ``--resume`` continues).
_STORE_DEADLINE_S = 120.0


class _Usage(TracerError):
    """A combination of options that cannot run."""


def reprocess(  # noqa: PLR0917 -- typer passes options by name
    roster: Annotated[
        Path | None, typer.Option(help="Roster JSONL (RosterRecord per line).")
    ] = None,
    events: Annotated[
        list[Path] | None, typer.Option(help="Events JSONL, plain or gzip; repeat for several.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write the leads JSONL.")] = None,
    model: Annotated[
        Path | None, typer.Option(help="Model file (default: TRACER_MODEL_PATH or shipped).")
    ] = None,
    roster_topic: Annotated[
        bool, typer.Option(help="Read the roster from the roster topic instead of a file.")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="Read the feed topics from this time (ISO-8601 + offset).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="... up to this time, excluded (default: their end now).")
    ] = None,
    elasticsearch: Annotated[
        bool, typer.Option(help="Also refresh the leads in Elasticsearch (machine fields).")
    ] = False,
    run_id: Annotated[
        str | None, typer.Option(help="This run's id (default: a new uuid4).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted run from its checkpoint.")
    ] = False,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint file (default: <out>.checkpoint.json).")
    ] = None,
    checkpoint_every: Annotated[
        int, typer.Option(min=1, help="Events between checkpoints.")
    ] = 50_000,
    rejects: Annotated[
        Path | None, typer.Option(help="Rejects file (default: <out>.deadletter.jsonl).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Matching processes (default: every core).")
    ] = None,
    chunk_lines: Annotated[int, typer.Option(min=1, help="Lines per chunk of work.")] = 2000,
) -> None:
    """Match history (files or the feed topics' time range) and write every lead."""
    settings = load_settings()
    if isinstance(events, Path):  # called from Python with one file, as before
        events = [events]
    plan = _Plan.check(
        roster=roster,
        events=events or [],
        out=out,
        roster_topic=roster_topic,
        since=since,
        until=until,
        elasticsearch=elasticsearch,
    )
    started = time.perf_counter()
    chosen = model or settings.model_path
    match_model = load_model(chosen) if chosen else default_model()
    assert out is not None  # _Plan.check: Elasticsearch alone is refused
    if elasticsearch:  # before any matching: an unreachable service is one line at once
        _prepare_elasticsearch(settings)
    checkpoint_path = checkpoint or out.with_name(out.name + ".checkpoint.json")
    rejects_path = rejects or out.with_name(out.name + ".deadletter.jsonl")
    inputs = plan.inputs(settings, match_model.version, out)
    state = _state(resume, checkpoint_path, inputs, run_id, out)
    sizes = state.checkpoint.sizes
    reject_file = RejectsFile(rejects_path, keep=sizes.get("rejects", 0))
    try:
        # The trace window the stream and retro-matching use too (matchers.leads.before_trace).
        matcher = Matcher(match_model, trace_lookback=timedelta(days=settings.retro_days))
        # A resumed job's roster rejects are in the file already (kept up to the checkpoint).
        roster_rejects = DiscardedRejects() if resume else reject_file
        roster_counts = plan.load_roster(matcher, settings, roster_rejects)
        matcher.freeze()  # the watchlist lives until the end: out of the cyclic GC's reach
        source, history = plan.source(settings, state, chunk_lines)
        try:
            tally, written = _run(
                matcher,
                source=source,
                state=state,
                settings=settings,
                reject_file=reject_file,
                out=out,
                checkpoint_path=checkpoint_path,
                checkpoint_every=checkpoint_every,
                workers=workers,
                elasticsearch=elasticsearch,
                version=match_model.version,
            )
        finally:
            if history is not None:
                history.close()
    finally:
        reject_file.close()
    _summary(
        tally,
        written=written,
        roster=roster_counts,
        run_id=state.checkpoint.run_id,
        out=out,
        version=match_model.version,
        seconds=time.perf_counter() - started,
    )


def _run(
    matcher: Matcher,
    *,
    source: Source,
    state: JobState,
    settings: TracerSettings,
    reject_file: RejectsFile,
    out: Path,
    checkpoint_path: Path,
    checkpoint_every: int,
    workers: int | None,
    elasticsearch: bool,
    version: str,
) -> tuple[Tally, dict[str, dict[str, int]]]:
    """Match the source into the sinks; return the counts and each sink's own counts."""
    clock = datetime.fromisoformat(state.checkpoint.inputs["clock"])
    chunk_matcher = ChunkMatcher(
        matcher,
        not_after=occurred_at_limit(clock, timedelta(seconds=settings.event_future_margin_s)),
        run_id=state.checkpoint.run_id,
        max_event_bytes=settings.max_event_bytes,
    )
    count = workers or os.cpu_count() or 1
    if count > 1 and order_dependent(matcher):
        typer.echo("reprocess: the model counts names over events: matching on one core", err=True)
        count = 1
    # Fork before any thread starts (the progress bar's): the workers inherit the watchlist.
    pool = MatchPool(chunk_matcher, workers=count)
    sinks: dict[str, LeadSink] = {
        "leads": JsonlLeadSink(out, keep=state.checkpoint.sizes.get("leads", 0))
    }
    if elasticsearch:
        sinks["elasticsearch"] = _elasticsearch_sink(settings, state, out, version)
    job = Job(
        source,
        pool,
        sinks=sinks,
        rejects=reject_file,
        state=state,
        checkpoint_path=checkpoint_path,
        checkpoint_every=checkpoint_every,
        max_event_bytes=settings.max_event_bytes,
    )
    try:
        with _progress() as progress:
            task = progress.add_task("events", total=source.total, rate="")
            begun, first = time.perf_counter(), state.tally.read

            def update(done: int) -> None:
                rate = (job.tally.read - first) / max(time.perf_counter() - begun, 1e-9)
                progress.update(task, completed=done, rate=f"{rate:,.0f} events/s")

            tally = job.run(on_progress=update)
    except Interrupted as exc:
        _say_interrupted(exc, checkpoint_path)
        raise typer.Exit(130) from exc
    except ServiceUnavailable as exc:  # Kafka went away mid-run, after its own retries
        raise ServiceUnavailable(
            f"{exc}; the work up to the last checkpoint ({checkpoint_path}) is kept: "
            "run the same command with --resume"
        ) from exc
    finally:
        pool.close(abort=True)
        # Only a complete run may mark what it did not find (Elasticsearch's superseded).
        written = {name: sink.close(complete=job.done) for name, sink in sinks.items()}
    return tally, written


def _prepare_elasticsearch(settings: TracerSettings) -> None:
    """Put the leads template and alias in place (idempotent); one line if it cannot.

    Raises:
        ServiceUnavailable: Elasticsearch does not answer.
        StackError: it refused the template or the alias.
    """
    client = elasticsearch_client(
        settings,
        request_timeout=10,
        max_retries=0,  # one clear line now rather than a long wait
    )
    try:
        ensure_lead_index(client, settings.leads_alias)
    finally:
        client.close()


def _elasticsearch_sink(
    settings: TracerSettings, state: JobState, out: Path, version: str
) -> ElasticsearchLeadSink:
    """The sink writing through the lead store, resumed from the checkpoint's counts."""
    client = retried_elasticsearch_client(settings)
    retrier = Retrier(RetryPolicy(deadline_s=_STORE_DEADLINE_S))
    checkpoint = state.checkpoint
    return ElasticsearchLeadSink(
        LeadStore(client, settings.leads_alias, retrier=retrier),
        run_id=checkpoint.run_id,
        model_version=version,
        produced=state.seen,
        scope_path=out.with_name(out.name + ".scope.jsonl"),
        keep=checkpoint.sizes.get("elasticsearch", 0),
        counts=checkpoint.sinks.get("elasticsearch"),
    )


def _say_interrupted(exc: Interrupted, checkpoint_path: Path) -> None:
    typer.echo(
        f"tracer: interrupted after {exc.read} lines; checkpoint {checkpoint_path}: "
        "run the same command with --resume to continue",
        err=True,
    )


def _state(
    resume: bool, path: Path, inputs: dict[str, Any], run_id: str | None, out: Path
) -> JobState:
    if not resume:
        inputs["clock"] = datetime.now(UTC).isoformat()
        return JobState.fresh(run_id or str(uuid.uuid4()), inputs)
    saved = load_checkpoint(path)
    if saved.done:
        raise InputFileError(f"{path}: that run is complete; nothing to resume")
    kept = {k: v for k, v in saved.inputs.items() if k not in ("clock", "ranges")}
    if kept != {k: v for k, v in inputs.items() if k != "ranges"}:
        raise InputFileError(
            f"{path}: the checkpoint is of another job (inputs, model or output differ)"
        )
    if run_id is not None and run_id != saved.run_id:
        raise InputFileError(f"{path}: the checkpoint is of run {saved.run_id}, not {run_id}")
    return JobState.resumed(saved, out)


class _Plan:
    """Which inputs the options name, checked before anything is opened."""

    def __init__(
        self,
        roster: Path | None,
        events: list[Path],
        since_ms: int | None,
        until_ms: int | None,
        *,
        from_kafka: bool,
        elasticsearch: bool,
    ) -> None:
        self.elasticsearch = elasticsearch
        self.roster = roster
        self.events = events
        self.since_ms = since_ms
        self.until_ms = until_ms
        self.from_kafka = from_kafka

    @classmethod
    def check(
        cls,
        *,
        roster: Path | None,
        events: list[Path],
        out: Path | None,
        roster_topic: bool,
        since: str | None,
        until: str | None,
        elasticsearch: bool,
    ) -> _Plan:
        """Refuse, in one line, options that cannot run together or files that are not there."""
        if out is None:  # with --elasticsearch too: the resume reads the lead ids back from it
            raise _Usage("give --out LEADS.jsonl")
        if (roster is None) == (not roster_topic):
            raise _Usage("give --roster FILE or --roster-topic (one of them)")
        from_kafka = since is not None or until is not None
        if from_kafka == bool(events):
            raise _Usage("give --events FILE... or --since/--until (one of them)")
        for path in [*([roster] if roster else []), *events]:
            if path.is_dir():
                raise InputFileError(f"{path}: is a directory, not a JSONL file")
            if not path.is_file():
                raise InputFileError(f"{path}: no such file")
        return cls(
            roster,
            events,
            _epoch_ms(since, "--since"),
            _epoch_ms(until, "--until"),
            from_kafka=from_kafka,
            elasticsearch=elasticsearch,
        )

    def inputs(self, settings: TracerSettings, model_version: str, out: Path) -> dict[str, Any]:
        """What a checkpoint records of the job's inputs (a resume must name the same)."""
        roster: dict[str, Any] = (
            {"topic": topic_name("supervision.roster", prefix=settings.topic_prefix)}
            if self.roster is None
            else {"path": str(self.roster.resolve()), "size": self.roster.stat().st_size}
        )
        described: dict[str, Any] = {
            "roster": roster,
            "model": model_version,
            "out": str(out.resolve()),
        }
        if self.elasticsearch:  # a resume must write where the run began
            described["elasticsearch"] = {
                "url": settings.elasticsearch_url,
                "alias": settings.leads_alias,
            }
        if self.from_kafka:
            return described | {
                "topics": self._topics(settings),
                "since_ms": self.since_ms,
                "until_ms": self.until_ms,
            }
        files = [{"path": str(p.resolve()), "size": p.stat().st_size} for p in self.events]
        return described | {"events": files}

    @staticmethod
    def _topics(settings: TracerSettings) -> list[str]:
        return [topic_name(t, prefix=settings.topic_prefix) for t in FEED_TOPICS]

    def load_roster(
        self, matcher: Matcher, settings: TracerSettings, rejects: Rejects
    ) -> RosterCounts:
        """Apply the roster (file or topic) to the matcher."""
        if self.roster is not None:
            return load_roster_file(
                matcher, self.roster, max_bytes=settings.max_roster_bytes, rejects=rejects
            )
        history = FeedHistory(settings)
        try:
            topic = topic_name("supervision.roster", prefix=settings.topic_prefix)
            return load_roster_topic(
                matcher, history, topic, max_bytes=settings.max_roster_bytes, rejects=rejects
            )
        finally:
            history.close()

    def source(
        self, settings: TracerSettings, state: JobState, chunk_lines: int
    ) -> tuple[Source, FeedHistory | None]:
        """The events' source; for Kafka the ranges are fixed once and kept in the checkpoint."""
        if not self.from_kafka:
            return FileSource(
                self.events, max_bytes=settings.max_event_bytes, chunk_lines=chunk_lines
            ), None
        history = FeedHistory(settings)
        inputs = state.checkpoint.inputs
        if "ranges" not in inputs:
            found = history.ranges(
                self._topics(settings), since_ms=self.since_ms, until_ms=self.until_ms
            )
            inputs["ranges"] = [[r.topic, r.partition, r.start, r.end] for r in found]
        ranges = [PartitionRange(t, p, s, e) for t, p, s, e in inputs["ranges"]]
        return KafkaSource(history, ranges, chunk_records=chunk_lines), history


def _epoch_ms(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _Usage(f"{option}: not an ISO-8601 time ({text!r})") from exc
    if when.utcoffset() is None:
        raise _Usage(f"{option}: give the time with its offset (e.g. +08:00 or Z)")
    return int(when.timestamp() * 1000)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _summary(
    tally: Tally,
    *,
    written: dict[str, dict[str, int]],
    roster: RosterCounts,
    run_id: str,
    out: Path,
    version: str,
    seconds: float,
) -> None:
    tiers = tally.tiers
    invalid = ", ".join(f"{n} {why}" for why, n in sorted(tally.invalid.items())) or "none"
    bad = sum(tally.invalid.values()) + roster.bad
    typer.echo(
        f"reprocess: {roster.records} roster records ({roster.watched} watched), "
        f"{tally.read} events read ({tally.events} matched), {tally.leads} leads "
        f"(high {tiers['high']}, medium {tiers['medium']}, low {tiers['low']}), "
        f"{bad} bad lines (events: {invalid}), {tally.conflicting} conflicting duplicates, "
        f"{tally.redelivered} leads redelivered, "
        f"{tally.before_trace} matches before the trace began (left to retro-matching) -> {out} "
        f"[run {run_id}, model {version}, {seconds:.1f}s]"
    )
    for name, counts in written.items():
        if name != "leads":  # Elasticsearch: created, refreshed, unchanged, superseded
            typer.echo(f"  {name}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
