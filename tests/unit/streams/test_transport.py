"""The raw-bytes topic schema and the fast-fetch transport, without Kafka."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import faust
import pytest
from faust.types import Message

from streams.transport import (
    FETCH_MAX_WAIT_MS,
    FastFetchConsumer,
    FastFetchConsumerThread,
    RawBytes,
    install_fast_fetch,
)


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
