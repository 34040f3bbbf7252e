"""The agents driven through Faust's ``agent.test_context()``: no Kafka, no Elasticsearch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError
from faust.types.tuples import Message

from connectors.deadletter import decode_dead_letter, original_value
from connectors.elasticsearch import InMemoryLeadIndexer
from connectors.errors import RetryGaveUp, ServiceUnavailable
from connectors.event_archive import InMemoryEventArchive
from connectors.kafka import RosterMessage
from matchers.records import parse_event_bytes
from streams import agents
from streams.agents import request_stop
from streams.app import build_pipeline
from streams.archiver import EventArchiver
from streams.parts import Pipeline
from tests.unit.streams.fakes import FakeMatcher, event, record, roster

SETTINGS = SimpleNamespace(
    kafka_bootstrap="127.0.0.1:1",
    kafka_security_protocol="PLAINTEXT",
    topic_prefix="unit.",
    consumer_group="tracer-unit",
    feed_partitions=2,
    worker_web_host="127.0.0.1",
    worker_web_port=16999,
    max_event_bytes=4096,
    bulk_max_actions=10,
    bulk_flush_seconds=0.05,
    worker_health_lag_threshold=1000,
    max_roster_bytes=4096,
    max_lead_bytes=8192,
    max_dead_letter_bytes=16 * 1024,
    event_future_margin_s=86_400,
)


class RecordingTopic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []

    async def send(self, *, key: bytes | None, value: bytes) -> None:
        self.sent.append((key, value))


@pytest.fixture
def pipeline(tmp_path: Any) -> Pipeline:
    p = build_pipeline(
        SETTINGS,
        matcher=FakeMatcher(),
        parse_event=parse_event_bytes,
        indexer=InMemoryLeadIndexer(),
        web_enabled=False,
        datadir=tmp_path,
    )
    p.leads, p.deadletter = RecordingTopic(), RecordingTopic()
    p.watchlist.apply(RosterMessage(b"p1", roster("p1"), 0, 0, None))
    p.follower.caught_up.set()
    return p


async def settle(check: Any) -> None:
    for _ in range(100):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("agent did not get there")


async def test_feed_agent_emits_leads_and_dead_letters(pipeline: Pipeline) -> None:
    agent = pipeline.app.agents["tracer.match_feeds"]
    async with agent.test_context() as ctx:
        # The consumer delivers the records of one partition and fetch as one batch.
        await ctx.put((record(event("e1"), key=b"e1", offset=0),))
        await ctx.put(
            (
                record(b"[not, an, object]", key=b"e2", offset=1),
                record(event("e3", name="王芳"), key=b"e3", offset=2),
            )
        )
        await settle(lambda: pipeline.stats.events == 3)
    assert [key for key, _ in pipeline.leads.sent] == [b"p1:e1"]
    assert pipeline.watchlist.ready.is_set()
    ((key, value),) = pipeline.deadletter.sent
    letter = decode_dead_letter(value)
    assert key == b"e2" and letter["reason"] == "not_json"
    assert original_value(letter) == b"[not, an, object]"


async def test_indexer_agent_writes_batches_and_dead_letters_rejects(pipeline: Pipeline) -> None:
    indexer = pipeline.indexer
    assert isinstance(indexer, InMemoryLeadIndexer)
    indexer.reject["p1:bad"] = (400, "mapper_parsing_exception")
    agent = pipeline.app.agents["tracer.index_leads"]
    leads = [
        {"lead_id": f"p1:{e}", "person_id": "p1", "event_id": e, "status": "new"}
        for e in ("e1", "e2", "e1", "bad")
    ]
    records = [
        record(orjson.dumps(lead), topic="leads", offset=n, key=lead["lead_id"].encode())
        for n, lead in enumerate(leads)
    ]
    async with agent.test_context() as ctx:
        await ctx.put(tuple(records[:3]))
        await ctx.put(tuple(records[3:]))
        await settle(lambda: pipeline.deadletter.sent)
    assert sorted(indexer.documents) == ["p1:e1", "p1:e2"]
    assert pipeline.stats.leads_present == 1
    ((_key, value),) = pipeline.deadletter.sent
    assert decode_dead_letter(value)["reason"] == "mapper_parsing_exception"


async def test_roster_agent_dead_letters_what_the_follower_found_invalid(
    pipeline: Pipeline,
) -> None:
    values = [roster("p2"), b"[1, 2]", b'{"person_id": "p3", "status": "weird"}', roster("p4")]
    agent = pipeline.app.agents["tracer.dead_letter_roster"]
    async with agent.test_context() as ctx:
        records = [
            record(value, topic="supervision.roster", partition=1, offset=n, key=b"k%d" % n)
            for n, value in enumerate(values)
        ]
        await ctx.put(tuple(records[:2]), wait=False)
        await ctx.put(tuple(records[2:]), wait=False)
        await asyncio.sleep(0.05)
        assert pipeline.deadletter.sent == []  # the follower has not read them yet
        # This worker's follower reads the same records (partition 1, offsets 0-3).
        await pipeline.watchlist.on_roster(
            [RosterMessage(b"k%d" % n, v, 1, n, None) for n, v in enumerate(values)]
        )
        await settle(lambda: len(pipeline.deadletter.sent) == 2)
        await asyncio.sleep(0.05)
    letters = [decode_dead_letter(value) for _key, value in pipeline.deadletter.sent]
    assert [key for key, _ in pipeline.deadletter.sent] == [b"k1", b"k2"]
    assert [(x["stage"], x["partition"], x["offset"]) for x in letters] == [
        ("roster", 1, 1),
        ("roster", 1, 2),
    ]
    assert letters[0]["reason"] == "not_object"
    assert letters[1]["reason"] == "status: invalid"
    assert [original_value(x) for x in letters] == values[1:3]
    assert pipeline.stats.roster_dead_letters == 2
    # The one counter path: roster dead letters are dead letters, by reason, too.
    assert pipeline.stats.by_reason == {"not_object": 1, "status: invalid": 1}
    assert pipeline.stats.dead_letters == 2
    assert pipeline.watchlist.status_of("p4") == "dropped_out"


# --- stopping: a batch given up on is settled for Faust, never acknowledged -----------------


class FailingTopic(RecordingTopic):
    """A topic whose every send fails with a transient error (a broker that does not answer)."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def send(self, *, key: bytes | None, value: bytes) -> None:
        self.attempts += 1
        raise KafkaTimeoutError()


