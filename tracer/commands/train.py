"""``tracer train``: estimate a match model from a roster and events, without labels.

    tracer train --roster R.jsonl --events E.jsonl --out model.json [--seed 0]

u comes from seeded random pairs, m and the prior from EM over blocked pairs (see
:mod:`matchers.estimate`). The same inputs and seed give the same file byte for byte; the
default version is derived from the file's content.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from connectors.errors import InputFileError
from connectors.files import read_jsonl
from matchers.errors import InvalidRecord
from matchers.estimate import train_model
from matchers.records import EventRecord, Person, event_from_raw, parse_event_bytes, person_from_raw
from tracer.settings import load_settings

__all__ = ["train"]


def train(
    *,
    roster: Annotated[Path, typer.Option(help="Roster JSONL (RosterRecord per line).")],
    events: Annotated[Path, typer.Option(help="Events JSONL.")],
    out: Annotated[Path, typer.Option(help="Where to write the model JSON.")],
    seed: Annotated[int, typer.Option(help="Seed of the random pairs.")] = 0,
    pairs: Annotated[int, typer.Option(min=100, help="Random pairs for u.")] = 50_000,
    iterations: Annotated[int, typer.Option(min=1, max=500, help="EM iterations at most.")] = 25,
    version: Annotated[str | None, typer.Option(help="Model version (default: em-<hash>).")] = None,
) -> None:
    """Train a Fellegi-Sunter model (u by random pairs, m by EM) and write the model file."""
    settings = load_settings()
    for path in (roster, events):
        if not path.is_file():
            raise InputFileError(f"{path}: no such file")
    started = time.perf_counter()
    people, bad_people = _people(roster)
    parse = partial(parse_event_bytes, max_bytes=settings.max_event_bytes)
    records, bad_events = _events(events, parse)
    model = train_model(
        people, records, version="pending", seed=seed, random_pairs=pairs, iterations=iterations
    )
    digest = hashlib.sha256(model.to_json().encode()).hexdigest()[:10]
    model = replace(model, version=version or f"em-{digest}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(model.to_json(), encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"{out}: cannot write ({exc.strerror or exc})") from exc
    training = model.training
    typer.echo(
        f"train: {len(people)} people ({bad_people} bad), {len(records)} events "
        f"({bad_events} bad), {training['blocked_pairs']} blocked pairs, prior "
        f"{model.prior:.4g}, EM sessions {sorted(training['sessions'])} -> {out} "
        f"[{model.version}, {time.perf_counter() - started:.1f}s]"
    )


def _people(path: Path) -> tuple[list[Person], int]:
    people, bad = [], 0
    for line in read_jsonl(path):
        if line.record is None:
            bad += 1
            continue
        try:
            people.append(person_from_raw(line.record))
        except InvalidRecord:
            bad += 1
    return people, bad


def _events(path: Path, parse: partial[dict[str, object]]) -> tuple[list[EventRecord], int]:
    records, bad = [], 0
    for line in read_jsonl(path, parse=parse):
        if line.record is None:
            bad += 1
            continue
        try:
            records.append(event_from_raw(line.record))
        except InvalidRecord:
            bad += 1
    return records, bad
