"""A record batch the worker cannot decode, on the real broker: a dead letter, never a crash.

The broker refuses batches with a bad CRC or an unknown codec id (checked: CorruptRecordException,
UnknownError), but it stores a record whose header key is not UTF-8, which aiokafka cannot
decode (``UnicodeDecodeError`` out of the fetch: the worker used to die on it, and a restart met
it again). Such a batch is written here with a raw produce request, between two halves of a
feed and into the roster; the worker must dead-letter each once with reason
``undecodable_record``, make every lead ``tracer reprocess`` makes, and keep running.
"""

from __future__ import annotations

import asyncio
import struct

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.record.util import calc_crc32c

from tests.integration.streaming import (
    Run,
    drained,
    indexed_leads,
    read_topic,
    reprocess,
    wait_until,
    write_world,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _with_header_key_not_utf8(data: bytes) -> bytes:
    buf = bytearray(data.replace(b"HK", b"\xff\xfe"))
    struct.pack_into(">I", buf, 17, calc_crc32c(bytes(buf[21:])))  # a valid CRC: Kafka keeps it
    return bytes(buf)


async def publish_undecodable(bootstrap: str, topic: str, *, partition: int, count: int) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        batch = producer.create_batch()
        for i in range(count):
            value = b'{"event_id": "undecodable-%d", "source": "bank"}' % i
            batch.append(timestamp=None, key=b"k%d" % i, value=value, headers=[("HK", b"v")])
        batch.close()
        batch._buffer = _with_header_key_not_utf8(bytes(batch._builder.build()))
        del batch._builder
        sent = await producer.send_batch(batch, topic, partition=partition)
        return int((await sent).offset)
    finally:
        await producer.stop()


def test_an_undecodable_batch_is_dead_lettered_and_everything_around_it_flows(run: Run) -> None:
    write_world(run, people=1500, watchlist=150, events=1200, seed=31)
    expected = reprocess(run)
    bad_lines = len((run.tmp / "reprocess.jsonl.deadletter.jsonl").read_bytes().splitlines())
    events = (run.tmp / "events.jsonl").read_bytes().splitlines(keepends=True)
    (run.tmp / "first.jsonl").write_bytes(b"".join(events[:600]))
    (run.tmp / "second.jsonl").write_bytes(b"".join(events[600:]))
    bootstrap = run.settings.kafka_bootstrap

    run.produce_world(events=False)
    roster_at = asyncio.run(
        publish_undecodable(bootstrap, run.topic("supervision.roster"), partition=1, count=2)
    )
    run.tracer("produce", "--events", str(run.tmp / "first.jsonl"))
    feed_at = asyncio.run(
        publish_undecodable(bootstrap, run.topic("feeds.bank"), partition=0, count=3)
    )
    run.tracer("produce", "--events", str(run.tmp / "second.jsonl"))
    worker = run.start_worker("worker")

    def done() -> bool:
        assert worker.poll() is None, f"the worker stopped: {run.log('worker')[-1500:]}"
        return drained(run, len(expected))

    wait_until(done, timeout=180, what="leads indexed, lag 0")
    got = {doc["lead_id"]: doc["score"] for doc in indexed_leads(run)}
    assert got == {k: v["score"] for k, v in expected.items()} and got

    def letters() -> list[dict[str, object]]:
        return [orjson.loads(m.value) for m in read_topic(run, "deadletter")]

    wait_until(lambda: len(letters()) >= bad_lines + 2, timeout=30, what="the dead letters")
    undecodable = sorted(
        (
            (x["topic"], x["partition"], x["offset"], x["last_offset"])
            for x in letters()
            if x["reason"] == "undecodable_record"
        ),
        key=str,
    )
    assert undecodable == sorted(
        [
            (run.topic("feeds.bank"), 0, feed_at, feed_at + 2),
            (run.topic("supervision.roster"), 1, roster_at, roster_at + 1),
        ],
        key=str,
    )
    assert len(letters()) == bad_lines + 2  # once each
    assert worker.poll() is None
    assert "UnicodeDecodeError" in run.log("worker")  # named in the log, as the class only
