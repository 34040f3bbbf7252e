"""Bounded publishing and shutdown on the real local Kafka and Elasticsearch (issue 11).

* A 900 KB event (under Kafka's 1 MB, far over ``max_event_bytes``) is dead-lettered as a
  bounded stub, and the 1,000 events behind it on the same partition all make their leads.
  (Before: its dead letter, the whole event in base64, exceeded the producer's limit and was
  retried for ever; nothing behind it was matched, and SIGTERM did not stop the worker.)
* A roster record with a 1 MB name is refused as ``oversized`` (dead-lettered once, bounded),
  and the leads keep flowing.
* A lead the leads topic refuses for good becomes a bounded stub in the dead-letter topic
  (``publish_rejected_too_large``, with the origin of the event), and the stream goes on.
* SIGTERM ends a worker within 10 s whatever it is stuck on: a publish failing for ever with a
  transient error or never acknowledged (a fault-injecting wrapper of the dead-letter topic:
  ``faulty_worker.py``), Elasticsearch away; only what was fully handled is committed, and a
  restarted worker finishes the job.

Each test prints the time SIGTERM took (``pytest -s`` shows them).
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
import warnings
from typing import Any

import orjson
import pytest

with warnings.catch_warnings():  # kafka-python warns once on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaProducer
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
    from kafka.structs import TopicPartition

from connectors.deadletter import DEFAULT_MAX_DEAD_LETTER_BYTES, decode_dead_letter, kept_value
from connectors.kafka import route_event_line
from tests.integration.streaming import (
    Run,
    drained,
    es_proxy,
    free_port,
    indexed_leads,
    lag,
    lead_count,
    read_topic,
    reprocess,
    wait_until,
    write_world,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SIGTERM_BOUND_S = 10.0


def _publish_to_partition(
    run: Run, key: Any, partition: int, messages: list[tuple[bytes | None, bytes]]
) -> None:
    producer = KafkaProducer(bootstrap_servers=run.settings.kafka_bootstrap, acks="all")
    for msg_key, value in messages:
        producer.send(run.topic(key), key=msg_key, value=value, partition=partition)
    producer.flush()
    producer.close()


def _event_lines(run: Run) -> list[tuple[bytes | None, bytes]]:
    lines = (run.tmp / "events.jsonl").read_bytes().splitlines()
    return [(route_event_line(line).key, line) for line in lines if line.strip()]


def _committed(run: Run, key: Any, partition: int) -> int | None:
    admin = KafkaAdminClient(bootstrap_servers=run.settings.kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets({run.settings.consumer_group: None})
    finally:
        admin.close()
    found = offsets.get(run.settings.consumer_group, {}).get(
        TopicPartition(run.topic(key), partition)
    )
    return None if found is None or found.offset < 0 else int(found.offset)


def _set_topic_config(run: Run, key: Any, configs: dict[str, str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=run.settings.kafka_bootstrap)
    try:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, run.topic(key), configs=configs)]
        )
    finally:
        admin.close()


def _sigterm(proc: subprocess.Popen[bytes], what: str) -> tuple[float, int]:
    """SIGTERM ``proc``; return how long it took to exit, and its exit code."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"SIGTERM did not stop the worker ({what}) in 30 s") from None
    elapsed = time.monotonic() - started
    print(f"\nSIGTERM -> exit, {what}: {elapsed:.2f} s (exit code {code})")
    return elapsed, code


