"""The raw-bytes topic schema and the fast-fetch transport (batches, acks), without Kafka."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import faust
import pytest
from faust.types import TP, Message

from streams.transport import (
    FETCH_MAX_WAIT_MS,
    BatchMessage,
    FastFetchConsumer,
    FastFetchConsumerThread,
    RawBytes,
    install_fast_fetch,
)
from tests.unit.streams.fakes import record


def message(key: bytes | None, value: bytes | None) -> Message:
    return Message(
        topic="feeds.bank",
        partition=2,
        offset=41,
        timestamp=1_700_000_000.0,
        timestamp_type=0,
        headers=[],
        key=key,
        value=value,
        checksum=None,
    )


@pytest.fixture
def app(tmp_path: Path) -> faust.App:
    return faust.App("unit-transport", broker="kafka://127.0.0.1:1", datadir=str(tmp_path))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (b"ev-1", b'{"event_id": "ev-1"}'),
        (b"\xff\x00", b"\xff\xfe not utf-8 nor json"),
        (None, b""),
        (b"p1", None),  # a tombstone
    ],
)
async def test_raw_bytes_events_carry_the_message_bytes_unchanged(
    app: faust.App, key: bytes | None, value: bytes | None
) -> None:
    msg = message(key, value)
    event = await RawBytes().compile(app)(msg)
    assert (event.key, event.value, event.message) == (key, value, msg)


def test_raw_bytes_topics_send_bytes_as_they_are(app: faust.App) -> None:
    schema = RawBytes()
    assert (schema.key_serializer, schema.value_serializer) == ("raw", "raw")


def test_install_fast_fetch_makes_the_app_build_fast_fetch_consumers(app: faust.App) -> None:
    install_fast_fetch(app)
    # Faust's transport builds the app's consumer from this class (Transport.create_consumer).
    assert app.transport.Consumer is FastFetchConsumer
    assert app.transport.app is app


async def test_worker_consumers_wait_briefly_for_new_data(app: faust.App) -> None:
    install_fast_fetch(app)
    thread = cast(FastFetchConsumer, app.consumer)._thread
    assert isinstance(thread, FastFetchConsumerThread)
    try:
        consumer = thread._create_worker_consumer(app.transport)
        # Faust's own consumer thread asks Kafka to hold an empty fetch for 1500 ms.
        assert consumer._fetch_max_wait_ms == FETCH_MAX_WAIT_MS < 1500
        await consumer.stop()
    finally:
        thread.thread_loop.close()  # the thread never started: close the loop it made


def batch(offsets: list[int], *, topic: str = "feeds.bank", generation: int = 3) -> BatchMessage:
    records = [record(b"v%d" % o, topic=topic, partition=2, offset=o) for o in offsets]
    return BatchMessage(TP(topic, 2), records, generation_id=generation)


def test_a_batch_message_is_the_partition_batch_under_its_last_offset() -> None:
    message = batch([7, 8, 10])
    assert (message.tp, message.first_offset, message.offset) == (TP("feeds.bank", 2), 7, 10)
    assert [r.offset for r in message.records()] == [7, 8, 10]
    assert message.value == message.records() and message.generation_id == 3
    assert message.timestamp == 1_700_000_000.0


@pytest.mark.parametrize(
    ("offsets", "read", "kept"),
    [([7, 8, 10], 8, [8, 10]), ([7, 8, 10], 7, [7, 8, 10]), ([7, 8], 9, None)],
)
def test_a_batch_drops_records_before_an_offset(
    offsets: list[int], read: int, kept: list[int] | None
) -> None:
    trimmed = batch(offsets).from_offset(read)
    assert (None if trimmed is None else [r.offset for r in trimmed.records()]) == kept


@pytest.fixture
def consumer(app: faust.App) -> Iterator[FastFetchConsumer]:
    install_fast_fetch(app)
    app.topics._acking_topics.add("feeds.bank")  # as the conductor does for subscribed topics
    app.consumer_generation_id = 3  # the generation the batches below were fetched in
    consumer = cast(FastFetchConsumer, app.consumer)
    delivered: list[BatchMessage] = []

    async def to_stream(message: BatchMessage) -> None:
        message.incref()  # one channel subscribes, as the conductor counts them
        delivered.append(message)

    consumer.callback = to_stream
    consumer.delivered = delivered  # type: ignore[attr-defined]
    yield consumer
    consumer._thread.thread_loop.close()  # the thread never started: close the loop it made


async def deliver(consumer: FastFetchConsumer, *batches: BatchMessage) -> list[BatchMessage]:
    for message in batches:
        await consumer._deliver(message)
    return cast(list[BatchMessage], consumer.delivered)  # type: ignore[attr-defined]


async def test_the_commit_passes_a_batch_once_the_stream_acked_it(
    consumer: FastFetchConsumer,
) -> None:
    tp = TP("feeds.bank", 2)
    consumer._committed_offset[tp] = 10  # read from Kafka when the partition was assigned
    first, second = await deliver(consumer, batch([10, 11, 12]), batch([13, 15]))  # 14 compacted
    assert consumer._new_offset(tp) is None  # nothing handled yet
    # The stream acks a batch as one message (under its last offset), in order.
    assert first.ack(consumer)
    assert consumer._new_offset(tp) == 13  # not past the second batch, still open
    consumer._committed_offset[tp] = 13
    assert second.ack(consumer)
    assert consumer._new_offset(tp) == 16


async def test_offsets_skipped_between_batches_do_not_hold_the_commit(
    consumer: FastFetchConsumer,
) -> None:
    tp = TP("feeds.bank", 2)
    consumer._committed_offset[tp] = 10
    first, second = await deliver(consumer, batch([10, 11]), batch([20, 21]))  # 12-19 compacted
    first.ack(consumer)
    assert consumer._new_offset(tp) == 12
    consumer._committed_offset[tp] = 12
    second.ack(consumer)
    assert consumer._new_offset(tp) == 22


async def test_records_already_read_are_not_delivered_again(consumer: FastFetchConsumer) -> None:
    consumer._read_offset[TP("feeds.bank", 2)] = 12  # a seek back to the committed offset 12
    delivered = await deliver(consumer, batch([10, 11]), batch([11, 12, 13]))
    assert [[r.offset for r in m.records()] for m in delivered] == [[12, 13]]
    assert consumer._read_offset[TP("feeds.bank", 2)] == 13


async def test_a_batch_of_an_older_generation_is_not_recorded_as_read(
    consumer: FastFetchConsumer, app: faust.App
) -> None:
    app.consumer_generation_id = 4  # a rebalance while the batch was on its way
    await deliver(consumer, batch([10, 11], generation=3))
    assert consumer._read_offset[TP("feeds.bank", 2)] is None
