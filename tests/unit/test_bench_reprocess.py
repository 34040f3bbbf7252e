"""``bench.reprocess`` end to end on a tiny world: every job runs, the results are written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import bench.common
from bench import reprocess


def test_the_bench_runs_every_job_on_one_events_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = tmp_path / "world"
    tracer = str(Path(sys.executable).parent / "tracer")
    sizes = ["--people", "600", "--watchlist", "60", "--events", "300", "--seed", "3"]
    subprocess.run([tracer, "simulate", "--out", str(world), *sizes, "--quiet"], check=True)
    monkeypatch.setattr(bench.common, "RESULTS", tmp_path / "results")
    result = reprocess.main(
        ["--world", str(world), "--watchlists", "20,60", "--workers", "2", "--skip-splink",
         "--stage-events", "100", "--output", "out.json"]
    )  # fmt: skip
    assert result["events"] == 300
    assert result["stage_events"] == 100
    stages = {"read_lines", "json", "normalise", "match", "block_keys", "lookups_and_scoring"}
    fields = {"field_envelope", "field_id", "field_name", "field_phone", "field_address"}
    assert set(result["stage_us_per_event_cpu"]) >= stages | fields
    assert 0 < result["value_repeat_share"]["name"] < 1
    rows = result["watchlists"]
    assert [row["roster_people"] for row in rows] == [20, 60]
    for row in rows:
        assert row["same_leads_one_and_all_cores"] is True
        assert row["original_one_core"]["cpu_s"] > 0
        assert row["one_core_vs_original_cpu"] > 0
    # Fewer people watched, fewer leads: the two rosters really differ.
    assert rows[0]["ours_one_core"]["leads_sha256"] != rows[1]["ours_one_core"]["leads_sha256"]
    assert orjson.loads((tmp_path / "results" / "out.json").read_bytes()) == result


def test_a_run_past_its_time_limit_is_stopped_and_recorded_with_its_own_peak_memory() -> None:
    # 200 MB touched, then a wait far past the limit: killed, its output and memory kept.
    code = "import time; b = bytearray(200 << 20); print('allocated', flush=True); time.sleep(60)"
    figures, stdout = reprocess._run([sys.executable, "-c", code], timeout_s=2.0, check=False)
    assert figures["timed_out"] is True
    assert figures["exit_code"] == -9
    assert figures["wall_s"] < 30
    assert stdout == b"allocated\n"
    assert figures["peak_rss_mb"] >= 200
    # A run that finishes says nothing of a time limit, and its memory is its own.
    small, _ = reprocess._run([sys.executable, "-c", "pass"])
    assert "timed_out" not in small
    assert small["exit_code"] == 0
    # (Linux counts the spawner's own high-water mark in: never the other children's.)
    assert small["peak_rss_mb"] <= max(small["spawner_peak_rss_mb"], 100)


def test_a_failed_run_raises_with_its_error_unless_told_to_record_it() -> None:
    command = [sys.executable, "-c", "import sys; sys.exit('no such roster')"]
    with pytest.raises(subprocess.CalledProcessError) as raised:
        reprocess._run(command)
    assert b"no such roster" in raised.value.stderr
    figures, _ = reprocess._run(command, check=False)
    assert figures["exit_code"] == 1
    assert "no such roster" in figures["stderr_tail"]