@pytest.fixture
def committed(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], bool]:
    """Whether the stream acknowledged a message for the commit (faust-streaming 0.15).

    The pure-Python stream calls ``Message.on_final_ack`` (a consumer's message then calls
    ``Consumer.ack``); the compiled stream inlines ``Consumer.ack`` and records the offset in
    ``consumer._acked``. Either one is what Faust commits.
    """
    monkeypatch.setattr(pipeline.app.topics, "acks_enabled_for", lambda _topic: True)
    consumer = pipeline.app.consumer
    final_acks: list[Any] = []
    final_ack = Message.on_final_ack

    def on_final_ack(self: Message, consumer: Any) -> bool:
        final_acks.append(self)
        return final_ack(self, consumer)

    monkeypatch.setattr(Message, "on_final_ack", on_final_ack)
    return lambda m: m in final_acks or m.offset in consumer._acked.get(m.tp, ())


async def test_a_batch_whose_dead_letter_cannot_be_published_stays_uncommitted_at_stop(
    pipeline: Pipeline, committed: Callable[[Any], bool]
) -> None:
    pipeline.deadletter = FailingTopic()
    agent = pipeline.app.agents["tracer.match_feeds"]
    async with agent.test_context() as ctx:
        good = await ctx.put((record(event("e1"), key=b"e1", offset=0),))
        stuck = await ctx.put((record(b"not json", key=b"e2", offset=1),), wait=False)
        await settle(lambda: pipeline.deadletter.attempts >= 2)  # retrying with backoff
        assert pipeline.stats.retries["publish"] >= 1
        assert "publish" in pipeline.stats.failing_since
        started = asyncio.get_running_loop().time()
        request_stop(pipeline)
        await settle(lambda: stuck.message.acked)
        assert asyncio.get_running_loop().time() - started < 1.0
        later = await ctx.put((record(event("e3"), key=b"e3", offset=2),), wait=False)
        await settle(lambda: later.message.acked)
    assert committed(good.message)  # handled: committed
    assert not committed(stuck.message) and not committed(later.message)  # read again
    assert [key for key, _ in pipeline.leads.sent] == [b"p1:e1"]  # e3 was not even matched


async def test_the_indexer_agent_leaves_its_leads_uncommitted_when_stopped_mid_retry(
    pipeline: Pipeline, committed: Callable[[Any], bool]
) -> None:
    class Down(InMemoryLeadIndexer):
        async def index(self, leads: Any) -> Any:
            raise ServiceUnavailable("Elasticsearch: ConnectionError")

    pipeline.writer._indexer = Down()
    agent = pipeline.app.agents["tracer.index_leads"]
    lead = {"lead_id": "p1:e1", "person_id": "p1", "event_id": "e1", "status": "new"}
    async with agent.test_context() as ctx:
        sent = await ctx.put(
            (record(orjson.dumps(lead), topic="leads", offset=0, key=b"p1:e1"),), wait=False
        )
        await settle(lambda: pipeline.stats.retries.get("index", 0) >= 2)
        request_stop(pipeline)
        await settle(lambda: sent.message.acked)
    assert not committed(sent.message)
    assert pipeline.deadletter.sent == []


async def test_a_900_kb_event_gives_a_bounded_dead_letter(pipeline: Pipeline) -> None:
    big = b'{"event_id": "big", "source": "hukou", "pad": "' + b"x" * 900_000 + b'"}'
    agent = pipeline.app.agents["tracer.match_feeds"]
    async with agent.test_context() as ctx:
        await ctx.put((record(big, key=b"big", offset=0), record(event("e1"), offset=1)))
    ((key, value),) = pipeline.deadletter.sent
    assert key == b"big" and len(value) <= SETTINGS.max_dead_letter_bytes
    letter = decode_dead_letter(value)
    assert letter["value_truncated"] and letter["value_size"] == len(big)
    assert [key for key, _ in pipeline.leads.sent] == [b"p1:e1"]


