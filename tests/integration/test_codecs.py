"""Feeds as real producers send them: librdkafka, every codec, with and without keys, headers.

The producer is confluent-kafka (librdkafka, the client of kcat and of many banks' and
carriers' systems), not the project's kafka-python: the batches are compressed and framed the
way the issue met them. One world is cut into one slice per codec and keying; a real
``tracer worker`` must make exactly the leads ``tracer reprocess`` makes of the same files and
keep running.
"""

from __future__ import annotations

import itertools
from collections import Counter

import orjson
import pytest
from confluent_kafka import Producer

from connectors.kafka import route_event_line, route_roster_line
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

CODECS = ("gzip", "snappy", "lz4", "zstd")
HEADERS = [("origin-system", b"core-banking-7"), ("trace-id", b"\x00\x9f\x01")]


def _producer(run: Run, codec: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": run.settings.kafka_bootstrap,
            "compression.type": codec,
            "linger.ms": 50,  # many records a batch: compression works on batches
            "acks": "all",
        }
    )


def _publish(run: Run, lines: list[bytes], codec: str, *, keyed: bool, roster: bool) -> int:
    producer = _producer(run, codec)
    errors: list[object] = []
    for line in lines:
        route = route_roster_line(line) if roster else route_event_line(line)
        producer.produce(
            run.topic(route.topic),
            value=line,
            key=route.key if keyed or roster else None,
            headers=HEADERS,
            on_delivery=lambda err, _msg: errors.append(err) if err else None,
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors
    return len(lines)


def test_every_codec_keyed_or_not_from_librdkafka_makes_the_reprocess_leads(run: Run) -> None:
    write_world(run, people=2000, watchlist=200, events=2400, seed=21)
    expected = reprocess(run)
    roster = (run.tmp / "roster.jsonl").read_bytes().splitlines()
    events = (run.tmp / "events.jsonl").read_bytes().splitlines()
    _publish(run, roster, "zstd", keyed=True, roster=True)
    slices = list(itertools.product(CODECS, (True, False)))
    sent: Counter[str] = Counter()
    for i, (codec, keyed) in enumerate(slices):
        part = events[i :: len(slices)]
        sent[codec] += _publish(run, part, codec, keyed=keyed, roster=False)
    worker = run.start_worker("worker")

    def done() -> bool:
        assert worker.poll() is None, f"the worker stopped: {run.log('worker')[-1500:]}"
        return drained(run, len(expected))

    wait_until(done, timeout=180, what="leads indexed, lag 0")

    got = {doc["lead_id"]: doc for doc in indexed_leads(run)}
    assert set(got) == set(expected) and expected
    assert {k: d["score"] for k, d in got.items()} == {k: v["score"] for k, v in expected.items()}
    assert worker.poll() is None, "the worker stopped"
    assert "UnsupportedCodecError" not in run.log("worker")
    assert sum(sent.values()) == len(events)
    # kafka-python (the tests' consumers, tracer's commands) reads the same batches back.
    feeds = [m for t in ("feeds.hukou", "feeds.bank", "feeds.telecom") for m in read_topic(run, t)]
    assert sorted(m.value for m in feeds) == sorted(events)
    assert all(list(m.headers) == HEADERS for m in feeds)
    assert {m.key is None for m in feeds} == {True, False}
    letters = [orjson.loads(m.value) for m in read_topic(run, "deadletter")]
    assert {x["reason"] for x in letters}.isdisjoint({"undecodable_record"})
