"""An undecodable batch in a fetch: one dead letter, then its offsets count as handled.

The consumer is the worker's own (:class:`FastFetchConsumer`, not started); the producer is a
stand-in that records what it was asked to send and can refuse. The real broker path is in
``tests/integration/test_undecodable.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
import orjson
from faust.types import TP

from connectors.batch_guard import UndecodableBatch
from connectors.retry import Retrier, RetryCounter
from streams.pipeline import PipelineStats
from streams.transport import (
    BatchMessage,
    FastFetchConsumer,
    UndecodableMessage,
    split_undecodable,
)
from tests.unit.streams.fakes import record
from tests.unit.streams.test_transport import app, batch, consumer, deliver  # noqa: F401

TP2 = TP("feeds.bank", 2)


class Producer:
    """Records sends; refuses the first ``refusals`` of them."""

    def __init__(self, refusals: int = 0) -> None:
        self.refusals = refusals
        self.sent: list[tuple[str, bytes]] = []

    async def send_and_wait(self, topic: str, key: Any, value: bytes, *_args: Any) -> None:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("broker away")
        self.sent.append((topic, value))


def bad(first: int, last: int) -> UndecodableMessage:
    marker = UndecodableBatch("feeds.bank", 2, first, last, "UnicodeDecodeError")
    return UndecodableMessage(TP2, marker, 3)


def test_a_fetch_is_cut_into_batches_around_markers_in_order() -> None:
    fetched = [
        record(b"a", partition=2, offset=0),
        record(b"b", partition=2, offset=1),
        UndecodableBatch("feeds.bank", 2, 2, 4, "CorruptRecordException"),
        record(b"c", partition=2, offset=5),
    ]
    parts = split_undecodable(TP2, fetched, 3)
    assert [type(p).__name__ for p in parts] == [
        "BatchMessage",
        "UndecodableMessage",
        "BatchMessage",
    ]
    first, marker, last = parts
    assert isinstance(first, BatchMessage) and [r.offset for r in first.records()] == [0, 1]
    assert isinstance(marker, UndecodableMessage) and marker.batch.offset == 2
    assert isinstance(last, BatchMessage) and last.first_offset == 5


async def test_the_dead_letter_comes_first_then_the_commit_passes_the_batch(
    consumer: FastFetchConsumer,  # noqa: F811
    app: faust.App,  # noqa: F811
) -> None:
    producer = Producer()
    app.producer = producer  # type: ignore[assignment]
    app.transport.deadletter_topic = "it.deadletter"  # type: ignore[attr-defined]
    stats = app.transport.stats = PipelineStats()  # type: ignore[attr-defined]
    consumer._committed_offset[TP2] = 10
    (before,) = await deliver(consumer, batch([10, 11]))
    await consumer._dead_letter_undecodable(bad(12, 14))
    ((topic, value),) = producer.sent
    letter = orjson.loads(value)
    assert topic == "it.deadletter"
    assert (letter["reason"], letter["topic"], letter["partition"]) == (
        "undecodable_record",
        "feeds.bank",
        2,
    )
    assert (letter["offset"], letter["last_offset"], letter["value_b64"]) == (12, 14, None)
    assert letter["detail"] == "UnicodeDecodeError; offsets 12-14"
    assert consumer._new_offset(TP2) is None  # the batch before it is not handled yet
    before.ack(consumer)
    assert consumer._new_offset(TP2) == 15  # past the good batch and the bad one, once
    assert consumer._read_offset[TP2] == 14
    await consumer._dead_letter_undecodable(bad(12, 14))  # read again after a seek: no repeat
    assert len(producer.sent) == 1
    # Counted once, like every other dead letter of the worker (/metrics by reason).
    assert (stats.dead_letters, stats.by_reason) == (1, {"undecodable_record": 1})


def install_retrier(
    faust_app: faust.App, sleep: Any, stop: asyncio.Event | None = None
) -> dict[str, int]:
    """Give the transport a retrier like the worker's: counted, its pauses injected."""
    counts: dict[str, int] = {}
    retrier = Retrier(stop=stop or asyncio.Event(), observer=RetryCounter(counts, {}), sleep=sleep)
    faust_app.transport.retrier = retrier  # type: ignore[attr-defined]
    return counts


async def test_a_refused_dead_letter_is_retried_and_the_offsets_wait_for_it(
    consumer: FastFetchConsumer,  # noqa: F811
    app: faust.App,  # noqa: F811
) -> None:
    producer = Producer(refusals=2)
    app.producer = producer  # type: ignore[assignment]
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    counts = install_retrier(app, sleep)
    consumer._committed_offset[TP2] = 12
    await consumer._dead_letter_undecodable(bad(12, 14))
    assert len(producer.sent) == 1 and len(pauses) == 2
    assert pauses[0] <= 0.2 and pauses[1] <= 0.4  # the worker's backoff: 0.2 s doubling
    assert counts == {"publish": 2}  # on the health endpoint's retry counters
    assert consumer._new_offset(TP2) == 15


async def test_a_worker_stopping_while_kafka_refuses_leaves_the_offsets_unhandled(
    consumer: FastFetchConsumer,  # noqa: F811
    app: faust.App,  # noqa: F811
) -> None:
    app.producer = Producer(refusals=10**6)  # type: ignore[assignment]
    stop = asyncio.Event()

    async def sleep(_seconds: float) -> None:
        stop.set()  # SIGTERM arrives during the backoff

    install_retrier(app, sleep, stop)
    consumer._committed_offset[TP2] = 12
    app.transport.stats = stats = PipelineStats()  # type: ignore[attr-defined]
    await consumer._dead_letter_undecodable(bad(12, 14))
    assert consumer._new_offset(TP2) is None
    assert stats.dead_letters == 0  # not written: not counted
    assert consumer._read_offset[TP2] is None  # read (and dead-lettered) again after restart


async def test_a_dead_letter_refused_for_good_is_retried_too(
    consumer: FastFetchConsumer,  # noqa: F811
    app: faust.App,  # noqa: F811
) -> None:
    from aiokafka.errors import TopicAuthorizationFailedError

    class Unauthorised(Producer):
        async def send_and_wait(self, topic: str, key: Any, value: bytes, *_args: Any) -> None:
            if self.refusals:
                self.refusals -= 1
                raise TopicAuthorizationFailedError()
            self.sent.append((topic, value))

    producer = Unauthorised(refusals=3)
    app.producer = producer  # type: ignore[assignment]

    async def sleep(_seconds: float) -> None:
        pass

    counts = install_retrier(app, sleep)
    consumer._committed_offset[TP2] = 12
    await consumer._dead_letter_undecodable(bad(12, 14))
    # The offsets wait for the letter: an ACL fixed meanwhile lets it through.
    assert len(producer.sent) == 1 and counts == {"publish": 3}
    assert consumer._new_offset(TP2) == 15
