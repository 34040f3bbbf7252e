"""The one retry helper: retriable vs permanent, backoff bounds, deadline, stop; no real waits."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
from aiokafka import errors as aiokafka_errors

from connectors.errors import (
    PublishRejected,
    RequestRejected,
    RetryGaveUp,
    ServiceUnavailable,
    is_retriable,
    kafka_publish_error,
)
from connectors.retry import Retrier, RetryCounter, RetryPolicy, retry_call


class Clock:
    """Monotonic time that moves only when the injected sleep says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)


class Flaky:
    """Fails with the given errors, in order, then returns ``"done"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


async def test_retriable_errors_are_retried_until_success_and_counted() -> None:
    clock = Clock()
    stats_retries: dict[str, int] = {}
    failing: dict[str, float] = {}
    seen: list[float] = []

    class Watch(RetryCounter):
        def on_retry(self, kind, failures, error):  # type: ignore[no-untyped-def]
            super().on_retry(kind, failures, error)
            seen.append(self.failing_since[kind])

    counter = Watch(stats_retries, failing, clock=clock)
    fn = Flaky(ServiceUnavailable("a"), ServiceUnavailable("b"), ServiceUnavailable("c"))
    result = await retry_call(
        fn, kind="publish", observer=counter, sleep=clock.sleep, rng=random.Random(3), clock=clock
    )
    assert result == "done"
    assert fn.calls == 4
    assert stats_retries == {"publish": 3}
    assert seen == [1000.0, 1000.0, 1000.0]  # the run of failures began at the first one
    assert failing == {}  # and ended with the success


async def test_a_permanent_error_is_raised_at_once_unchanged() -> None:
    clock = Clock()
    rejected = PublishRejected("too_large", "MessageSizeTooLargeError")
    fn = Flaky(ServiceUnavailable("x"), rejected)
    with pytest.raises(PublishRejected) as caught:
        await retry_call(fn, kind="publish", sleep=clock.sleep, clock=clock)
    assert caught.value is rejected
    assert fn.calls == 2
    assert len(clock.sleeps) == 1


async def test_errors_without_the_flag_are_not_retried() -> None:
    fn = Flaky(RuntimeError("bug"))
    with pytest.raises(RuntimeError):
        await retry_call(fn, kind="index", sleep=Clock().sleep)
    assert fn.calls == 1


async def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(base_s=0.1, cap_s=2.0)
    rng = random.Random(5)
    for failures in range(1, 60):
        cap = min(2.0, 0.1 * 2 ** (failures - 1))
        delays = [policy.delay(failures, rng) for _ in range(50)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > cap / 2  # jitter spreads over the whole range, not a constant


async def test_pauses_follow_the_policy() -> None:
    clock = Clock()
    policy = RetryPolicy(base_s=1.0, cap_s=4.0)
    fn = Flaky(*[ServiceUnavailable(str(n)) for n in range(6)])
    await retry_call(
        fn, kind="close", policy=policy, sleep=clock.sleep, rng=random.Random(1), clock=clock
    )
    caps = [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert len(clock.sleeps) == 6
    assert all(0.0 <= d <= c for d, c in zip(clock.sleeps, caps, strict=True))


async def test_a_retriers_pause_is_its_policys_jittered_backoff() -> None:
    clock = Clock()
    policy = RetryPolicy(base_s=1.0, cap_s=4.0)
    retrier = Retrier(policy, sleep=clock.sleep, rng=random.Random(3))
    for failures in (1, 2, 3, 4):
        await retrier.pause(failures)
    same = random.Random(3)
    assert clock.sleeps == [policy.delay(n, same) for n in (1, 2, 3, 4)]
    await Retrier(policy, sleep=clock.sleep).pause(9)  # no source of its own: still capped
    assert 0.0 <= clock.sleeps[-1] <= 4.0


async def test_the_deadline_ends_the_loop_before_a_pause_would_pass_it() -> None:
    clock = Clock()
    policy = RetryPolicy(base_s=1.0, cap_s=1.0, deadline_s=5.0)

    async def always_down() -> None:
        raise ServiceUnavailable("down")

    with pytest.raises(RetryGaveUp) as caught:
        await retry_call(always_down, kind="index", policy=policy, sleep=clock.sleep, clock=clock)
    assert caught.value.why == "deadline"
    assert isinstance(caught.value.__cause__, ServiceUnavailable)
    assert sum(clock.sleeps) <= 5.0
    assert caught.value.attempts == len(clock.sleeps) + 1


async def test_an_attempt_that_hangs_times_out_and_is_retried() -> None:
    calls = 0

    async def hangs_once() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()
        return "done"

    policy = RetryPolicy(attempt_timeout_s=0.05)
    assert await retry_call(hangs_once, kind="publish", policy=policy, sleep=Clock().sleep) == (
        "done"
    )
    assert calls == 2


async def test_stop_cuts_a_pause_short() -> None:
    stop = asyncio.Event()

    async def always_down() -> None:
        raise ServiceUnavailable("down")

    policy = RetryPolicy(base_s=60.0, cap_s=60.0)
    rng = random.Random(0)
    loop = asyncio.get_running_loop()
    loop.call_later(0.05, stop.set)
    started = time.monotonic()
    with pytest.raises(RetryGaveUp) as caught:
        # The real asyncio.sleep: a pause of up to a minute, cut by the stop.
        await retry_call(always_down, kind="publish", policy=policy, stop=stop, rng=rng)
    assert caught.value.why == "stopped"
    assert time.monotonic() - started < 2.0


async def test_stop_cancels_an_attempt_in_flight() -> None:
    stop = asyncio.Event()
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.get_running_loop().call_later(0.05, stop.set)
    with pytest.raises(RetryGaveUp) as caught:
        await retry_call(hangs, kind="index", stop=stop)
    assert caught.value.why == "stopped"
    assert cancelled.is_set()


async def test_nothing_is_attempted_once_stop_is_set() -> None:
    stop = asyncio.Event()
    stop.set()
    fn = Flaky()
    with pytest.raises(RetryGaveUp):
        await retry_call(fn, kind="publish", stop=stop)
    assert fn.calls == 0


async def test_cancelling_the_caller_cancels_the_attempt() -> None:
    cancelled = asyncio.Event()

    async def hangs() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.ensure_future(retry_call(hangs, kind="publish", stop=asyncio.Event()))
    await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(base_s=0.0)
    with pytest.raises(ValueError):
        RetryPolicy(base_s=2.0, cap_s=1.0)
    with pytest.raises(ValueError):
        RetryPolicy(deadline_s=0.0)


# --- translating publish failures ---------------------------------------------------------


class ProducerSendError(Exception):
    """Faust's wrapper (faust.exceptions.ProducerSendError), raised ``from`` the library's."""


def wrapped(error: BaseException) -> BaseException:
    try:
        try:
            raise error
        except BaseException as inner:
            raise ProducerSendError("Error while sending: <the repr quotes nothing>") from inner
    except ProducerSendError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (aiokafka_errors.MessageSizeTooLargeError(), "too_large"),
        (aiokafka_errors.RecordTooLargeError(), "too_large"),
        (aiokafka_errors.InvalidTopicError(), "invalid_topic"),
        (aiokafka_errors.TopicAuthorizationFailedError(), "not_authorised"),
        (aiokafka_errors.ClusterAuthorizationFailedError(), "not_authorised"),
        (TypeError("value must be bytes"), "unserialisable"),
        (aiokafka_errors.UnsupportedVersionError(), "other"),
    ],
)
def test_permanent_publish_failures(error: BaseException, reason: str) -> None:
    for raised in (error, wrapped(error)):
        translated = kafka_publish_error(raised)
        assert isinstance(translated, PublishRejected)
        assert translated.reason == reason
        assert not is_retriable(translated)
        assert translated.error == type(error).__name__


@pytest.mark.parametrize(
    "error",
    [
        aiokafka_errors.KafkaTimeoutError(),
        aiokafka_errors.RequestTimedOutError(),
        aiokafka_errors.NotLeaderForPartitionError(),
        aiokafka_errors.BrokerNotAvailableError(),
        aiokafka_errors.KafkaConnectionError(),
        aiokafka_errors.UnknownTopicOrPartitionError(),
        aiokafka_errors.NodeNotReadyError(),
        aiokafka_errors.GroupCoordinatorNotAvailableError(),  # retriable by the library's flag
        ConnectionRefusedError(),
        TimeoutError(),
    ],
)
def test_transient_publish_failures(error: BaseException) -> None:
    for raised in (error, wrapped(error)):
        translated = kafka_publish_error(raised)
        assert isinstance(translated, ServiceUnavailable)
        assert is_retriable(translated)


def test_kafka_python_errors_are_classified_by_the_same_table() -> None:
    from kafka import errors as kafka_errors

    assert kafka_publish_error(kafka_errors.MessageSizeTooLargeError()).retriable is False
    assert kafka_publish_error(kafka_errors.KafkaTimeoutError()).retriable is True


def test_the_translation_never_carries_the_error_text() -> None:
    secret = "110101199003077777"
    translated = kafka_publish_error(wrapped(aiokafka_errors.MessageSizeTooLargeError(secret)))
    assert secret not in str(translated)
    translated = kafka_publish_error(ValueError(secret))
    assert secret not in str(translated)


@pytest.mark.parametrize(
    "error",
    [
        PublishRejected("too_large", "MessageSizeTooLargeError"),
        RetryGaveUp("stopped", 3),
        RequestRejected(413),
    ],
)
def test_errors_survive_copy_and_pickle(error: Exception) -> None:
    import copy
    import pickle

    for again in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert type(again) is type(error)
        assert vars(again) == vars(error) and str(again) == str(error)
