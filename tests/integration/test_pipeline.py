"""The streaming pipeline end to end on the real local Kafka and Elasticsearch.

Each test gets its own topic prefix, consumer group and leads alias, runs real ``tracer worker``
subprocesses and publishes with ``tracer produce``, then compares what Elasticsearch holds with
what ``tracer reprocess`` computes offline from the same files. Elasticsearch going away
mid-stream (nothing lost, offsets held, /health degraded) is ``test_health.py``'s.
"""

from __future__ import annotations

import signal
import time
import uuid
from typing import Any

import orjson
import pytest

from connectors.deadletter import original_value
from contract import FEED_TOPICS
from tests.integration.streaming import (
    Run,
    drained,
    indexed_leads,
    lead_count,
    publish,
    read_topic,
    reprocess,
    wait_until,
    write_world,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_stream_equals_reprocess_dead_letters_and_closing(run: Run) -> None:
    write_world(run, people=3000, watchlist=300, events=3000, seed=11)
    expected = reprocess(run)
    bad_lines = (run.tmp / "reprocess.jsonl.deadletter.jsonl").read_bytes().splitlines()
    run.produce_world()
    extra = {
        b"\xff\xfe not utf-8": "not_utf8",
        b'{"event_id": "big", "source": "bank", "pad": "' + b"x" * 70_000 + b'"}': "oversized",
    }
    for value in extra:
        publish(run, "feeds.bank", value, b"odd")
    # A lead not of the matcher's shape (a score that is not a number, fields missing), as
    # anyone who can publish to the leads topic could write: dead-lettered at indexing.
    unmappable = {"lead_id": "bad-lead", "person_id": "nobody", "event_id": "x", "score": "high!"}
    publish(run, "leads", orjson.dumps(unmappable), b"bad-lead")
    run.start_worker("worker")
    wait_until(lambda: drained(run, len(expected)), timeout=150, what="leads indexed, lag 0")

    got = {doc["lead_id"]: doc for doc in indexed_leads(run)}
    assert set(got) == set(expected)
    assert all(doc["_id"] == lead_id for lead_id, doc in got.items())
    for lead_id, lead in expected.items():
        assert got[lead_id]["score"] == lead["score"]
        assert got[lead_id]["tier"] == lead["tier"]
        assert got[lead_id]["status"] == "new"

    _assert_dead_letters(run, len(bad_lines), extra, unmappable)
    _assert_lifecycle(run, expected)


def _assert_dead_letters(
    run: Run, bad_lines: int, extra: dict[bytes, str], unmappable: dict[str, Any]
) -> None:
    # Bad input: every malformed line is in the dead-letter topic, with reason and origin.
    lines = set((run.tmp / "events.jsonl").read_bytes().splitlines())
    letters = [orjson.loads(m.value) for m in read_topic(run, "deadletter")]
    assert len(letters) == bad_lines + len(extra) + 1 > len(extra) + 1
    for value, reason in extra.items():
        (letter,) = [x for x in letters if original_value(x) == value]
        assert letter["reason"] == reason and letter["key"] == "odd"
    (refused,) = [x for x in letters if x["stage"] == "index"]
    assert refused["topic"] == run.topic("leads") and refused["reason"] == "lead_invalid"
    assert refused["detail"] == "@timestamp: missing"
    assert orjson.loads(original_value(refused) or b"") == unmappable
    letters = [x for x in letters if original_value(x) not in extra and x["stage"] != "index"]
    feeds = {run.topic(t) for t in FEED_TOPICS}
    for letter in letters:
        assert letter["reason"] and letter["stage"] == "validate"
        assert letter["topic"] in feeds and letter["partition"] >= 0 and letter["offset"] >= 0
        assert original_value(letter) in lines


def _assert_lifecycle(run: Run, expected: dict[str, dict[str, Any]]) -> None:
    lines = set((run.tmp / "events.jsonl").read_bytes().splitlines())
    # A person located: their open leads close, and a new matching event makes no new lead.
    person_id = max(
        {lead["person_id"] for lead in expected.values()},
        key=lambda pid: sum(1 for lead in expected.values() if lead["person_id"] == pid),
    )
    roster = {
        r["person_id"]: r
        for r in map(orjson.loads, (run.tmp / "roster.jsonl").read_bytes().splitlines())
    }
    located = roster[person_id] | {
        "status": "located",
        "status_changed_at": "2026-11-30T09:00:00+08:00",
    }
    publish(run, "supervision.roster", orjson.dumps(located), person_id.encode())

    def closed() -> bool:
        docs = [d for d in indexed_leads(run) if d["person_id"] == person_id]
        return bool(docs) and all(d["status"] == "closed" for d in docs)

    wait_until(closed, timeout=30, what="the located person's leads to close")
    docs = [d for d in indexed_leads(run) if d["person_id"] == person_id]
    assert {d["review"]["closed_reason"] for d in docs} == {"roster_located"}
    others = [d for d in indexed_leads(run) if d["person_id"] != person_id]
    assert all(d["status"] == "new" for d in others)

    seen_event = next(lead for lead in expected.values() if lead["person_id"] == person_id)
    events = {e.get("event_id"): e for e in map(_maybe_json, lines) if isinstance(e, dict)}
    again = events[seen_event["event_id"]] | {"event_id": "replay-" + uuid.uuid4().hex}
    publish(run, f"feeds.{again['source']}", orjson.dumps(again), again["event_id"].encode())
    wait_until(lambda: drained(run, 0), timeout=30, what="the replayed event")
    time.sleep(1.0)
    assert not [
        d
        for d in indexed_leads(run)
        if d["event_id"] == again["event_id"] and d["person_id"] == person_id
    ]

    # Back to dropped_out: traced again; a new matching event makes a new, open lead.
    back = roster[person_id] | {"status_changed_at": "2026-11-30T10:00:00+08:00"}
    publish(run, "supervision.roster", orjson.dumps(back), person_id.encode())
    # The follower is outside the group: no offset says when it applied the change, so send
    # fresh copies of the event until one is matched (each has its own event_id).
    replays: list[str] = []

    def traced_again() -> bool:
        # A new event: it occurred after the trace began again (an older one is history).
        third = again | {"event_id": "replay-" + uuid.uuid4().hex}
        third["occurred_at"] = "2026-11-30T11:00:00+08:00"
        replays.append(third["event_id"])
        publish(run, f"feeds.{third['source']}", orjson.dumps(third), third["event_id"].encode())
        time.sleep(2.0)
        docs = [d for d in indexed_leads(run) if d["event_id"] in replays]
        return any(d["person_id"] == person_id and d["status"] == "new" for d in docs)

    wait_until(traced_again, timeout=30, what="a new lead for the person traced again")
    old_docs = [d for d in indexed_leads(run) if d["event_id"] == seen_event["event_id"]]
    assert {d["status"] for d in old_docs if d["person_id"] == person_id} == {"closed"}


def _maybe_json(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


@pytest.mark.chaos
def test_two_workers_one_killed_mid_stream_lose_and_duplicate_nothing(run: Run) -> None:
    write_world(run, people=6000, watchlist=600, events=24000, seed=12)
    expected = reprocess(run)
    roster_people = {
        orjson.loads(line)["person_id"]
        for line in (run.tmp / "roster.jsonl").read_bytes().splitlines()
    }
    run.produce_world()
    first = run.start_worker("worker-a")
    run.start_worker("worker-b")
    wait_until(lambda: lead_count(run) > len(expected) // 10, timeout=120, what="first leads")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = lead_count(run)
    run.start_worker("worker-a")
    wait_until(lambda: drained(run, len(expected)), timeout=180, what="leads indexed, lag 0")

    assert killed_at < len(expected), "the kill was not mid-stream"
    docs = indexed_leads(run)
    assert len(docs) == len({d["lead_id"] for d in docs}) == len(expected)
    assert {d["lead_id"]: d["score"] for d in docs} == {k: v["score"] for k, v in expected.items()}
    # Each worker holds the whole watchlist, whatever partitions the group gave it.
    for name in ("worker-a", "worker-b"):
        assert f"watchlist ready: {len(roster_people)} people" in run.log(name)
