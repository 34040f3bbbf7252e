"""The publisher against fault-injecting topics: acknowledged, retried, stubbed, or stopped."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)

from connectors.deadletter import MessageOrigin, decode_dead_letter
from connectors.errors import RetryGaveUp
from connectors.retry import Retrier, RetryCounter, RetryPolicy
from streams.pipeline import Outgoing, PipelineStats
from streams.publisher import Publisher

ORIGIN = MessageOrigin("feeds.bank", 3, 41, b"ev-1", 1_700_000_000_000)


class Topic:
    """Acknowledges, or fails each send as ``faults`` says (per value, once each, in order).

    A fault is raised by ``send`` (``at_send``) or set on the acknowledgement future.
    """

    def __init__(self, faults: dict[bytes, list[BaseException]] | None = None) -> None:
        self.faults = faults or {}
        self.sent: list[tuple[bytes | None, bytes]] = []
        self.at_send: set[type[BaseException]] = {MessageSizeTooLargeError}

    async def send(self, *, key: bytes | None, value: bytes) -> asyncio.Future[None]:
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = self.faults.get(value)
        if pending:
            fault = pending.pop(0)
            if type(fault) in self.at_send:
                raise fault
            ack.set_exception(fault)
        else:
            self.sent.append((key, value))
            ack.set_result(None)
        return ack


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def publisher(
    deadletter: Topic, sleeps: Sleeps | None = None, stop: asyncio.Event | None = None
) -> Publisher:
    stats = PipelineStats()
    retrier = Retrier(
        sleep=sleeps or Sleeps(),
        rng=random.Random(1),
        stop=stop,
        observer=RetryCounter(stats.retries, stats.failing_since),
    )
    return Publisher(deadletter, retrier=retrier, stats=stats, max_dead_letter_bytes=16 * 1024)


def message(value: bytes) -> Outgoing:
    return Outgoing(b"k-" + value, value, ORIGIN)


async def test_every_message_is_acknowledged_in_order() -> None:
    leads = Topic()
    await publisher(Topic()).publish(leads, [message(b"a"), message(b"b")], role="leads")
    assert leads.sent == [(b"k-a", b"a"), (b"k-b", b"b")]


async def test_transient_failures_are_resent_alone_until_acknowledged_and_counted() -> None:
    leads = Topic({b"b": [KafkaTimeoutError(), NotLeaderForPartitionError()]})
    sleeps = Sleeps()
    pub = publisher(Topic(), sleeps)
    await pub.publish(leads, [message(b"a"), message(b"b"), message(b"c")], role="leads")
    assert [value for _, value in leads.sent] == [b"a", b"c", b"b"]  # a and c once each
    assert len(sleeps.delays) == 2
    assert pub.stats.retries == {"publish": 2}
    assert pub.stats.failing_since == {}


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (MessageSizeTooLargeError(), "publish_rejected_too_large"),  # at send
        (TopicAuthorizationFailedError(), "publish_rejected_not_authorised"),  # in the ack
    ],
)
async def test_a_refused_message_becomes_a_bounded_stub_and_the_rest_goes_on(
    fault: BaseException, reason: str
) -> None:
    big = b"x" * 2_000_000
    leads, deadletter = Topic({big: [fault]}), Topic()
    pub = publisher(deadletter)
    await pub.publish(leads, [message(b"a"), message(big), message(b"c")], role="leads")
    assert [value for _, value in leads.sent] == [b"a", b"c"]
    ((key, value),) = deadletter.sent
    stub = decode_dead_letter(value)
    assert key == b"ev-1"  # the origin's key
    assert len(value) <= 16 * 1024
    assert stub["reason"] == reason and stub["stage"] == "publish"
    assert (stub["topic"], stub["partition"], stub["offset"]) == ("feeds.bank", 3, 41)
    assert stub["value_b64"] is None and "2000000 bytes" in stub["detail"]
    assert pub.stats.by_reason == {reason: 1}


async def test_a_refused_stub_is_counted_and_logged_never_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    deadletter = Topic()
    deadletter.faults = _refuse_everything()
    sleeps = Sleeps()
    pub = publisher(deadletter, sleeps)
    secret = b'{"id_number": "110101199003077777"}'
    await pub.publish(deadletter, [message(secret)], role="deadletter")
    assert deadletter.sent == [] and sleeps.delays == []
    assert pub.stats.undeliverable == 1
    assert "110101199003077777" not in caplog.text
    assert "refused a deadletter message and its dead-letter stub" in caplog.text


def _refuse_everything() -> Any:
    class Always(dict):  # type: ignore[type-arg]
        def get(self, _key: Any, default: Any = None) -> list[BaseException]:
            return [TopicAuthorizationFailedError()]

    return Always()


async def test_a_stop_ends_a_publish_that_fails_for_ever() -> None:
    stop = asyncio.Event()
    leads = Topic()
    leads.faults = _fail_forever()
    pub = publisher(Topic(), stop=stop)
    pub._retrier = Retrier(RetryPolicy(base_s=30.0, cap_s=30.0), stop=stop)  # real pauses
    asyncio.get_running_loop().call_later(0.1, stop.set)
    started = time.monotonic()
    with pytest.raises(RetryGaveUp):
        await pub.publish(leads, [message(b"a")], role="leads")
    assert time.monotonic() - started < 1.0


def _fail_forever() -> Any:
    class Always(dict):  # type: ignore[type-arg]
        def get(self, _key: Any, default: Any = None) -> list[BaseException]:
            return [KafkaTimeoutError()]

    return Always()


async def test_a_stop_ends_a_wait_for_an_acknowledgement_that_never_comes() -> None:
    class Silent(Topic):
        async def send(self, *, key: bytes | None, value: bytes) -> asyncio.Future[None]:
            return asyncio.get_running_loop().create_future()

    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.1, stop.set)
    with pytest.raises(RetryGaveUp):
        await asyncio.wait_for(
            publisher(Topic(), stop=stop).publish(Silent(), [message(b"a")], role="leads"), 2.0
        )
