"""An invalid roster update survives compaction and a restart: the last valid state is kept.

On the real broker, the run's roster topic is set to compact within seconds (tiny segments,
any dirty ratio), so the log cleaner really removes the older valid record. The worker before
the restart keeps that record in ``tracer.roster.valid``; the worker after it still watches
the person with that state, and the invalid update was dead-lettered once.
"""

from __future__ import annotations

import random
import signal
import time
import warnings
from typing import Any

import orjson
import pytest

from connectors.deadletter import original_value
from simulator.population import IdentityFactory
from tests.integration.streaming import (
    Run,
    indexed_leads,
    publish,
    read_topic,
    wait_until,
)
from tests.unit.matchers.test_matcher import event_record, roster_record

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

# Segments roll after 300 ms, and the cleaner takes any dirty share: compaction within one
# cleaner pass (the broker's log.cleaner.backoff.ms, 15 s by default).
FAST_COMPACTION = {
    "cleanup.policy": "compact",
    "min.compaction.lag.ms": "0",
    "segment.ms": "300",
    "min.cleanable.dirty.ratio": "0.001",
    "delete.retention.ms": "1000",
}


def _compact_fast(run: Run) -> None:
    admin = KafkaAdminClient(bootstrap_servers=run.settings.kafka_bootstrap)
    try:
        topic = run.topic("supervision.roster")
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs=FAST_COMPACTION)]
        )
    finally:
        admin.close()


def _records_of(run: Run, key: bytes) -> list[Any]:
    return [m for m in read_topic(run, "supervision.roster") if m.key == key]


def _partition_of(run: Run, key: bytes) -> int:
    (found,) = {m.partition for m in _records_of(run, key)}
    return int(found)


def _roll_segment(run: Run, partition: int) -> None:
    # A record appended after segment.ms closes the segment holding the invalid update, so
    # the cleaner may use it to drop the older valid record.
    time.sleep(0.5)
    producer = KafkaProducer(bootstrap_servers=run.settings.kafka_bootstrap, acks="all")
    filler = roster_record(999, IdentityFactory(random.Random(1)).people(1)[0], "active")
    producer.send(
        run.topic("supervision.roster"),
        key=filler["person_id"].encode(),
        value=orjson.dumps(filler),
        partition=partition,
    )
    producer.flush()
    producer.close()


def _consumer_count(run: Run, key: Any) -> int:
    consumer = KafkaConsumer(bootstrap_servers=run.settings.kafka_bootstrap)
    try:
        partitions = consumer.partitions_for_topic(run.topic(key)) or set()
        tps = [TopicPartition(run.topic(key), p) for p in partitions]
        return sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()


@pytest.mark.chaos
def test_invalid_update_after_compaction_and_restart_keeps_the_last_valid_state(run: Run) -> None:
    _compact_fast(run)
    person, other = IdentityFactory(random.Random(31)).people(2)
    valid = roster_record(1, person) | {"district": "kept-district"}
    key = valid["person_id"].encode()
    roster = run.tmp / "roster.jsonl"
    roster.write_bytes(orjson.dumps(valid) + b"\n" + orjson.dumps(roster_record(2, other)) + b"\n")
    run.tracer("produce", "--roster", str(roster))
    first = run.start_ready_worker("worker-a", timeout=90)

    time.sleep(0.5)  # the update lands in a later segment than the valid record
    invalid = orjson.dumps(valid | {"status": "escaped"})
    publish(run, "supervision.roster", invalid, key)

    def dead_letters() -> list[dict[str, Any]]:
        letters = [orjson.loads(m.value) for m in read_topic(run, "deadletter")]
        return [x for x in letters if x["stage"] == "roster"]

    wait_until(lambda: len(dead_letters()) == 1, timeout=60, what="the roster dead letter")
    kept = read_topic(run, "tracer.roster.valid")
    assert [(m.key, orjson.loads(m.value)) for m in kept] == [(key, valid)]
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=30)

    _roll_segment(run, _partition_of(run, key))

    def compacted() -> bool:
        return [orjson.loads(m.value)["status"] for m in _records_of(run, key)] == ["escaped"]

    wait_until(compacted, timeout=120, what="the log cleaner to drop the valid record")

    run.start_ready_worker("worker-b", timeout=90)
    event = event_record("after-restart", person, "bank")
    publish(run, "feeds.bank", orjson.dumps(event), b"after-restart")

    def lead() -> list[dict[str, Any]]:
        try:
            return [d for d in indexed_leads(run) if d["event_id"] == "after-restart"]
        except Exception:  # the index appears with the first lead
            return []

    wait_until(lambda: bool(lead()), timeout=60, what="a lead for the kept person")
    (found,) = lead()
    assert found["person_id"] == valid["person_id"]
    assert found["district"] == "kept-district"  # the last valid state, not a default
    time.sleep(3.0)  # the restarted roster agent had its chance to dead-letter again
    letters = dead_letters()
    assert len(letters) == 1 and original_value(letters[0]) == invalid
    assert _consumer_count(run, "tracer.roster.valid") == 1  # kept once, not again


