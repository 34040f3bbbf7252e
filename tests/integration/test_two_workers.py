"""Two workers in one consumer group, on the real local Kafka and Elasticsearch.

* Every worker reads the whole roster (outside the group), but an invalid roster record is
  dead-lettered once per group: by the worker that owns its roster partition.
* A person closed while both workers are creating their leads ends with no open lead, whichever
  worker matched, wrote or closed what.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from connectors.deadletter import original_value
from connectors.kafka import consumer_lag
from tests.integration.streaming import (
    Run,
    drained,
    es_proxy,
    indexed_leads,
    publish,
    read_topic,
    reprocess,
    wait_until,
    write_world,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BAD_ROSTER: tuple[bytes, ...] = (
    b"not json at all",
    b"[1, 2, 3]",
    b'"a string"',
    b'{"person_id": "bad-1", "status": "dropped_out", "status_changed_at": "2026-01-01"}',
    b'{"person_id": "bad-2", "name": "\xe5\xbc\xa0\xe4\xbc\x9f", "status": "gone"}',
    b'{"person_id": "bad-3", "name": "Li Na", "status": "located", "status_changed_at": 7}',
)


def _publish_partitioned(run: Run, key: Any, messages: list[tuple[int, bytes, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=run.settings.kafka_bootstrap, acks="all")
    for partition, msg_key, value in messages:
        producer.send(run.topic(key), key=msg_key, value=value, partition=partition)
    producer.flush()
    producer.close()


def _bad_roster(tag: str, partitions: int) -> list[tuple[int, bytes, bytes]]:
    """Every kind of bad record on every roster partition, each with its own key."""
    return [
        (partition, f"{tag}-{partition}-{n}".encode(), value)
        for partition in range(partitions)
        for n, value in enumerate(BAD_ROSTER)
    ]


def _roster_letters(run: Run) -> list[dict[str, Any]]:
    letters = [orjson.loads(m.value) for m in read_topic(run, "deadletter")]
    return [x for x in letters if x["stage"] == "roster"]


def test_two_workers_dead_letter_each_bad_roster_record_once(run: Run) -> None:
    write_world(run, people=1000, watchlist=100, events=200, seed=21)
    run.produce_world(events=False)
    partitions = run.settings.feed_partitions
    early = _bad_roster("early", partitions)  # waiting when the workers start
    _publish_partitioned(run, "supervision.roster", early)
    run.start_worker("worker-a")
    run.start_worker("worker-b")
    run.wait_ready("worker-a", "worker-b", timeout=90)
    late = _bad_roster("late", partitions)  # arriving while both follow the roster
    _publish_partitioned(run, "supervision.roster", late)
    sent = early + late
    roster_topic = run.topic("supervision.roster")

    def settled() -> bool:
        group = run.settings.consumer_group
        done = consumer_lag(run.settings, group, [roster_topic]) == 0
        return done and len(_roster_letters(run)) >= len(sent)

    wait_until(settled, timeout=90, what="the roster agent to commit past every bad record")
    time.sleep(3.0)  # room for a duplicate to show up

    letters = _roster_letters(run)
    origins = Counter((x["topic"], x["partition"], x["offset"]) for x in letters)
    assert len(letters) == len(sent) and max(origins.values()) == 1
    assert {(x["partition"], x["key"], original_value(x)) for x in letters} == {
        (partition, key.decode(), value) for partition, key, value in sent
    }
    assert all(x["topic"] == roster_topic and x["reason"] for x in letters)
    # Both followers saw every bad record; each record was dead-lettered by one worker only.
    logs = [run.log(name) for name in ("worker-a", "worker-b")]
    for log in logs:
        assert log.count("roster: invalid record") >= len(sent)
    written = [
        (partition, offset)
        for log in logs
        for partition, offset in _dead_lettered(log)
        if (roster_topic, partition, offset) in origins
    ]
    assert sorted(written) == sorted((p, o) for _, p, o in origins)
    assert all(_dead_lettered(log) for log in logs), "one worker owned every roster partition"


def _dead_lettered(log: str) -> list[tuple[int, int]]:
    marker = "roster: dead letter for partition "
    found = []
    for line in log.splitlines():
        if marker in line:
            partition, _, offset = line.split(marker, 1)[1].split()[:3]
            found.append((int(partition), int(offset)))
    return found


def test_two_workers_close_a_person_whose_leads_are_being_created(run: Run) -> None:
    write_world(run, people=2000, watchlist=200, events=2000, seed=22)
    expected = reprocess(run)
    roster = {
        r["person_id"]: r
        for r in map(orjson.loads, (run.tmp / "roster.jsonl").read_bytes().splitlines())
    }
    lead = next(x for x in expected.values() if x["tier"] == "high")
    person_id = lead["person_id"]
    event = next(
        e
        for e in map(_maybe_json, (run.tmp / "events.jsonl").read_bytes().splitlines())
        if isinstance(e, dict) and e.get("event_id") == lead["event_id"]
    )
    run.produce_world(events=False)
    # Slow lead writes (searches and closing updates are not slowed): a close that did not
    # wait for the writes in flight on its worker would search before they land.
    proxy = es_proxy(slow_bulk_s=0.4)
    proxy.start()
    run.through(proxy)
    try:
        _race(run, roster[person_id], event)
    finally:
        proxy.stop()
    docs = [d for d in indexed_leads(run) if d["person_id"] == person_id]
    copies = [d for d in docs if d["event_id"].startswith(_EventSender.prefix)]
    assert copies, "no lead was created while the person was traced"
    still_open = [d["event_id"] for d in docs if d["status"] != "closed"]
    assert still_open == [], f"{len(still_open)} of {len(docs)} leads left open"
    assert {d["review"]["closed_reason"] for d in docs} == {"roster_located"}


def _race(run: Run, person: dict[str, Any], event: dict[str, Any]) -> None:
    run.start_worker("worker-a")
    run.start_worker("worker-b")
    run.wait_ready("worker-a", "worker-b", timeout=90)
    # Copies of a matching event stream in on every feed partition while the person is
    # located, traced again, and located again: leads are being matched, sent and written
    # on both workers at each change.
    statuses = [(3.0, "located"), (6.0, "dropped_out"), (9.0, "located")]
    sender = _EventSender(run, event, rate=600, seconds=12.0)
    sender.start()
    started = time.monotonic()
    for at, status in statuses:
        time.sleep(max(0.0, at - (time.monotonic() - started)))
        record = person | {
            "status": status,
            "status_changed_at": f"2026-11-30T1{int(at)}:00:00+08:00",
        }
        publish(run, "supervision.roster", orjson.dumps(record), person["person_id"].encode())
    sender.join()
    wait_until(lambda: drained(run, 0), timeout=150, what="every copy matched and indexed")
    time.sleep(3.0)  # closes requested by the last roster change run after the writes
    assert sender.sent > 0


class _EventSender(threading.Thread):
    """Publish fresh copies of one event at ``rate`` per second for ``seconds``."""

    prefix = "race-"

    def __init__(self, run: Run, event: dict[str, Any], *, rate: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.run_, self.event, self.rate, self.seconds = run, event, rate, seconds
        self.sent = 0

    def run(self) -> None:
        producer = KafkaProducer(
            bootstrap_servers=self.run_.settings.kafka_bootstrap, acks="all", linger_ms=5
        )
        topic = self.run_.topic(f"feeds.{self.event['source']}")
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < self.seconds:
            while self.sent < int(elapsed * self.rate):
                event_id = f"{self.prefix}{self.sent:07d}"
                value = orjson.dumps(self.event | {"event_id": event_id})
                producer.send(topic, key=event_id.encode(), value=value)
                self.sent += 1
            time.sleep(0.01)
        producer.flush()
        producer.close()


def _maybe_json(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
