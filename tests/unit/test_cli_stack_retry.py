"""``tracer stack init``'s retries: on the project's retry helper, a refusal final at once."""

from __future__ import annotations

import time

import pytest
from elasticsearch import ConnectionError as ESConnectionError
from kafka.errors import KafkaTimeoutError, TopicAuthorizationFailedError

from connectors.endpoints import ConnectionRefused
from connectors.errors import StackError
from tracer.commands.stack import _with_backoff


class Attempts:
    """An action that fails with the given errors, in order, then returns ``"done"``."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


class Pauses:
    def __init__(self) -> None:
        self.seen: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)


def test_transient_failures_are_retried_with_capped_backoff() -> None:
    action = Attempts(KafkaTimeoutError(), ESConnectionError("down"), KafkaTimeoutError())
    pauses = Pauses()
    result = _with_backoff(action, what="Kafka", deadline=time.monotonic() + 60, sleep=pauses)
    assert result == "done" and action.calls == 4
    # 0.5 s doubling, jittered (full jitter): each pause under its cap.
    assert len(pauses.seen) == 3
    assert all(p <= cap for p, cap in zip(pauses.seen, (0.5, 1.0, 2.0), strict=True))


def test_a_refused_connection_is_final_at_once() -> None:
    refusal = ConnectionRefused("Kafka", [("127.0.0.1", 9)])
    action = Attempts(refusal)
    pauses = Pauses()
    with pytest.raises(ConnectionRefused):
        _with_backoff(action, what="Kafka", deadline=time.monotonic() + 60, sleep=pauses)
    assert action.calls == 1 and pauses.seen == []


def test_a_refused_set_up_is_a_stack_error_at_once() -> None:
    action = Attempts(TopicAuthorizationFailedError())
    with pytest.raises(StackError, match="Kafka refused the set-up"):
        _with_backoff(action, what="Kafka", deadline=time.monotonic() + 60, sleep=Pauses())
    assert action.calls == 1


def test_the_deadline_ends_the_retries_with_not_ready_in_time() -> None:
    action = Attempts(*[KafkaTimeoutError() for _ in range(1000)])
    began = time.monotonic()
    with pytest.raises(StackError, match="Kafka was not ready in time") as caught:
        _with_backoff(action, what="Kafka", deadline=began + 0.5)
    assert time.monotonic() - began <= 0.6  # never a pause past the deadline
    assert "refused" not in str(caught.value)
