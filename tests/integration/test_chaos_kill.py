"""The short chaos run: the worker SIGKILLed once mid-stream and restarted (``make chaos``).

It runs on the shared stack (it stops no service) with the ``make chaos`` harness, on its own
topic prefix, group and alias: a few thousand events, the leads in Elasticsearch compared with
``tracer reprocess``. The full runs (five kills, Kafka and Elasticsearch stopped, two workers,
hostile input) are ``make chaos``.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress

from tests.chaos.faults import Context, Sizes, run_fault
from tracer.settings import TracerSettings

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(300)]


def test_a_worker_killed_mid_stream_loses_and_duplicates_no_lead(
    tmp_path: Path, settings: TracerSettings
) -> None:
    sizes = Sizes(
        events=3000, people=5000, watchlist=500, kill_runs=1, feed_seconds=12.0, stall_s=45.0
    )
    with (tmp_path / "console.txt").open("w") as story:
        console = Console(file=story, width=160)
        with Progress(console=console) as progress:
            ctx = Context(
                base=settings,
                out=tmp_path,
                sizes=sizes,
                console=console,
                progress=progress,
                rng=random.Random(3),
            )
            row = run_fault(ctx, "kill")
    assert row.error is None, row.notes
    kills = [note for note in row.notes if note.startswith("SIGKILL")]
    assert len(kills) == 1, row.notes
    assert row.comparison.expected > 50
    assert (row.comparison.missing, row.comparison.duplicated) == (0, 0), row.as_json()
    assert row.drained and row.passed
    assert any(reason.startswith("not_json") for reason in row.dead_letters)
