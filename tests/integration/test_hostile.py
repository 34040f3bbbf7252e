"""Hostile messages interleaved with valid events, streamed through a real worker.

Every hostile message (``tests/unit/matchers/hostile.py``) lands in ``deadletter`` with its
closed-set reason, the same reason ``tracer reprocess`` gives the same line; every valid event
makes the leads ``tracer reprocess`` makes; the worker keeps running. Names that look like
queries or scripts reach Elasticsearch as values and come back unchanged; a lead never shows a
control or bidirectional character.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.deadletter import original_value
from matchers.errors import REASONS
from tests.integration.streaming import (
    Run,
    drained,
    es,
    indexed_leads,
    publish,
    read_topic,
    reprocess,
    wait_until,
    write_world,
)
from tests.unit.matchers.hostile import (
    BROKER_LIMIT,
    EVENT,
    PERSON,
    hostile_messages,
    inert_events,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# Sent on their own (not lines of the events file): blank and line-broken messages, and those
# past 100 KB, whose dead letter the bounded dead letters of issue 11 keep small.
_LINELESS = {b"", b"  \n "}
_CONTROL_EVENT = EVENT | {
    "event_id": "hostile-control-1",
    "name": "\u2067张伟\u2069\u200b",
    "id_number": "\ufeff460105\u202e199001017124",
    "phone": "138\u200b1234\u200f5678",
}


def _hidden(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in text)


def _files(run: Run) -> tuple[list[bytes], dict[bytes, str]]:
    """Write the world with the hostile lines woven in; return the lines and the table."""
    write_world(run, people=3000, watchlist=300, events=3000, seed=17)
    roster = run.tmp / "roster.jsonl"
    roster.write_bytes(roster.read_bytes() + orjson.dumps(PERSON) + b"\n")
    table = {
        data: reason
        for _, data, reason in hostile_messages(run.settings.max_event_bytes)
        if len(data) < 100_000
    }
    woven = [d for d in table if d not in _LINELESS]
    woven += [orjson.dumps(e) for e in [*inert_events("h"), _CONTROL_EVENT]]
    lines = (run.tmp / "events.jsonl").read_bytes().splitlines()
    step = len(lines) // len(woven)
    for i, data in enumerate(woven):
        lines.insert(i * (step + 1), data)
    (run.tmp / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return lines, table


def _reprocess_reasons(run: Run, lines: list[bytes]) -> list[tuple[bytes, str]]:
    """(line, reason) of every events line ``tracer reprocess`` dead-lettered."""
    dead = Path(f"{run.tmp / 'reprocess.jsonl'}.deadletter.jsonl").read_bytes().splitlines()
    return [
        (lines[d["line"] - 1], d["reason"])
        for d in map(orjson.loads, dead)
        if Path(d["file"]).name == "events.jsonl"
    ]


def test_hostile_messages_are_dead_lettered_and_valid_events_make_their_leads(run: Run) -> None:
    lines, table = _files(run)
    expected = reprocess(run)
    offline = _reprocess_reasons(run, lines)
    # the same reasons offline as in the unit table
    assert {data: reason for data, reason in offline if data in table} == {
        data: reason for data, reason in table.items() if data not in _LINELESS
    }
    run.produce_world(events=False)
    worker = run.start_worker("worker")
    run.produce_world(roster=False)
    for data in _LINELESS:
        publish(run, "feeds.bank", data, b"lineless")
    # one more valid event after everything: the worker still matches
    last = inert_events("after")[0]
    publish(run, "feeds.bank", orjson.dumps(last), last["event_id"].encode())
    wait_until(
        lambda: (
            drained(run, len(expected) + 1)
            and len(read_topic(run, "deadletter")) >= len(offline) + len(_LINELESS)
        ),
        timeout=200,
        what="leads indexed, dead letters published, lag 0",
    )
    assert worker.poll() is None, run.log("worker")[-3000:]

    got = {doc["lead_id"]: doc for doc in indexed_leads(run)}
    after = [doc for doc in got.values() if doc["event_id"] == last["event_id"]]
    assert len(after) == 1
    assert set(got) - {after[0]["lead_id"]} == set(expected)
    for lead_id, lead in expected.items():
        assert (got[lead_id]["score"], got[lead_id]["tier"]) == (lead["score"], lead["tier"])

    _assert_dead_letters(run, offline + [(data, table[data]) for data in _LINELESS])
    _assert_shown_inert(run, got)


def _assert_dead_letters(run: Run, expected: list[tuple[bytes, str]]) -> None:
    """Each bad message dead-lettered once, at validation, with reprocess's reason."""
    letters = [orjson.loads(m.value) for m in read_topic(run, "deadletter")]
    assert all(x["stage"] == "validate" for x in letters)
    streamed = Counter((original_value(x) or b"", x["reason"]) for x in letters)
    assert streamed == Counter(expected)
    for letter in letters:
        assert letter["reason"] in REASONS
        assert "460105" not in (letter["detail"] or "")  # structure, never a value


def _assert_shown_inert(run: Run, got: dict[str, dict[str, Any]]) -> None:
    client = es()
    for event in inert_events("h"):
        name = event["name"]
        (doc,) = [d for d in got.values() if d["event_id"] == event["event_id"]]
        assert (doc["person_id"], doc["event_name"]) == (PERSON["person_id"], name)
        # a value: found by the exact term, and a query made of it is just a query
        found = client.search(
            index=run.settings.leads_alias,
            query={"term": {"event_name.keyword": name}},
            source=["event_id"],
        )
        assert {h["_source"]["event_id"] for h in found["hits"]["hits"]} <= {
            event["event_id"],
            "after-inert-0",
        }
        assert doc["lead_id"] in {h["_id"] for h in found["hits"]["hits"]}
        client.search(index=run.settings.leads_alias, query={"match": {"event_name": name}})
    (shown,) = [d for d in got.values() if d["event_id"] == _CONTROL_EVENT["event_id"]]
    assert "text_control_chars_removed" in shown["flags"]
    assert (shown["event_name"], shown["tier"]) == ("张伟", "high")
    texts = [shown["person_name"], shown["event_name"], *map(str, shown["explanation"].values())]
    texts += [str(v) for f in shown["explanation"]["fields"] for v in f.values()]
    assert not any(_hidden(t) for t in texts)


def test_messages_up_to_the_broker_limit_are_dead_lettered(run: Run) -> None:
    """Needs the bounded dead letters of issue 11 (point 1): a dead letter of a 900 KB message
    holds a prefix and a digest, not 1.2 MB of base64 that the producer refuses."""
    huge = {
        data: reason
        for _, data, reason in hostile_messages(run.settings.max_event_bytes)
        if len(data) >= 100_000
    }
    assert max(map(len, huge)) <= BROKER_LIMIT
    run.tracer("produce", "--roster", str(_roster(run)))
    worker = run.start_worker("worker")
    for data in huge:
        publish(run, "feeds.hukou", data, b"huge")
    last = inert_events("after-huge")[0]
    publish(run, "feeds.bank", orjson.dumps(last), last["event_id"].encode())
    wait_until(lambda: drained(run, 1), timeout=120, what="the event after the huge ones")
    assert worker.poll() is None
    letters = [orjson.loads(m.value) for m in read_topic(run, "deadletter")]
    assert sorted(x["reason"] for x in letters) == sorted(huge.values())


def _roster(run: Run) -> Path:
    path = run.tmp / "roster.jsonl"
    path.write_bytes(orjson.dumps(PERSON) + b"\n")
    return path
