"""``tracer train``: estimate a match model without labels, or re-estimate it from verdicts.

    tracer train --roster R.jsonl --events E.jsonl --out model.json [--seed 0]
    tracer train --labels es --out model.json [--holdout 0.3] [--strength 200] [--model M]
    tracer train --labels LEADS.jsonl --out model.json

Without labels, u comes from seeded random pairs, m and the prior from EM over blocked pairs
(see :mod:`matchers.training.estimate`). The same inputs and seed give the same file byte for byte;
the default version is derived from the file's content.

With ``--labels``, the officers' verdicts (confirmed and rejected leads, from the leads alias
with ``es`` or from a JSONL export of lead documents) re-estimate the current model (``--model``,
else ``TRACER_MODEL_PATH``, else the shipped one) as :mod:`matchers.training.supervised` says; a
seeded share is held back and the precision and recall of the tiers on it are printed before and
after. The new model is only written: deploying it is a deliberate ``TRACER_MODEL_PATH``.
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
from matchers.records import EventRecord, Person, event_from_raw, parse_event_bytes, person_from_raw
from matchers.training.estimate import train_model
from matchers.training.supervised import DEFAULT_STRENGTH, MIN_LABELS
from tracer.commands.train_labels import LabelOptions, train_from_labels
from tracer.settings import TracerSettings, load_settings

__all__ = ["train"]


def train(
    *,
    out: Annotated[Path, typer.Option(help="Where to write the model JSON.")],
    roster: Annotated[
        Path | None, typer.Option(help="Roster JSONL (RosterRecord per line).")
    ] = None,
    events: Annotated[Path | None, typer.Option(help="Events JSONL.")] = None,
    labels: Annotated[
        str | None,
        typer.Option(help="Verdicts: `es` (the leads alias) or a JSONL file of lead documents."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            help="With --labels: the current model (default: TRACER_MODEL_PATH or shipped)."
        ),
    ] = None,
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.9, help="With --labels: share of verdicts held back.")
    ] = 0.3,
    strength: Annotated[
        float,
        typer.Option(min=1.0, help="With --labels: how many verdicts the current model counts as."),
    ] = DEFAULT_STRENGTH,
    min_labels: Annotated[
        int, typer.Option(min=1, help="With --labels: fewest verdicts of each kind to fit.")
    ] = MIN_LABELS,
    seed: Annotated[int, typer.Option(help="Seed of the random pairs / the held-back split.")] = 0,
    pairs: Annotated[int, typer.Option(min=100, help="Random pairs for u.")] = 50_000,
    iterations: Annotated[int, typer.Option(min=1, max=500, help="EM iterations at most.")] = 25,
    version: Annotated[str | None, typer.Option(help="Model version (default: derived).")] = None,
) -> None:
    """Train a model (u by random pairs, m by EM), or re-estimate one from verdicts."""
    settings = load_settings()
    if labels is not None:
        if roster is not None or events is not None:
            raise typer.BadParameter("--labels re-estimates a model: give no --roster/--events")
        options = LabelOptions(holdout, strength, min_labels, seed, version)
        train_from_labels(settings, labels, model, out, options)
        return
    if roster is None or events is None:
        raise typer.BadParameter("give --roster and --events (or --labels)")
    _train_unsupervised(
        settings,
        roster,
        events,
        out,
        seed=seed,
        pairs=pairs,
        iterations=iterations,
        version=version,
    )


def _train_unsupervised(
    settings: TracerSettings,
    roster: Path,
    events: Path,
    out: Path,
    *,
    seed: int,
    pairs: int,
    iterations: int,
    version: str | None,
) -> None:
    for path in (roster, events):
        if not path.is_file():
            raise InputFileError(f"{path}: no such file")
    started = time.perf_counter()
    people, bad_people = _people(roster)
    parse = partial(parse_event_bytes, max_bytes=settings.max_event_bytes)
    records, bad_events = _events(events, parse)
    trained = train_model(
        people, records, version="pending", seed=seed, random_pairs=pairs, iterations=iterations
    )
    digest = hashlib.sha256(trained.to_json().encode()).hexdigest()[:10]
    model = replace(trained, version=version or f"em-{digest}")
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