async def test_request_stop_fails_what_the_producer_still_holds(pipeline: Pipeline) -> None:
    # A real aiokafka producer (never started: nothing is sent), behind Faust's producer, as
    # faust-streaming 0.15 holds it: Faust's flush before its last commit waits for these.
    from aiokafka import AIOKafkaProducer
    from aiokafka.structs import TopicPartition

    kafka = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")
    held = await kafka._message_accumulator.add_message(
        TopicPartition("unit.deadletter", 0), b"k", b"v", timeout=1.0
    )
    pipeline.app._producer = SimpleNamespace(_producer=kafka)
    request_stop(pipeline)
    assert pipeline.stopping.is_set()
    with pytest.raises(RetryGaveUp):
        await asyncio.wait_for(held, timeout=1.0)
    await asyncio.wait_for(kafka._message_accumulator.flush(), timeout=1.0)  # returns at once


async def test_a_batch_whose_work_fails_unexpectedly_is_not_committed(
    pipeline: Pipeline, committed: Callable[[Any], bool]
) -> None:
    pipeline.handle_events.batch = _explode  # type: ignore[method-assign]
    agent = pipeline.app.agents["tracer.match_feeds"]
    async with agent.test_context() as ctx:
        broken = await ctx.put((record(event("e1"), key=b"e1", offset=0),), wait=False)
        await settle(lambda: broken.message.acked)
        assert not committed(broken.message)
        after = await ctx.put((record(event("e2"), key=b"e2", offset=1),), wait=False)
        await settle(lambda: after.message.acked)  # the agent goes on with the next batch


def _explode(_records: Any) -> Any:
    raise RuntimeError("a bug")


async def test_a_large_batch_is_matched_in_slices_with_the_loop_running_between(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fetch's batch must not hold the event loop: other coroutines run between its slices."""
    ticks = 0
    seen: list[int] = []  # the ticker's count when each event was matched

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    matcher = pipeline.handle_events._matcher
    match = matcher.match

    def slow(raw: Any, **kwargs: Any) -> Any:
        seen.append(ticks)
        time.sleep(0.002)  # 2 ms an event: a slice is about 10 events
        return match(raw, **kwargs)

    matcher.match = slow
    monkeypatch.setattr(agents, "MATCH_STEP_EVENTS", 4)
    size = 61
    batch = tuple(record(event(f"e{n}"), key=f"e{n}".encode(), offset=n) for n in range(size))
    agent = pipeline.app.agents["tracer.match_feeds"]
    running = asyncio.ensure_future(ticker())
    try:
        async with agent.test_context() as ctx:
            await ctx.put(batch)
            await settle(lambda: pipeline.stats.events == size)
    finally:
        running.cancel()
    slices = [seen.count(t) for t in sorted(set(seen))]
    # The loop ran between slices of whole steps, each about MATCH_SLICE_SECONDS of matching.
    assert len(slices) >= 4
    assert all(n % 4 == 0 for n in slices[:-1]) and max(slices) <= 16
    # The batch's leads are published once each, in the events' order.
    assert [key for key, _ in pipeline.leads.sent] == [f"p1:e{n}".encode() for n in range(size)]


class _Message:
    def __init__(self) -> None:
        self.acked = False
        self.generation_id = 1


async def _held(tickets_fail: list[bool]) -> tuple[_Message, list[Any], EventArchiver]:
    """One batch whose slices gave one archive ticket each; the writer fails those marked."""
    archive = InMemoryEventArchive()
    archiver = EventArchiver(archive, max_docs=1)
    acks: list[Any] = []
    p = SimpleNamespace(
        stopping=asyncio.Event(),
        app=SimpleNamespace(consumer_generation_id=1, consumer=SimpleNamespace(ack=acks.append)),
    )
    tickets = []
    for n, _ in enumerate(tickets_fail):
        archiver.pending.append(
            {"event_id": f"e{n}", "source": "bank", "occurred_at": "2026-12-01T00:00:00+00:00"}
        )
        tickets.append(archiver.submit())
    message = _Message()
    agents._hold_ack(p, archiver, tickets, SimpleNamespace(message=message))  # type: ignore[arg-type]
    write = archive.write
    calls = iter(tickets_fail)

    async def failing(docs: Any) -> Any:
        if next(calls):
            raise KeyError("occurred_at")
        return await write(docs)

    archive.write = failing  # type: ignore[method-assign]
    return message, acks, archiver


async def test_a_sliced_batch_is_acknowledged_once_every_slice_is_archived() -> None:
    message, acks, archiver = await _held([False, False, False])
    assert message.acked and acks == []  # held back: nothing archived yet
    await archiver.flush()
    assert acks == [message] and not message.acked  # acknowledged through the consumer


async def test_a_sliced_batch_with_one_slice_unarchived_is_never_acknowledged() -> None:
    message, acks, archiver = await _held([False, True, False])
    await archiver.flush()
    assert acks == [] and message.acked  # read again after the restart
