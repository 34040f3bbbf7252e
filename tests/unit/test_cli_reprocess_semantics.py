"""``tracer reprocess`` applies the stream's rules: create-only lead ids, the trace window.

A later event under the same ``source`` + ``event_id`` never replaces the first one's lead: the
same content is a redelivery, other content a ``conflicting_duplicate`` dead letter; an event
from before a person's trace began makes no lead and is counted.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import Any

import orjson
import pytest

from matchers.leads import event_digest, lead_id
from simulator.population import IdentityFactory
from tests.unit.matchers.test_matcher import event_record, roster_record

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tracer.cli import main


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _reprocess(tmp_path: Path, roster: list[Any], events: list[Any]) -> tuple[Any, Any]:
    out = tmp_path / "leads.jsonl"
    args = ["--roster", str(_write(tmp_path / "r.jsonl", roster))]
    args += ["--events", str(_write(tmp_path / "e.jsonl", events)), "--out", str(out)]
    assert main(["reprocess", *args]) == 0
    leads = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    dead = [orjson.loads(x) for x in Path(f"{out}.deadletter.jsonl").read_bytes().splitlines()]
    return leads, dead


def test_first_event_wins_redelivery_is_quiet_other_content_is_dead_lettered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    person, other = IdentityFactory(random.Random(9)).people(2)
    first = event_record("e1", person, "bank")
    conflicting = event_record("e1", person, "bank", bank_code="BOC")
    same_id_other_source = event_record("e1", person, "telecom")
    no_lead = event_record("e1", other, "bank")  # the same id, but matches nobody
    events = [first, conflicting, dict(reversed(first.items())), same_id_other_source, no_lead]
    leads, dead = _reprocess(tmp_path, [roster_record(1, person)], events)

    by_id = {lead["lead_id"]: lead for lead in leads}
    bank_lead = lead_id("p00001", "bank", "e1")
    assert set(by_id) == {bank_lead, lead_id("p00001", "telecom", "e1")}
    assert by_id[bank_lead]["event_digest"] == event_digest(first)  # the first one stays
    assert [(d["line"], d["reason"], d["lead_id"]) for d in dead] == [
        (2, "conflicting_duplicate", bank_lead)
    ]
    summary = capsys.readouterr().out
    assert "2 leads" in summary and "1 conflicting duplicates" in summary
    assert "1 leads redelivered" in summary


def test_an_event_before_the_trace_began_makes_no_lead_and_is_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (person,) = IdentityFactory(random.Random(10)).people(1)
    roster = [roster_record(1, person) | {"status_changed_at": "2026-02-01T10:00:00+08:00"}]
    events = [
        # The window begins TRACER_RETRO_DAYS (90) before the drop-out: 2025-11-03T10:00+08:00.
        event_record("e1", person, "hukou", occurred_at="2025-11-03T09:59:59+08:00"),
        event_record("e2", person, "hukou", occurred_at="2025-11-03T10:00:00+08:00"),
    ]
    leads, dead = _reprocess(tmp_path, roster, events)
    assert [lead["event_id"] for lead in leads] == ["e2"] and dead == []
    assert "1 matches before the trace began" in capsys.readouterr().out