async def test_follower_fetch_reads_one_record_again_by_offset(run: Run) -> None:
    from connectors.kafka import KafkaRosterFollower

    for n in range(3):
        publish(run, "supervision.roster", b'{"n": %d}' % n, b"same-key")
    (partition,) = {m.partition for m in _records_of(run, b"same-key")}

    async def nothing(_messages: Any) -> None:
        return None

    follower = KafkaRosterFollower(run.settings, run.topic("supervision.roster"), nothing)
    found = await follower.fetch(partition, 1)
    assert found is not None and (found.key, found.value, found.offset) == (
        b"same-key",
        b'{"n": 1}',
        1,
    )
    assert await follower.fetch(partition, 3) is None  # past the end: nothing there


async def test_follower_starts_over_after_a_failure_and_ends_on_the_workers_stop(
    run: Run,
) -> None:
    import asyncio

    from connectors.kafka import KafkaRosterFollower, RosterMessage
    from connectors.retry import Retrier, RetryCounter, RetryPolicy

    for n in range(3):
        publish(run, "supervision.roster", b'{"n": %d}' % n, b"p%d" % n)
    counts: dict[str, int] = {}
    failing: dict[str, float] = {}
    stop = asyncio.Event()
    retrier = Retrier(
        RetryPolicy(base_s=0.1, cap_s=0.5), stop=stop, observer=RetryCounter(counts, failing)
    )
    batches: list[list[RosterMessage]] = []

    async def handler(messages: Any) -> None:
        batches.append(list(messages))
        if len(batches) == 1:
            raise RuntimeError("a bug in the handler")  # the first session dies

    follower = KafkaRosterFollower(
        run.settings, run.topic("supervision.roster"), handler, retrier=retrier
    )
    task = asyncio.create_task(follower.run())
    await asyncio.wait_for(follower.caught_up.wait(), timeout=60)
    assert counts == {"roster": 1}  # one failed session, counted for the health endpoint
    assert failing == {}  # and no longer failing once it reads again
    offsets = sorted(m.offset for batch in batches[1:] for m in batch)
    assert len(offsets) == 3  # the second session read the roster from the beginning
    began = time.monotonic()
    stop.set()  # the worker's stop: the follower ends while waiting for more records
    await asyncio.wait_for(task, timeout=5)
    assert time.monotonic() - began < 2.0


async def test_a_follower_that_fails_every_session_stays_reported_failing(run: Run) -> None:
    import asyncio

    from connectors.kafka import KafkaRosterFollower
    from connectors.retry import Retrier, RetryCounter, RetryPolicy

    publish(run, "supervision.roster", b'{"n": 0}', b"p0")
    counts: dict[str, int] = {}
    failing: dict[str, float] = {}
    stop = asyncio.Event()
    retrier = Retrier(
        RetryPolicy(base_s=0.05, cap_s=0.2), stop=stop, observer=RetryCounter(counts, failing)
    )

    async def broken(_messages: Any) -> None:
        raise RuntimeError("a bug in the handler")  # every session dies on the same record

    follower = KafkaRosterFollower(
        run.settings, run.topic("supervision.roster"), broken, retrier=retrier
    )
    task = asyncio.create_task(follower.run())
    deadline = time.monotonic() + 60
    while "roster" not in failing and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    began = failing["roster"]
    while counts.get("roster", 0) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert counts.get("roster", 0) >= 4
    # The run of failures began at the first one and was never ended by a session that
    # connected but could not read: /health says roster_follower_failing after 10 s.
    assert failing.get("roster") == began
    assert not follower.caught_up.is_set()
    stop.set()
    await asyncio.wait_for(task, timeout=5)
