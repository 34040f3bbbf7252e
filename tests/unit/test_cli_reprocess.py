"""``tracer reprocess`` and ``tracer train`` on small generated files, through the real CLI."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest

from matchers.scoring.modelfile import default_model, load_model
from matchers.watchlist.matcher import Matcher
from tests.unit.matchers.test_matcher import synthetic_world

with warnings.catch_warnings():
    # kafka-python (imported by other sub-commands) uses a deprecated importlib API at import.
    warnings.simplefilter("ignore", DeprecationWarning)
    from tracer.cli import main


def _write(path: Path, records: list[Any], extra: list[bytes] = ()) -> Path:  # type: ignore[assignment]
    lines = [orjson.dumps(r) for r in records] + list(extra)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture(scope="module")
def world() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return synthetic_world(120, 160, seed=21)


@pytest.fixture
def files(
    tmp_path: Path, world: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> tuple[Path, Path]:
    roster = _write(tmp_path / "roster.jsonl", world[0], [b'{"person_id": "x"}'])
    bad = [b"not json", b"[1, 2]", b'{"source": "bank", "occurred_at": "2026-01-01T00:00:00Z"}']
    events = _write(tmp_path / "events.jsonl", world[1][:80], [*bad, b""])
    with events.open("ab") as handle:
        handle.write(b"\n".join(orjson.dumps(e) for e in world[1][80:]) + b"\n")
    return roster, events


def _run(roster: Path, events: Path, out: Path, *extra: str) -> int:
    return main(
        ["reprocess", "--roster", str(roster), "--events", str(events), "--out", str(out), *extra]
    )


def test_reprocess_writes_leads_in_input_order_and_dead_letters(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "leads.jsonl"
    assert _run(*files, out, "--workers", "1") == 0
    leads = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert leads, "the synthetic world has findable people"
    events = [orjson.loads(x) for x in files[1].read_bytes().splitlines() if x.startswith(b"{")]
    order = {e["event_id"]: n for n, e in enumerate(events) if "event_id" in e}
    positions = [order[x["event_id"]] for x in leads]
    assert positions == sorted(positions)  # input order, whatever the number of workers
    assert len({x["run_id"] for x in leads}) == 1
    assert {x["tier"] for x in leads} <= {"high", "medium", "low"}
    dead = [
        orjson.loads(line) for line in Path(f"{out}.deadletter.jsonl").read_bytes().splitlines()
    ]
    by_line = {(Path(d["file"]).name, d["line"]): d["reason"] for d in dead}
    assert by_line[("roster.jsonl", 121)] == "missing_name"
    assert by_line[("events.jsonl", 81)] == "not_json"
    assert by_line[("events.jsonl", 82)] == "not_object"
    assert by_line[("events.jsonl", 83)] == "missing_event_id"
    summary = capsys.readouterr().out.strip()
    assert summary.startswith("reprocess: ") and "\n" not in summary
    assert f"{len(leads)} leads" in summary and "4 bad lines" in summary


def test_reprocess_is_byte_for_byte_the_same_on_any_number_of_cores_and_equals_the_matcher(
    tmp_path: Path,
    files: tuple[Path, Path],
    world: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _run(*files, first, "--workers", "1", "--run-id", "r1")
    _run(*files, second, "--workers", "3", "--chunk-lines", "7", "--run-id", "r1")
    assert first.read_bytes() == second.read_bytes()  # one core or three: the same bytes
    matcher = Matcher(default_model())  # what the streaming worker runs
    for record in world[0]:
        matcher.apply_roster(record)
    expected = {lead["lead_id"]: lead["score"] for e in world[1] for lead in matcher.match(e).leads}
    written = {x["lead_id"]: x["score"] for x in map(orjson.loads, first.read_bytes().splitlines())}
    assert written == expected


def test_missing_input_is_one_line_and_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _run(tmp_path / "nope.jsonl", tmp_path / "nope2.jsonl", tmp_path / "o.jsonl")
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tracer: error:") and "nope.jsonl" in err and "\n" not in err


def test_bad_model_file_is_one_line_and_non_zero(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "model.json"
    model.write_text('{"prior": 2}')
    with pytest.raises(SystemExit) as exited:
        _run(*files, tmp_path / "o.jsonl", "--model", str(model))
    assert exited.value.code == 1
    assert "invalid match model" in capsys.readouterr().err


def test_train_writes_a_model_that_reprocess_uses(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model_path = tmp_path / "model.json"
    roster, events = files
    args = ["train", "--roster", str(roster), "--events", str(events), "--out", str(model_path)]
    assert main([*args, "--pairs", "2000"]) == 0
    model = load_model(model_path)
    assert model.version.startswith("em-")
    assert model.training["events"] == 160
    assert main([*args, "--pairs", "2000"]) == 0
    assert load_model(model_path) == model  # same inputs and seed, same model
    out = tmp_path / "leads.jsonl"
    assert _run(roster, events, out, "--model", str(model_path)) == 0
    versions = {orjson.loads(line)["model_version"] for line in out.read_bytes().splitlines()}
    assert versions <= {model.version}
    assert "train: " in capsys.readouterr().out


def test_read_jsonl_reports_bad_lines_with_numbers_and_skips_blank_ones(tmp_path: Path) -> None:
    from connectors.errors import InputFileError
    from connectors.files import read_jsonl, write_jsonl

    path = tmp_path / "x.jsonl"
    path.write_bytes(b'{"a": 1}\n\n[2]\nnope\r\n{"b": "\xe4\xb8\xad"}')
    lines = list(read_jsonl(path))
    assert [(x.line_no, x.record, x.error is None) for x in lines] == [
        (1, {"a": 1}, True),
        (3, None, False),
        (4, None, False),
        (5, {"b": "中"}, True),
    ]
    assert lines[-1].end == path.stat().st_size
    assert write_jsonl(tmp_path / "sub" / "y.jsonl", [{"b": 1, "a": 2}]) == 1
    assert (tmp_path / "sub" / "y.jsonl").read_bytes() == b'{"a":2,"b":1}\n'
    with pytest.raises(InputFileError, match="no such file"):
        read_jsonl(tmp_path / "absent.jsonl")
    with pytest.raises(InputFileError, match="directory"):
        read_jsonl(tmp_path)