def test_a_900_kb_event_is_dead_lettered_bounded_and_the_events_behind_it_match(run: Run) -> None:
    write_world(run, people=2000, watchlist=300, events=1000, seed=21)
    expected = reprocess(run)
    run.produce_world(events=False)
    big = b'{"event_id": "big-1", "source": "hukou", "pad": "' + b"x" * 900_000 + b'"}'
    valid = _event_lines(run)
    assert len(valid) == 1000
    # All on one partition, the big one first: everything behind it waits on it.
    _publish_to_partition(run, "feeds.hukou", 0, [(b"big-1", big), *valid])
    worker = run.start_worker("worker")
    wait_until(lambda: drained(run, len(expected)), timeout=180, what="every lead, lag 0")

    got = {doc["lead_id"]: doc for doc in indexed_leads(run)}
    assert set(got) == set(expected) and expected
    messages = read_topic(run, "deadletter")
    (message,) = [m for m in messages if decode_dead_letter(m.value)["offset"] == 0]
    assert len(message.value) <= DEFAULT_MAX_DEAD_LETTER_BYTES
    assert message.key == b"big-1"
    letter = decode_dead_letter(message.value)
    assert letter["reason"].startswith("oversized")
    assert (letter["topic"], letter["partition"]) == (run.topic("feeds.hukou"), 0)
    assert letter["value_truncated"] is True
    assert letter["value_size"] == len(big)
    assert letter["value_sha256"] == hashlib.sha256(big).hexdigest()
    prefix = kept_value(letter)
    assert prefix and big.startswith(prefix)
    # The malformed lines of the world are dead-lettered as before, whole.
    others = [decode_dead_letter(m.value) for m in messages if m is not message]
    assert others and not any(x["value_truncated"] for x in others)

    elapsed, code = _sigterm(worker, "healthy and idle")
    assert elapsed < SIGTERM_BOUND_S and code == 0


def test_a_roster_record_with_a_1_mb_name_is_refused_and_leads_keep_flowing(run: Run) -> None:
    write_world(run, people=2000, watchlist=300, events=1000, seed=22)
    expected = reprocess(run)
    roster = [orjson.loads(line) for line in (run.tmp / "roster.jsonl").read_bytes().splitlines()]
    base = next(r for r in roster if r["status"] == "dropped_out" and r.get("id_number"))
    huge = base | {"person_id": "huge-name-1", "name": base["name"] + " " + "a" * 1_000_000}
    huge_value = orjson.dumps(huge)
    assert 1_000_000 < len(huge_value) < 1_048_576  # publishable, over the broker's default
    run.produce_world(events=False)
    _publish_to_partition(run, "supervision.roster", 0, [(b"huge-name-1", huge_value)])
    run.start_ready_worker("worker")
    # The events come after the roster: one of them would match the huge-named person.
    run.produce_world(roster=False)
    wait_until(lambda: drained(run, len(expected)), timeout=180, what="every lead, lag 0")

    docs = indexed_leads(run)
    assert {d["lead_id"] for d in docs} == set(expected)
    assert not [d for d in docs if d["person_id"] == "huge-name-1"]
    assert max(len(orjson.dumps(d)) for d in docs) < 64 * 1024
    wait_until(
        lambda: any(
            decode_dead_letter(m.value)["stage"] == "roster" for m in read_topic(run, "deadletter")
        ),
        timeout=30,
        what="the roster dead letter",
    )
    (message,) = [
        m for m in read_topic(run, "deadletter") if decode_dead_letter(m.value)["stage"] == "roster"
    ]
    letter = decode_dead_letter(message.value)
    assert len(message.value) <= DEFAULT_MAX_DEAD_LETTER_BYTES
    assert letter["reason"] == "oversized"
    assert letter["value_size"] == len(huge_value) and letter["value_truncated"] is True
    assert letter["value_sha256"] == hashlib.sha256(huge_value).hexdigest()


def test_leads_kafka_refuses_become_bounded_stubs_and_the_stream_goes_on(run: Run) -> None:
    write_world(run, people=2000, watchlist=300, events=1000, seed=23)
    expected = reprocess(run)
    # The leads topic refuses every lead for good (MESSAGE_TOO_LARGE, a permanent error).
    _set_topic_config(run, "leads", {"max.message.bytes": "256"})
    run.produce_world()
    # One stub per lead: no retro re-publication at the first roster load (a known gap,
    # docs/design.md "Retro-matching").
    run.start_worker("worker", TRACER_EVENT_ARCHIVE="false")
    wait_until(
        lambda: lag(run) == 0 and "watchlist ready" in run.log("worker"),
        timeout=120,
        what="every event handled, lag 0",
    )
    letters = [decode_dead_letter(m.value) for m in read_topic(run, "deadletter")]
    stubs = [x for x in letters if x["stage"] == "publish"]
    assert {x["reason"] for x in stubs} == {"publish_rejected_too_large"}
    assert len(stubs) == len(expected)
    feeds = {run.topic(t) for t in ("feeds.hukou", "feeds.bank", "feeds.telecom")}
    for stub in stubs:
        assert stub["topic"] in feeds and stub["offset"] >= 0  # the event the lead came from
        assert stub["value_b64"] is None and "leads message of" in stub["detail"]
    assert lead_count(run) == 0


