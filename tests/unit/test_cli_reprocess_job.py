"""``tracer reprocess`` as a job: several inputs (gzip, BOM), rejects, checkpoints and resume.

Everything through the real CLI (in process, or as a subprocess where a signal must land).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import signal
import stat
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest

from batch.lines import read_lines
from batch.sinks import BatchLead, ElasticsearchLeadSink
from connectors.lead_store import EventScope, RefreshCounts
from tests.unit.matchers.test_matcher import synthetic_world

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tracer.cli import main

TRACER = str(Path(sys.executable).parent / "tracer")


@pytest.fixture(scope="module")
def world() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return synthetic_world(150, 300, seed=33)


def _lines(records: list[Any]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def _leads(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def _reprocess(roster: Path, events: list[Path], out: Path, *extra: str) -> int:
    args = ["reprocess", "--roster", str(roster), "--out", str(out), *extra]
    for path in events:
        args += ["--events", str(path)]
    return main(args)


def test_gzip_and_plain_files_with_a_bom_give_the_leads_of_one_plain_file(
    tmp_path: Path, world: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    roster = tmp_path / "roster.jsonl"
    roster.write_bytes(b"\xef\xbb\xbf" + _lines(world[0]))  # a BOM on the first line
    events = world[1]
    whole = tmp_path / "all.jsonl"
    whole.write_bytes(_lines(events))
    first = tmp_path / "part1.jsonl"
    first.write_bytes(b"\xef\xbb\xbf" + _lines(events[:100]).replace(b"\n", b"\r\n"))
    second = tmp_path / "part2.data"  # gzip by its magic bytes, not its name
    second.write_bytes(gzip.compress(b"\xef\xbb\xbf" + _lines(events[100:])))
    one, split = tmp_path / "one.jsonl", tmp_path / "split.jsonl"
    assert _reprocess(roster, [whole], one, "--run-id", "r") == 0
    assert _reprocess(roster, [first, second], split, "--run-id", "r", "--workers", "2") == 0
    assert one.read_bytes() == split.read_bytes()
    assert len(_leads(one)) > 20
    assert Path(f"{split}.deadletter.jsonl").read_bytes() == b""  # the BOMs read as nothing


def test_a_huge_line_is_a_reject_with_prefix_hash_and_size_in_a_private_file(
    tmp_path: Path, world: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    roster = tmp_path / "roster.jsonl"
    roster.write_bytes(_lines(world[0]))
    huge = b'{"event_id": "' + b"x" * 3_000_000 + b'"}'
    events = tmp_path / "events.jsonl"
    events.write_bytes(_lines(world[1][:10]) + huge + b"\n" + b"not json\n" + _lines(world[1][10:]))
    out = tmp_path / "leads.jsonl"
    assert _reprocess(roster, [events], out) == 0
    rejects_path = Path(f"{out}.deadletter.jsonl")
    assert stat.S_IMODE(rejects_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # the leads name people too
    rejects = {r["line"]: r for r in _leads(rejects_path)}
    assert rejects[11]["reason"] == "oversized"
    assert rejects[11]["size"] == len(huge)
    assert rejects[11]["sha256"] == hashlib.sha256(huge).hexdigest()
    assert len(rejects[11]["prefix"]) == 256 and "raw" not in rejects[11]
    assert rejects[12] == {"file": str(events), "line": 12, "reason": "not_json", "raw": "not json"}


def test_a_huge_line_is_never_held_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    size = 40 * 1024 * 1024
    with path.open("wb") as handle:
        for _ in range(size // (1 << 20)):
            handle.write(b"a" * (1 << 20))
        handle.write(b"\n{}\n")
    tracemalloc.start()
    with path.open("rb") as handle:
        lines = list(read_lines(handle, max_bytes=65536))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [(x.number, x.data, x.size) for x in lines] == [(1, None, size), (2, b"{}", 2)]
    assert peak < 8 * 1024 * 1024  # 1 MiB pieces, never the 40 MiB line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--events", "{tmp}"], "is a directory"),
        (["--events", "{tmp}/absent.jsonl"], "no such file"),
        (["--since", "2026-01-01T00:00:00"], "with its offset"),
        ([], "--events FILE... or --since/--until"),
    ],
)
def test_unusable_options_are_one_line_and_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    (tmp_path / "r.jsonl").write_bytes(b"")
    (tmp_path / "e.jsonl").write_bytes(b"")
    argv = ["reprocess", "--roster", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exited:
        main([*argv, *(a.format(tmp=tmp_path) for a in args)])
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tracer: error:") and expected in err and "\n" not in err


def _big_world(tmp_path: Path) -> tuple[Path, Path]:
    roster, events = synthetic_world(400, 6000, seed=5)
    (tmp_path / "roster.jsonl").write_bytes(_lines(roster) + b'{"person_id": "x"}\n')
    (tmp_path / "events.jsonl").write_bytes(_lines(events) + b"oops\n" + _lines(events[:50]))
    return tmp_path / "roster.jsonl", tmp_path / "events.jsonl"


def _job(roster: Path, events: Path, out: Path, *extra: str) -> list[str]:
    return [TRACER, "reprocess", "--roster", str(roster), "--events", str(events),
            "--out", str(out), "--run-id", "job-1", "--chunk-lines", "100",
            "--checkpoint-every", "300", *extra]  # fmt: skip


def _interrupt(command: list[str], checkpoint: Path, how: signal.Signals) -> int:
    """Start the job, wait for its first checkpoint, send ``how``; return the exit status."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the job ended before it could be interrupted"
    proc.send_signal(how)
    proc.communicate(timeout=120)
    return proc.returncode


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_job_resumes_to_the_same_result(tmp_path: Path, how: signal.Signals) -> None:
    roster, events = _big_world(tmp_path)
    whole = tmp_path / "whole.jsonl"
    ran = subprocess.run(
        _job(roster, events, whole, "--workers", "2"), check=True, capture_output=True
    )
    out = tmp_path / "cut.jsonl"
    checkpoint = Path(f"{out}.checkpoint.json")
    status = _interrupt(_job(roster, events, out, "--workers", "2"), checkpoint, how)
    assert status == (-9 if how == signal.SIGKILL else 130)
    saved = orjson.loads(checkpoint.read_bytes())
    assert not saved["done"] and 0 < saved["counts"]["read"] < 6051
    done = subprocess.run(_job(roster, events, out, "--resume"), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    assert out.read_bytes() == whole.read_bytes()  # nothing twice, nothing lost
    rejects = Path(f"{out}.deadletter.jsonl").read_bytes()
    assert rejects == Path(f"{whole}.deadletter.jsonl").read_bytes()
    counts = [run.stdout.decode().split(" -> ")[0] for run in (ran, done)]
    assert counts[0] == counts[1]  # the summary counts what was done before the cut too
    assert "6051 events read" in counts[1] and "0 leads redelivered" not in counts[1]
    assert orjson.loads(checkpoint.read_bytes())["done"] is True
    again = subprocess.run(_job(roster, events, out, "--resume"), capture_output=True, check=False)
    assert again.returncode == 1 and b"complete; nothing to resume" in again.stderr


def test_resume_refuses_a_checkpoint_of_other_inputs(tmp_path: Path) -> None:
    roster, events = _big_world(tmp_path)
    out = tmp_path / "cut.jsonl"
    _interrupt(_job(roster, events, out, "--workers", "1"), Path(f"{out}.checkpoint.json"),
               signal.SIGKILL)  # fmt: skip
    with events.open("ab") as handle:
        handle.write(b"{}\n")
    done = subprocess.run(_job(roster, events, out, "--resume"), capture_output=True, check=False)
    assert done.returncode == 1
    assert b"checkpoint is of another job" in done.stderr and done.stderr.count(b"\n") == 1


class _Store:
    """An in-memory lead store answering as ``LeadStore`` does, by lead id (no I/O here: the
    real store is tested on the real stack in tests/integration/test_reprocess_es.py)."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.calls: list[int] = []
        self.scopes: list[int] = []
        self.closed = False

    async def refresh(self, leads: Any, *, run_id: str, model_version: str) -> RefreshCounts:
        self.calls.append(len(leads))
        known = sum(1 for lead in leads if lead["lead_id"] in self.docs)
        for lead in leads:
            self.docs[lead["lead_id"]] = lead | {"run_id": run_id, "event": tuple(lead["event"])}
        return RefreshCounts(created=len(leads) - known, unchanged=known)

    async def mark_not_qualifying(
        self, scope: EventScope, produced_ids: Any, *, run_id: str
    ) -> RefreshCounts:
        self.scopes.append(len(scope.events))
        produced = set(produced_ids)
        stale = [d for d in self.docs.values() if d["event"] in scope.events]
        return RefreshCounts(superseded=sum(1 for d in stale if d["lead_id"] not in produced))

    async def close(self) -> None:
        self.closed = True


def _lead(n: int) -> BatchLead:
    line = orjson.dumps({"lead_id": f"l{n}", "event": ["bank", f"e{n}"]}) + b"\n"
    return BatchLead(f"l{n}", "d", "high", line)


def _sink(
    store: _Store, tmp_path: Path, seen: dict[str, str], **extra: Any
) -> ElasticsearchLeadSink:
    return ElasticsearchLeadSink(
        store, run_id="r2", model_version="m", produced=seen,
        scope_path=tmp_path / "o.scope.jsonl", **extra,
    )  # fmt: skip


def test_the_elasticsearch_sink_sends_bounded_bulks_and_marks_in_bounded_slices(
    tmp_path: Path,
) -> None:
    store = _Store()
    store.docs["old"] = {"lead_id": "old", "event": ("bank", "e99")}
    seen = {f"l{n}": "d" for n in range(7)}
    sink = _sink(store, tmp_path, seen, batch_size=3, scope_slice=4)
    sink.write([_lead(n) for n in range(4)])
    sink.write([_lead(n) for n in range(4, 7)])
    assert store.calls == [3, 3]
    sink.note_events([("bank", f"e{n}") for n in (*range(7), 99)])
    assert sink.flush() > 0 and store.calls == [3, 3, 1]
    sink.write([_lead(0), _lead(1)])
    counts = sink.close()
    assert store.scopes == [4, 4]  # eight pairs read, four at a time
    assert {k: v for k, v in counts.items() if v} == {"created": 7, "unchanged": 2, "superseded": 1}
    assert store.closed and not (tmp_path / "o.scope.jsonl").exists()


def test_an_interrupted_run_marks_nothing_and_a_resume_adds_to_its_counts(tmp_path: Path) -> None:
    store = _Store()
    store.docs["old"] = {"lead_id": "old", "event": ("bank", "e99")}
    sink = _sink(store, tmp_path, {"l1": "d"}, batch_size=3)
    sink.write([_lead(1)])
    sink.note_events([("bank", "e1"), ("bank", "e99")])
    size = sink.flush()
    saved = sink.counts()
    sink.note_events([("bank", "e5")])  # after the checkpoint: dropped on resume
    assert sink.close(complete=False)["created"] == 1 and store.scopes == []
    resumed = _sink(store, tmp_path, {"l1": "d", "l2": "d"},
                    keep=size, counts=saved)  # fmt: skip
    resumed.write([_lead(2)])
    resumed.note_events([("bank", "e2")])
    counts = resumed.close()
    assert (counts["created"], counts["superseded"]) == (2, 1)
    assert store.scopes == [3]  # e1, e99 kept from before the checkpoint, e2; e5 dropped


def test_the_rejects_file_keeps_its_mode_when_reused(tmp_path: Path) -> None:
    from batch.rejects import RejectsFile

    path = tmp_path / "r.jsonl"
    path.write_bytes(b"old\n")
    os.chmod(path, 0o644)
    rejects = RejectsFile(path)
    rejects.add({"file": "x", "line": 1}, "not_json", raw="x")
    rejects.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _leads(path) == [{"file": "x", "line": 1, "reason": "not_json", "raw": "x"}]


def test_an_unreachable_kafka_is_one_line_and_non_zero(tmp_path: Path) -> None:
    env = os.environ | {"TRACER_KAFKA_BOOTSTRAP": "127.0.0.1:9"}  # nothing listens there
    command = [TRACER, "reprocess", "--roster-topic", "--since", "2026-12-01T00:00:00Z",
               "--out", str(tmp_path / "o.jsonl")]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 1
    err = done.stderr.decode().strip()
    assert err.startswith("tracer: error:") and "Kafka" in err and "\n" not in err


def test_an_unreachable_elasticsearch_is_one_line_and_non_zero(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_bytes(b"")
    (tmp_path / "e.jsonl").write_bytes(b"")
    env = os.environ | {"TRACER_ELASTICSEARCH_URL": "http://127.0.0.1:9"}  # nothing listens
    command = [TRACER, "reprocess", "--roster", str(tmp_path / "r.jsonl"), "--events",
               str(tmp_path / "e.jsonl"), "--out", str(tmp_path / "o.jsonl"),
               "--elasticsearch"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 1
    err = done.stderr.decode().strip()
    assert err.startswith("tracer: error:") and "Elasticsearch" in err and "\n" not in err
    assert not (tmp_path / "o.jsonl").exists()  # refused before any work
