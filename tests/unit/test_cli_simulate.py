"""``tracer simulate`` through the real CLI: three files, contract shapes, byte-identical reruns."""

from __future__ import annotations

import warnings
from pathlib import Path

import orjson
import pytest

with warnings.catch_warnings():
    # kafka-python (imported by other sub-commands) uses a deprecated importlib API at import.
    warnings.simplefilter("ignore", DeprecationWarning)
    from tracer.cli import main

ARGS = ["--people", "3000", "--watchlist", "200", "--events", "1500", "--quiet"]


def _run(out: Path, seed: int) -> None:
    assert main(["simulate", "--out", str(out), *ARGS, "--seed", str(seed)]) == 0


def test_writes_roster_events_and_truth(tmp_path: Path) -> None:
    _run(tmp_path, 4)
    roster = tmp_path.joinpath("roster.jsonl").read_bytes().splitlines()
    events = tmp_path.joinpath("events.jsonl").read_bytes().splitlines()
    truth = [orjson.loads(x) for x in tmp_path.joinpath("truth.jsonl").read_bytes().splitlines()]
    assert len(roster) == 200
    assert len(events) == 1500
    assert all(isinstance(orjson.loads(line), dict) for line in roster)
    for record in truth:
        line = events[record["line"] - 1]
        if record["kind"] == "match":
            assert orjson.loads(line)["event_id"] == record["event_id"]
        else:
            assert record["kind"] == "malformed"
    assert any(r["kind"] == "malformed" for r in truth)


def test_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    _run(tmp_path / "a", 8)
    _run(tmp_path / "b", 8)
    for name in ("roster.jsonl", "events.jsonl", "truth.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_impossible_sizes_end_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--out", str(tmp_path), "--people", "10", "--watchlist", "20"])
    assert exc.value.code == 1
    assert "people must exceed watchlist" in capsys.readouterr().err


def test_hard_decoys_change_the_feed_but_not_the_roster(tmp_path: Path) -> None:
    plain, hard = tmp_path / "plain", tmp_path / "hard"
    _run(plain, 6)
    assert main(["simulate", "--out", str(hard), *ARGS, "--seed", "6", "--hard-decoys"]) == 0
    assert (plain / "roster.jsonl").read_bytes() == (hard / "roster.jsonl").read_bytes()
    assert (plain / "events.jsonl").read_bytes() != (hard / "events.jsonl").read_bytes()
