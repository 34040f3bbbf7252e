"""``tracer reprocess``: the whole roster and event files through the matcher, offline.

    tracer reprocess --roster R.jsonl --events E.jsonl --out LEADS.jsonl [--model PATH]

No service is touched. The roster is applied first (latest record per person wins, as on the
compacted topic), then every event is matched with the same :class:`matchers.matcher.Matcher`
the streaming worker uses, so the scores are the same. Leads are written one per line, sorted
by ``lead_id``; bad lines go to ``<out>.deadletter.jsonl`` with their line number and reason.

The stream's rules, applied in memory (docs/design.md, "Duplicates and late drop-outs"): a
lead id is written once, by the first event in file order that makes it; a later event under
the same ``source`` + ``event_id`` with the same content is a redelivery (nothing new), one
with other content (another ``event_digest``) is a ``conflicting_duplicate`` dead letter with
the ``lead_id``. An event that occurred before a person's trace began makes no lead for them
(counted: left to retro-matching).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from connectors.elasticsearch import CONFLICTING_DUPLICATE
from connectors.errors import InputFileError
from connectors.files import JsonlLine, JsonlWriter, read_jsonl
from matchers.errors import InvalidRecord
from matchers.matcher import Matcher
from matchers.modelfile import default_model, load_model
from matchers.records import OccurredAtLimit, occurred_at_limit, parse_event_bytes
from tracer.settings import load_settings

__all__ = ["reprocess"]


@dataclass
class _Tally:
    roster: int = 0
    watched: int = 0
    events: int = 0
    bad: int = 0
    redelivered: int = 0
    conflicting: int = 0
    before_trace: int = 0
    tiers: dict[str, int] = field(default_factory=lambda: {"high": 0, "medium": 0, "low": 0})


def reprocess(
    roster: Annotated[Path, typer.Option(help="Roster JSONL (RosterRecord per line).")],
    events: Annotated[Path, typer.Option(help="Events JSONL (hukou/bank/telecom per line).")],
    out: Annotated[Path, typer.Option(help="Where to write the leads JSONL.")],
    model: Annotated[
        Path | None, typer.Option(help="Model file (default: TRACER_MODEL_PATH or shipped).")
    ] = None,
) -> None:
    """Match a roster and events offline and write every lead, one JSON object per line."""
    settings = load_settings()
    for path in (roster, events):
        if not path.is_file():
            raise InputFileError(f"{path}: no such file")
    chosen = model or settings.model_path
    match_model = load_model(chosen) if chosen else default_model()
    started = time.perf_counter()
    # The trace window the stream and retro-matching use too (matchers.leads.before_trace).
    matcher = Matcher(match_model, trace_lookback=timedelta(days=settings.retro_days))
    tally = _Tally()
    leads: dict[str, dict[str, Any]] = {}
    parse = partial(parse_event_bytes, max_bytes=settings.max_event_bytes, check_envelope=False)
    # The clock read once: the same files at the same time give the same answer as the stream.
    not_after = occurred_at_limit(
        datetime.now(UTC), timedelta(seconds=settings.event_future_margin_s)
    )
    dead_path = out.with_name(out.name + ".deadletter.jsonl")
    with JsonlWriter(dead_path) as dead, _progress() as progress:
        total = roster.stat().st_size + events.stat().st_size
        task = progress.add_task("roster", total=total or 1)
        for line in read_jsonl(roster):
            progress.update(task, completed=line.end)
            _apply_roster(matcher, line, dead, roster, tally)
        done = roster.stat().st_size
        # The watchlist lives until the end: keep the cyclic GC from rescanning it per event.
        gc.collect()
        gc.freeze()
        progress.update(task, description="events")
        for line in read_jsonl(events, parse=parse):
            progress.update(task, completed=done + line.end)
            _match_event(
                matcher, line, dead=dead, path=events, tally=tally, leads=leads, not_after=not_after
            )
        progress.update(task, completed=total or 1)
    with JsonlWriter(out) as writer:
        for key in sorted(leads):
            writer.write(leads[key])
    t = tally.tiers
    typer.echo(
        f"reprocess: {tally.roster} roster records ({tally.watched} watched), "
        f"{tally.events} events, {len(leads)} leads "
        f"(high {t['high']}, medium {t['medium']}, low {t['low']}), "
        f"{tally.bad} bad lines, {tally.conflicting} conflicting duplicates, "
        f"{tally.redelivered} leads redelivered, "
        f"{tally.before_trace} matches before the trace began (left to retro-matching) -> {out} "
        f"[model {match_model.version}, {time.perf_counter() - started:.1f}s]"
    )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:>7}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _dead(
    dead: JsonlWriter, path: Path, line: JsonlLine, reason: str, *, lead_id: str | None = None
) -> None:
    letter = {
        "file": str(path),
        "line": line.line_no,
        "reason": reason,
        "raw": line.raw.decode("utf-8", "replace"),
    }
    dead.write(letter if lead_id is None else letter | {"lead_id": lead_id})


def _apply_roster(
    matcher: Matcher, line: JsonlLine, dead: JsonlWriter, path: Path, tally: _Tally
) -> None:
    if line.record is None:
        tally.bad += 1
        _dead(dead, path, line, line.error or "unreadable")
        return
    tally.roster += 1
    change = matcher.apply_roster(line.record)
    if change.action == "invalid":
        tally.bad += 1
        _dead(dead, path, line, change.reason)
    tally.watched = len(matcher)


def _match_event(
    matcher: Matcher,
    line: JsonlLine,
    *,
    dead: JsonlWriter,
    path: Path,
    tally: _Tally,
    leads: dict[str, dict[str, Any]],
    not_after: OccurredAtLimit,
) -> None:
    if line.record is None:
        tally.bad += 1
        _dead(dead, path, line, line.error or "unreadable")
        return
    try:
        outcome = matcher.match(line.record, not_after=not_after)
    except InvalidRecord as exc:  # the envelope, checked by the matcher as in the stream
        tally.bad += 1
        _dead(dead, path, line, exc.reason)
        return
    tally.events += 1
    tally.before_trace += outcome.before_trace
    for lead in outcome.leads:
        key = lead["lead_id"]
        previous = leads.get(key)
        if previous is None:  # create-only, as in the index: the first one stays
            leads[key] = lead
            tally.tiers[lead["tier"]] += 1
        elif previous["event_digest"] == lead["event_digest"]:
            tally.redelivered += 1
        else:
            tally.conflicting += 1
            _dead(dead, path, line, CONFLICTING_DUPLICATE, lead_id=key)
