"""``tracer train --labels``: the officers' verdicts re-estimate the match model.

Reads the verdicts (:func:`read_labels`), holds a seeded share back, fits the rest
(:func:`matchers.training.supervised.fit_labels`), prints the precision and recall of the tiers on
the held-back verdicts before (the current model) and after (the new one), and writes the new
model with a new version. Nothing is deployed: the last line says how.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from connectors.errors import InputFileError
from connectors.files import read_jsonl
from connectors.retry import RetryPolicy
from connectors.verdicts import VerdictPage, read_verdicts
from matchers.scoring.model import MatchModel
from matchers.scoring.modelfile import default_model, load_model
from matchers.training.supervised import (
    Label,
    LabelFit,
    Quality,
    TooFewLabels,
    evaluate,
    fit_labels,
    label_from_lead,
    labelled_version,
    split_labels,
)
from tracer.commands.serve import async_client
from tracer.settings import TracerSettings

__all__ = ["ES_SOURCE", "LabelOptions", "read_labels", "train_from_labels"]

#: ``--labels es`` reads the leads alias; anything else is a file.
ES_SOURCE = "es"
_out = Console(highlight=False)
# A batch job may wait for Elasticsearch longer than a page does, but not for ever.
_READ_POLICY = RetryPolicy(base_s=0.5, cap_s=10.0, deadline_s=120.0, attempt_timeout_s=60.0)
_MAX_LABELS = 1_000_000
_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class LabelOptions:
    """The fit's knobs from the command line (see ``tracer train --help``)."""

    holdout: float
    strength: float
    min_labels: int
    seed: int
    version: str | None


def train_from_labels(
    settings: TracerSettings,
    source: str,
    model_path: Path | None,
    out: Path,
    options: LabelOptions,
) -> None:
    """Fit, report and write (see the module docstring).

    Raises:
        matchers.training.supervised.TooFewLabels: too few verdicts of a kind in the fitted share.
        connectors.errors.InputFileError: the labels file is missing or ``out`` unwritable.
    """
    chosen = model_path or settings.model_path
    current = load_model(chosen) if chosen else default_model()
    labels, skipped = read_labels(settings, source)
    fit_set, held = split_labels(labels, holdout=options.holdout, seed=options.seed)
    version = options.version or labelled_version(
        current.version, len(fit_set), dt.datetime.now(dt.UTC).date()
    )
    try:
        fitted = fit_labels(
            current,
            fit_set,
            version=version,
            strength=options.strength,
            min_labels=options.min_labels,
        )
    except TooFewLabels as exc:
        raise TooFewLabels(f"{exc}; {len(held)} of {len(labels)} held back") from exc
    _write(out, fitted.model)
    _out.print(_quality_table(current, fitted.model, held))
    _summary(current, fitted, labels, skipped=skipped, held=len(held), out=out, options=options)


def _summary(
    current: MatchModel,
    fitted: LabelFit,
    labels: list[Label],
    *,
    skipped: int,
    held: int,
    out: Path,
    options: LabelOptions,
) -> None:
    typer.echo(
        f"train --labels: {len(labels)} verdicts ({skipped} leads without usable evidence "
        f"skipped), fitted {fitted.confirmed} confirmed + {fitted.rejected} rejected, held back "
        f"{held}; strength {options.strength:g}; prior shift "
        f"{fitted.prior_shift_bits:+.2f} bits -> {out} [{fitted.model.version}]"
    )
    others = sum(1 for lb in labels if lb.model_version not in (None, current.version))
    if others:
        # Their name weights carry another model's term-frequency adjustment (module
        # matchers.training.supervised): say so rather than let the figures pass for exact.
        typer.echo(
            f"note: {others} verdicts are on leads scored by another model than "
            f"{current.version}; their scores are recomputed from levels against it"
        )
    typer.echo(
        f"not deployed: to use it, set TRACER_MODEL_PATH={out.resolve()} for the worker, "
        "reprocess and serve, and restart them"
    )


def read_labels(settings: TracerSettings, source: str) -> tuple[list[Label], int]:
    """The verdicts of ``source`` (``es`` or a JSONL file).

    Returns:
        The labels, and how many decided leads lacked usable evidence (skipped).

    Raises:
        connectors.errors.InputFileError: the file does not exist.
    """
    if source == ES_SOURCE:
        leads = asyncio.run(_read_es(settings))
    else:
        path = Path(source)
        if not path.is_file():
            raise InputFileError(f"{path}: no such file (give `es` or a JSONL file)")
        leads = [_unwrap(line.record) for line in read_jsonl(path) if line.record is not None]
    decided = [lead for lead in leads if lead.get("status") in ("confirmed", "rejected")]
    labels = [lb for lb in map(label_from_lead, decided) if lb is not None]
    return labels, len(decided) - len(labels)


def _unwrap(record: dict[str, Any]) -> dict[str, Any]:
    # An export of search hits keeps each lead under ``_source``.
    source = record.get("_source")
    return source if isinstance(source, dict) else record


async def _read_es(settings: TracerSettings) -> list[dict[str, Any]]:
    client = async_client(settings)
    progress = Progress(
        TextColumn("verdicts"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("verdicts", total=None)

    def on_page(page: VerdictPage) -> None:
        progress.update(task, advance=len(page.leads), total=min(page.total, _MAX_LABELS))

    try:
        with progress:
            return await read_verdicts(
                client,
                settings.leads_alias,
                page_size=_PAGE_SIZE,
                limit=_MAX_LABELS,
                policy=_READ_POLICY,
                on_page=on_page,
            )
    finally:
        await client.close()


def _write(out: Path, model: MatchModel) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(model.to_json(), encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"{out}: cannot write ({exc.strerror or exc})") from exc


def _quality_table(current: MatchModel, new: MatchModel, held: list[Label]) -> Table:
    confirmed = sum(1 for lb in held if lb.match)
    table = Table(
        "tier ≥",
        "precision before",
        "recall before",
        "precision after",
        "recall after",
        title=(
            f"held-back verdicts: {confirmed} confirmed, {len(held) - confirmed} rejected "
            f"({current.version} -> {new.version})"
        ),
    )
    before = evaluate(current, held, reference=current)
    after = evaluate(new, held, reference=current)
    for b, a in zip(before, after, strict=True):
        table.add_row(b.cut, *_cells(b), *_cells(a))
    return table


def _cells(q: Quality) -> tuple[str, str]:
    def show(value: float | None, hits: int, of: int) -> str:
        return "n/a" if value is None else f"{value:.3f} ({hits}/{of})"

    kept = q.true_positive + q.false_positive
    confirmed = q.true_positive + q.false_negative
    return show(q.precision, q.true_positive, kept), show(q.recall, q.true_positive, confirmed)
