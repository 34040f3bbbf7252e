"""``tracer train --labels FILE``: verdicts from a JSONL export, through the real CLI."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest

from matchers.scoring.model import MatchModel, logit2
from matchers.scoring.modelfile import default_model, load_model

with warnings.catch_warnings():
    # kafka-python (imported by other sub-commands) uses a deprecated importlib API at import.
    warnings.simplefilter("ignore", DeprecationWarning)
    from tracer.cli import main


def _lead(model: MatchModel, i: int, *, status: str) -> dict[str, Any]:
    """A lead of an exact phone and name; a wrong one has a disagreeing birth date."""
    fields = [("name", "exact"), ("phone", "exact")]
    fields.append(("birth_date", "exact" if status == "confirmed" else "disagree"))
    return {
        "lead_id": f"lead-{status}-{i:03d}",
        "status": status,
        "tier": "high",
        "explanation": {
            "fields": [
                {"field": f, "level": lv, "weight": round(model.weight(f, lv), 4)}
                for f, lv in fields
            ]
        },
    }


def _export(
    path: Path, confirmed: int, rejected: int, *, extra: int = 0, version: str | None = None
) -> Path:
    model = default_model()
    leads = [_lead(model, i, status="confirmed") for i in range(confirmed)]
    leads += [_lead(model, i, status="rejected") for i in range(rejected)]
    leads += [{**_lead(model, i, status="confirmed"), "status": "new"} for i in range(extra)]
    if version is not None:
        leads = [{**lead, "model_version": version} for lead in leads]
    # A search-hit export wraps the lead in ``_source``; both forms are read.
    lines = [orjson.dumps({"_source": lead} if i % 2 else lead) for i, lead in enumerate(leads)]
    path.write_bytes(b"\n".join([*lines, b"not json"]) + b"\n")
    return path


def test_verdicts_from_a_file_make_a_new_model_and_a_before_after_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = _export(tmp_path / "decided.jsonl", confirmed=40, rejected=30, extra=5)
    out = tmp_path / "models" / "new.json"
    code = main(["train", "--labels", str(labels), "--out", str(out), "--holdout", "0.3"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "held-back verdicts: 12 confirmed, 9 rejected" in printed
    assert "precision before" in printed and "recall after" in printed
    assert "70 verdicts" in printed and "fitted 28 confirmed + 21 rejected" in printed
    assert f"TRACER_MODEL_PATH={out.resolve()}" in printed and "not deployed" in printed
    new, old = load_model(out), default_model()
    assert new.version.startswith(f"{old.version}+labels-49-")
    # Thirty of seventy verdicts rejected near-certain leads: the prior comes down.
    assert logit2(new.prior) < logit2(old.prior)
    assert new.training["labels"]["rejected"] == 21
    assert "note:" not in printed  # no lead says another model scored it


def test_verdicts_on_leads_of_another_model_are_pointed_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = _export(tmp_path / "decided.jsonl", confirmed=20, rejected=20, version="old-1")
    assert main(["train", "--labels", str(labels), "--out", str(tmp_path / "m.json")]) == 0
    printed = capsys.readouterr().out
    assert (
        f"note: 40 verdicts are on leads scored by another model than {default_model().version}"
        in printed
    )


def test_too_few_verdicts_are_one_line_with_the_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = _export(tmp_path / "decided.jsonl", confirmed=40, rejected=8)
    out = tmp_path / "new.json"
    with pytest.raises(SystemExit) as exited:
        main(["train", "--labels", str(labels), "--out", str(out)])
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tracer: error: too few verdicts to fit: 28 confirmed and 6 rejected")
    assert "\n" not in err and not out.exists()


def test_a_missing_labels_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["train", "--labels", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "m")])
    assert exited.value.code == 1
    assert "nope.jsonl: no such file" in capsys.readouterr().err


def test_labels_and_a_roster_together_are_a_usage_error(tmp_path: Path) -> None:
    labels = _export(tmp_path / "decided.jsonl", confirmed=20, rejected=20)
    argv = ["train", "--labels", str(labels), "--roster", str(labels), "--out", str(tmp_path / "m")]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