def _faulty_worker(run: Run, mode: str, **env: str) -> subprocess.Popen[bytes]:
    with (run.tmp / "worker.log").open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.faulty_worker", str(free_port()), mode],
            env=run.env | env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    run.workers.append(worker)
    return worker


@pytest.mark.chaos
@pytest.mark.parametrize("mode", ["raise", "hang"])
def test_sigterm_ends_a_worker_whose_dead_letters_never_get_out(run: Run, mode: str) -> None:
    write_world(run, people=500, watchlist=50, events=10, seed=25)
    run.produce_world(events=False)
    worker = _faulty_worker(run, mode)
    wait_until(lambda: "watchlist ready" in run.log("worker"), timeout=60, what="the worker")
    _publish_to_partition(run, "feeds.bank", 0, [(b"bad-1", b"not json at all")])
    if mode == "raise":
        wait_until(
            lambda: "publish failed (publish failed: KafkaTimeoutError)" in run.log("worker"),
            timeout=30,
            what="the publish retrying",
        )
    time.sleep(3.0)
    assert lag(run) > 0
    what = "a dead letter failing for ever" if mode == "raise" else "a dead letter never acked"
    elapsed, _code = _sigterm(worker, what)
    assert elapsed < SIGTERM_BOUND_S
    # Not handled, so not committed: read again after a restart, which handles it.
    assert (_committed(run, "feeds.bank", 0) or 0) == 0
    run.start_worker("again")
    wait_until(lambda: drained(run, 0), timeout=90, what="the event handled after restart")
    (message,) = read_topic(run, "deadletter")
    assert kept_value(decode_dead_letter(message.value)) == b"not json at all"


@pytest.mark.chaos
def test_sigterm_ends_a_worker_whose_elasticsearch_is_away_and_loses_nothing(run: Run) -> None:
    write_world(run, people=2000, watchlist=200, events=1000, seed=24)
    expected = reprocess(run)
    proxy = es_proxy()
    proxy.start()
    real = run.settings
    run.through(proxy)
    run.produce_world(events=False)
    try:
        worker = run.start_ready_worker("worker")
        proxy.stop()
        run.produce_world(roster=False)
        wait_until(
            lambda: "index failed (Elasticsearch" in run.log("worker"),
            timeout=60,
            what="the lead writer retrying",
        )
        elapsed, _code = _sigterm(worker, "Elasticsearch away, the lead writer retrying")
        assert elapsed < SIGTERM_BOUND_S
        assert lead_count(run) == 0
        assert lag(run) > 0  # the leads were not written, so their offsets did not move
    finally:
        proxy.stop()
    run.settings = real
    run.start_worker("again")
    wait_until(lambda: drained(run, len(expected)), timeout=120, what="leads after restart")
    docs = indexed_leads(run)
    assert len(docs) == len(expected)
    assert {d["lead_id"] for d in docs} == set(expected)


@pytest.mark.chaos
def test_a_shutdown_that_hangs_is_cut_at_the_stop_deadline(run: Run) -> None:
    write_world(run, people=200, watchlist=20, events=10, seed=26)
    run.produce_world(events=False)
    worker = _faulty_worker(run, "stuck-shutdown", TRACER_WORKER_STOP_TIMEOUT_SECONDS="4")
    wait_until(lambda: "watchlist ready" in run.log("worker"), timeout=60, what="the worker")
    elapsed, code = _sigterm(worker, "Faust's shutdown hanging (stop deadline 4 s)")
    assert 4.0 <= elapsed < 6.0
    assert code == 70  # forced: not a clean stop
    assert "still stopping after 4s; exiting now" in run.log("worker")
