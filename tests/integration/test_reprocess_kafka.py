"""``tracer reprocess --since/--until`` over the real feed topics equals the file job.

A simulated day is published with ``tracer produce`` in two halves; the time-range job (the
roster from the roster topic) gives exactly the file job's leads and rejects, for the whole
day, for the second half (``--since`` between the halves) and for the first (``--until``);
and the live consumer group's committed offsets are the same before and after.
"""

from __future__ import annotations

import signal
import subprocess
import time
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from contract import FEED_TOPICS
from tests.integration.streaming import TRACER, Run, write_world

with warnings.catch_warnings():  # kafka-python warns once on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _job(run: Run, name: str, *args: str) -> tuple[dict[str, Any], Counter[str]]:
    out = run.tmp / f"{name}.jsonl"
    run.tracer("reprocess", "--out", str(out), "--run-id", "same", "--workers", "2", *args)
    leads = {}
    for line in out.read_bytes().splitlines():
        lead = orjson.loads(line)
        leads[lead["lead_id"]] = lead
    rejects = Path(f"{out}.deadletter.jsonl").read_bytes().splitlines()
    return leads, Counter(orjson.loads(r)["reason"] for r in rejects)


def _live_group_offsets(run: Run) -> dict[Any, Any]:
    admin = KafkaAdminClient(bootstrap_servers=run.settings.kafka_bootstrap)
    try:
        return dict(admin.list_group_offsets({run.settings.consumer_group: None}).get(
            run.settings.consumer_group, {}
        ))  # fmt: skip
    finally:
        admin.close()


def _commit_some(run: Run) -> None:
    """The live group has read part of the feeds and committed: what the job must not move."""
    consumer = KafkaConsumer(
        *[run.topic(t) for t in FEED_TOPICS],
        bootstrap_servers=run.settings.kafka_bootstrap,
        group_id=run.settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        deadline = time.monotonic() + 60
        while not consumer.poll(timeout_ms=1000, max_records=200) and time.monotonic() < deadline:
            pass
        consumer.commit()
    finally:
        consumer.close()


def _split(run: Run) -> tuple[Path, Path]:
    lines = (run.tmp / "events.jsonl").read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    first, second = run.tmp / "first.jsonl", run.tmp / "second.jsonl"
    first.write_bytes(b"".join(lines[:half]))
    second.write_bytes(b"".join(lines[half:]))
    return first, second


def test_the_time_range_job_equals_the_file_job_and_leaves_the_live_group_alone(
    run: Run,
) -> None:
    write_world(run, people=20_000, watchlist=400, events=4000, seed=41)
    first, second = _split(run)
    roster = str(run.tmp / "roster.jsonl")
    start = _now()
    run.tracer("produce", "--roster", roster, "--events", str(first))
    time.sleep(1.5)  # record timestamps are milliseconds: a clear gap between the halves
    middle = _now()
    time.sleep(1.5)
    run.tracer("produce", "--events", str(second))
    _commit_some(run)
    committed = _live_group_offsets(run)
    assert committed, "the live group committed offsets before the job"

    files = {"all": [first, second], "first": [first], "second": [second]}
    ranges = {"all": ["--since", start], "first": ["--since", start, "--until", middle],
              "second": ["--since", middle]}  # fmt: skip
    for name, paths in files.items():
        events = [arg for path in paths for arg in ("--events", str(path))]
        by_file = _job(run, f"file-{name}", "--roster", roster, *events)
        by_time = _job(run, f"kafka-{name}", "--roster-topic", *ranges[name])
        assert by_time[0] == by_file[0], name  # lead for lead, score for score, same run_id
        assert by_time[1] == by_file[1], name  # the same rejects by reason
        assert by_file[0], f"{name}: the simulated day has leads"
    assert _live_group_offsets(run) == committed


def test_an_interrupted_time_range_job_resumes_to_the_same_result(run: Run) -> None:
    write_world(run, people=20_000, watchlist=400, events=6000, seed=43)
    start = _now()
    run.tracer("produce", "--roster", str(run.tmp / "roster.jsonl"),
               "--events", str(run.tmp / "events.jsonl"))  # fmt: skip
    args = ["reprocess", "--roster-topic", "--since", start, "--run-id", "r", "--workers", "1",
            "--chunk-lines", "100", "--checkpoint-every", "300"]  # fmt: skip
    whole, cut = run.tmp / "whole.jsonl", run.tmp / "cut.jsonl"
    run.tracer(*args, "--out", str(whole))
    checkpoint = Path(f"{cut}.checkpoint.json")
    proc = subprocess.Popen([TRACER, *args, "--out", str(cut)], env=run.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert orjson.loads(checkpoint.read_bytes())["position"].get("range") is not None
    run.tracer(*args, "--out", str(cut), "--resume")
    assert cut.read_bytes() == whole.read_bytes()
    assert (
        Path(f"{cut}.deadletter.jsonl").read_bytes()
        == Path(f"{whole}.deadletter.jsonl").read_bytes()
    )


def test_the_roster_topic_honours_tombstones_and_keeps_the_last_valid_record(run: Run) -> None:
    write_world(run, people=20_000, watchlist=400, events=3000, seed=47)
    start = _now()
    roster = run.tmp / "roster.jsonl"
    run.tracer("produce", "--roster", str(roster), "--events", str(run.tmp / "events.jsonl"))
    by_file, _ = _job(
        run, "file", "--roster", str(roster), "--events", str(run.tmp / "events.jsonl")
    )
    people = sorted({lead["person_id"] for lead in by_file.values()})
    gone, kept = people[0], people[1]
    producer = KafkaProducer(bootstrap_servers=run.settings.kafka_bootstrap, acks="all")
    topic = run.topic("supervision.roster")
    producer.send(topic, key=gone.encode(), value=None)  # a tombstone: the person is deleted
    producer.send(topic, key=kept.encode(), value=b'{"person_id": "' + kept.encode() + b'"}')
    producer.flush()
    producer.close()
    by_time, rejects = _job(run, "kafka", "--roster-topic", "--since", start)
    assert by_time == {k: v for k, v in by_file.items() if v["person_id"] != gone}
    assert any(v["person_id"] == kept for v in by_time.values())  # the invalid update: no effect
    assert rejects["missing_name"] >= 1
