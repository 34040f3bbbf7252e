"""`tracer stack status` and a second `tracer stack up` against the running stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TRACER = str(Path(sys.executable).parent / "tracer")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRACER, "stack", *args], capture_output=True, text=True, timeout=150, check=False
    )


def test_status_reports_both_services_running() -> None:
    result = _run("status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["service"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"kafka", "elasticsearch"}
    for row in rows.values():
        assert row["state"] == "running"
        assert row["pid"] > 0
        assert row["log"].endswith(".log")
    plain = _run("status")
    assert plain.returncode == 0
    assert plain.stdout.count("running") == 2


def test_up_again_leaves_the_running_stack_alone() -> None:
    before = {row["service"]: row["pid"] for row in json.loads(_run("status", "--json").stdout)}
    result = _run("up")
    assert result.returncode == 0, result.stderr
    after = {row["service"]: row["pid"] for row in json.loads(_run("status", "--json").stdout)}
    assert after == before
