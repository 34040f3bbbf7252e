"""Duplicates and late drop-outs: the stream and ``tracer reprocess`` agree, or say why not.

On the real local Kafka and Elasticsearch, with a real ``tracer worker``:

* conflicting duplicates (another event under the same ``source`` + ``event_id``), exact
  redeliveries and one ``event_id`` under two sources: the same leads, and the same
  ``conflicting_duplicate`` lead ids dead-lettered, in the stream and offline;
* people who drop out in the middle of the day, after the stream saw events about them: no
  lead from an event before a person's trace began, in either path;
* people whose drop-out reaches the worker after it matched later events ("too late"): the
  stream alone would miss those leads (the worker counts these people); retro-matching searches
  their archived history when the drop-out arrives and brings them (streams/retro.py).

The trace window begins at the drop-out itself here (``TRACER_RETRO_DAYS=0``): the mid-day and
dawn trace starts are what this test is about.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.deadletter import original_value
from tests.integration.streaming import (
    Run,
    drained,
    indexed_leads,
    read_topic,
    wait_until,
    write_world,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NOON = "2026-11-29T12:00:00+08:00"  # trace start of the people who drop out mid-day
DAWN = "2026-11-29T06:00:00+08:00"  # trace start of the people whose drop-out comes too late
AT = ("03:00:00", "09:00:00", "15:00:00")  # a copy of their events before, between, after


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _offline(run: Run, roster: Path, events: Path) -> tuple[dict[str, Any], set[str]]:
    from tracer.commands.reprocess import reprocess as offline

    out = run.tmp / f"offline-{events.stem}.jsonl"
    offline(roster=roster, events=events, out=out, model=None)
    dead = _jsonl(Path(f"{out}.deadletter.jsonl"))
    conflicting = {d["lead_id"] for d in dead if d["reason"] == "conflicting_duplicate"}
    return {lead["lead_id"]: lead for lead in _jsonl(out)}, conflicting


def _day(lead: dict[str, Any]) -> str:
    return str(lead["occurred_at"])[11:19]


class World:
    """The run's files: the roster as the worker first sees it, the final one, two phases."""

    def __init__(self, run: Run) -> None:
        write_world(run, people=3000, watchlist=300, events=3000, seed=15)
        self.roster = _jsonl(run.tmp / "roster.jsonl")
        events = [e for e in _jsonl_lenient(run.tmp / "events.jsonl") if isinstance(e, dict)]
        base, _ = _offline(run, run.tmp / "roster.jsonl", run.tmp / "events.jsonl")
        by_event = {(lead["source"], lead["event_id"]): lead for lead in base.values()}
        raw = {(e.get("source"), e.get("event_id")): e for e in events}
        people = sorted({lead["person_id"] for lead in base.values()})
        self.mid_day, self.too_late = people[:4], people[4:8]
        copies = []
        for person in self.mid_day + self.too_late:
            key = next(k for k, lead in sorted(by_event.items()) if lead["person_id"] == person)
            for n, time in enumerate(AT):
                stamp = f"2026-11-29T{time}+08:00"
                copies.append(raw[key] | {"event_id": f"copy-{person}-{n}", "occurred_at": stamp})
        events = sorted(events + copies, key=lambda e: str(e.get("occurred_at")))
        self.phase1 = [e for e in events if str(e.get("occurred_at")) < NOON]
        self.phase2 = [e for e in events if str(e.get("occurred_at")) >= NOON]
        # Duplicates, after their originals: other content, the same bytes, another source.
        others = [lead for lead in by_event.values() if lead["person_id"] not in people[:8]]
        originals = [raw[(lead["source"], lead["event_id"])] for lead in others[:9]]
        self.phase2 += [e | {"resent": True} for e in originals[:4]]
        self.resent = {(e["source"], e["event_id"]) for e in originals[:4]}
        self.phase2 += [dict(e) for e in originals[4:7]]
        swap = {"hukou": "bank", "bank": "telecom", "telecom": "hukou"}
        self.phase2 += [e | {"source": swap[e["source"]]} for e in originals[7:9]]
        start = dict.fromkeys(self.mid_day, NOON) | dict.fromkeys(self.too_late, DAWN)
        self.final = [
            r | {"status_changed_at": start[r["person_id"]]} if r["person_id"] in start else r
            for r in self.roster
        ]
        self.updates = [r for r in self.final if r["person_id"] in start]
        self.first = [
            r | {"status": "active"} if r["person_id"] in start else r for r in self.final
        ]


def _jsonl_lenient(path: Path) -> list[Any]:
    out = []
    for line in path.read_bytes().splitlines():
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            out.append(None)
    return out


def test_duplicates_and_late_drop_outs_stream_equals_reprocess(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACER_RETRO_DAYS", "0")  # the worker's and reprocess's trace window
    world = World(run)
    tmp = run.tmp
    events = _write(tmp / "all-events.jsonl", world.phase1 + world.phase2)
    expected, conflicting = _offline(run, _write(tmp / "final.jsonl", world.final), events)
    assert conflicting == {
        k for k, lead in expected.items() if (lead["source"], lead["event_id"]) in world.resent
    }
    assert len(conflicting) >= len(world.resent) == 4
    # Offline, no lead from an event before the person's trace began.
    for lead in expected.values():
        if lead["person_id"] in world.mid_day:
            assert lead["occurred_at"] >= NOON
        if lead["person_id"] in world.too_late:
            assert lead["occurred_at"] >= DAWN
    # Events the worker matched before the late drop-out reached it: retro-matching's to bring.
    phase1 = {(e.get("source"), e.get("event_id")) for e in world.phase1}
    in_phase1 = {k for k, v in expected.items() if (v["source"], v["event_id"]) in phase1}
    missed = {k for k in in_phase1 if expected[k]["person_id"] in world.too_late}
    assert len(missed) >= len(world.too_late)  # at least their 09:00 copies
    phase1_leads = len(in_phase1 - missed)

    run.tracer("produce", "--roster", str(_write(tmp / "first.jsonl", world.first)))
    run.start_worker("worker")
    run.tracer("produce", "--events", str(_write(tmp / "phase1.jsonl", world.phase1)))
    wait_until(lambda: drained(run, phase1_leads), timeout=120, what="phase 1 indexed")
    run.tracer("produce", "--roster", str(_write(tmp / "updates.jsonl", world.updates)))

    def applied() -> int:
        return sum(int(n) for n in re.findall(r"roster: (\d+) records applied", run.log("worker")))

    wait_until(lambda: applied() >= len(world.updates), timeout=60, what="the drop-outs")
    run.tracer("produce", "--events", str(_write(tmp / "phase2.jsonl", world.phase2)))
    wait_until(lambda: drained(run, len(expected)), timeout=120, what="phase 2 indexed")

    got = {doc["lead_id"]: doc for doc in indexed_leads(run)}
    assert set(got) == set(expected)
    for lead_id, doc in got.items():
        assert (doc["score"], doc["event_digest"]) == (
            expected[lead_id]["score"],
            expected[lead_id]["event_digest"],
        )
    letters = [orjson.loads(m.value) for m in read_topic(run, "deadletter")]
    streamed = {
        orjson.loads(original_value(x) or b"")["lead_id"]
        for x in letters
        if x["reason"] == "conflicting_duplicate"
    }
    assert streamed == conflicting
    assert f"({len(world.too_late)} people so far)" in run.log("worker")
