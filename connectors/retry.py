"""One retry helper for every loop that talks to a service, built on tenacity.

Which failures are worth another try is decided by the error's ``retriable`` flag (adapters
translate library errors into :mod:`connectors.errors`, as aiokafka's sender reads its own
errors' flag), never by this module. A retriable failure is tried again after an exponential
backoff with full jitter (``uniform(0, min(cap, base * 2**n))``, the AWS scheme: many workers
that failed together do not come back together); anything else is raised at once.

A retry loop must never hold a worker that is shutting down: each attempt races the ``stop``
event, and so does every pause, so setting ``stop`` ends the loop within one scheduling step
with :class:`~connectors.errors.RetryGaveUp` (``why="stopped"``); an optional deadline ends it
the same way (``why="deadline"``), and an optional per-attempt timeout turns a call that hangs
(a metadata wait, a connection that never answers) into one more retriable failure.

Usage (what every loop does; ``kind`` names the work for the counters). The composition root
builds one :class:`Retrier` per worker (policy, the worker's stop event, the counters) and hands
it to every adapter and handler that retries::

    retrier = Retrier(RetryPolicy(base_s=0.2, cap_s=10.0), stop=stopping,
                      observer=RetryCounter(stats.retries, stats.failing_since))
    response = await retrier.call(lambda: client.bulk(operations=ops), kind="index")

A loop of one's own becomes one call: the body of the loop is the attempt (it raises a
retriable error to go round again, e.g. ``ServiceUnavailable``), and the helper does the
pauses, the counting, the deadline and the stop. :func:`retry_call` is the same with every
argument spelled out.

The observer hears each failure that will be retried (:meth:`RetryObserver.on_retry`) and each
success (:meth:`RetryObserver.on_success`); :class:`RetryCounter` keeps retries by kind and when
each kind's current run of failures began, for the health endpoint. ``sleep``, ``rng`` and
``clock`` are injectable so tests neither wait nor depend on chance.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from connectors.errors import ConnectorError, RetryGaveUp, ServiceUnavailable, is_retriable

__all__ = [
    "Retrier",
    "RetryCounter",
    "RetryKind",
    "RetryObserver",
    "RetryPolicy",
    "retry_call",
    "until_stopped",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: The kinds of work that retry (the health endpoint's counters are keyed by them).
RetryKind = Literal["publish", "index", "close", "roster", "stack", "alert", "notify", "deliver"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait between attempts, and for how long to try at all.

    Args:
        base_s: The first backoff cap; it doubles with every failure.
        cap_s: The largest backoff cap.
        deadline_s: Give up (``RetryGaveUp("deadline")``) when the next pause would end
            later than this many seconds after the first attempt began; ``None``: never.
        attempt_timeout_s: An attempt running longer than this is cancelled and counts as a
            retriable failure; ``None``: no limit (the stop event still ends it).
    """

    base_s: float = 0.2
    cap_s: float = 10.0
    deadline_s: float | None = None
    attempt_timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not (0 < self.base_s <= self.cap_s):
            raise ValueError("need 0 < base_s <= cap_s")
        for value in (self.deadline_s, self.attempt_timeout_s):
            if value is not None and value <= 0:
                raise ValueError("deadline_s and attempt_timeout_s must be positive")

    def delay(self, failures: int, rng: random.Random) -> float:
        """Return the pause after ``failures`` consecutive failures (1 or more), jittered.

        Example:
            >>> RetryPolicy(base_s=1.0, cap_s=4.0).delay(10, random.Random(0)) <= 4.0
            True
        """
        exponent = min(max(failures - 1, 0), 30)  # 2**30 already passes any sane cap
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2**exponent))


class RetryObserver(Protocol):
    """Hears what a retry loop goes through (counters, health, logs)."""

    def on_retry(self, kind: RetryKind, failures: int, error: BaseException) -> None:
        """A retriable failure; another attempt follows after a pause."""
        ...

    def on_success(self, kind: RetryKind) -> None:
        """An attempt succeeded."""
        ...


class RetryCounter:
    """Keeps retries by kind and when each kind's current run of failures began.

    Args:
        retries: kind -> retries so far (``PipelineStats.retries``).
        failing_since: kind -> ``clock()`` at the first failure of the current run; the entry
            goes when that kind succeeds again (``PipelineStats.failing_since``).
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        retries: dict[str, int],
        failing_since: dict[str, float],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retries = retries
        self.failing_since = failing_since
        self._clock = clock

    def on_retry(self, kind: RetryKind, failures: int, error: BaseException) -> None:
        """Count the retry; note when the run of failures began."""
        self.retries[kind] = self.retries.get(kind, 0) + 1
        self.failing_since.setdefault(kind, self._clock())

    def on_success(self, kind: RetryKind) -> None:
        """End the kind's run of failures."""
        self.failing_since.pop(kind, None)


@dataclass(frozen=True, slots=True)
class Retrier:
    """A retry policy bound to a stop event and an observer: what a loop needs to retry.

    Args:
        policy: Backoff, deadline and attempt timeout.
        stop: The worker's stop event (``None``: only cancellation ends the loop).
        observer: Hears retries and successes (:class:`RetryCounter`).
        sleep: The pause (tests inject a recorder).
        rng: Jitter source (tests inject a seeded one).
    """

    policy: RetryPolicy = RetryPolicy()
    stop: asyncio.Event | None = None
    observer: RetryObserver | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random | None = None

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        kind: RetryKind,
        retriable: Callable[[BaseException], bool] = is_retriable,
    ) -> T:
        """Call ``fn()`` under this policy (see :func:`retry_call`)."""
        return await retry_call(
            fn,
            kind=kind,
            policy=self.policy,
            stop=self.stop,
            observer=self.observer,
            retriable=retriable,
            sleep=self.sleep,
            rng=self.rng,
        )

    async def pause(self, failures: int) -> None:
        """Sleep the policy's jittered backoff after ``failures`` failures (as :meth:`call` does).

        For a caller that makes its first attempt outside :meth:`call` (a cheap path for the
        common success) and hands over to it after a failure, without a second jitter rule.
        """
        await self.sleep(self.policy.delay(failures, self.rng or _JITTER))


#: The jitter source of calls given none: one per process. A ``random.Random()`` per call
#: seeded itself from the OS each time (about 20 us; a webhook delivery is one call).
_JITTER = random.Random()


class _Stopped(Exception):
    """Raised inside the loop when the stop event ends an attempt (never retried)."""

    retriable = False


async def retry_call(
    fn: Callable[[], Awaitable[T]],
    *,
    kind: RetryKind,
    policy: RetryPolicy | None = None,
    stop: asyncio.Event | None = None,
    observer: RetryObserver | None = None,
    retriable: Callable[[BaseException], bool] = is_retriable,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    clock: Callable[[], float] = time.monotonic,
    log_level: int = logging.WARNING,
) -> T:
    """Call ``fn()`` until it succeeds, a non-retriable error comes, or the loop must stop.

    Args:
        fn: Makes one attempt (a fresh awaitable per call).
        kind: What work this is, for the observer and the log.
        policy: Backoff, deadline and attempt timeout (default: :class:`RetryPolicy`).
        stop: When set, the loop ends at once: a running attempt is cancelled, a pause cut.
        observer: Hears each retry and success.
        retriable: Whether an error is worth another try (default: its ``retriable`` flag).
        sleep: The pause (injectable; the stop event cuts it short either way).
        rng: Jitter source.
        clock: Monotonic seconds, for the deadline.
        log_level: The level of the line logged before each pause (a wait whose failures are
            expected, such as the fail-fast probe's grace, logs below WARNING).

    Returns:
        What ``fn()`` returned.

    Raises:
        RetryGaveUp: ``stop`` was set, or the deadline passed.
        Exception: The first non-retriable error ``fn()`` raised, unchanged.
    """
    policy = policy or RetryPolicy()
    rng = rng or _JITTER
    started = clock()

    def give_up(state: RetryCallState) -> bool:
        if stop is not None and stop.is_set():
            return True
        if policy.deadline_s is None:
            return False
        pause = state.upcoming_sleep
        return clock() - started + pause > policy.deadline_s

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.log(
            log_level,
            "%s failed (%s); retry %d in %.2fs",
            kind,
            _describe(error),
            state.attempt_number,
            state.upcoming_sleep,
        )
        if observer is not None and error is not None:
            observer.on_retry(kind, state.attempt_number, error)

    def after_all_failed(state: RetryCallState) -> T:
        why: Literal["stopped", "deadline"] = (
            "stopped" if stop is not None and stop.is_set() else "deadline"
        )
        error = state.outcome.exception() if state.outcome is not None else None
        raise RetryGaveUp(why, state.attempt_number) from error

    retrying = AsyncRetrying(
        sleep=lambda delay: _until_stopped(sleep(delay), stop),
        stop=give_up,
        wait=lambda state: policy.delay(state.attempt_number, rng),
        retry=retry_if_exception(lambda exc: not isinstance(exc, _Stopped) and retriable(exc)),
        before_sleep=before_sleep,
        retry_error_callback=after_all_failed,
    )
    try:
        result: T = await retrying(_attempt, fn, policy.attempt_timeout_s, stop)
    except _Stopped as exc:
        raise RetryGaveUp("stopped", retrying.statistics.get("attempt_number", 1)) from exc
    if observer is not None:
        observer.on_success(kind)
    return result


def _describe(error: BaseException | None) -> str:
    # Our errors' texts are built from class names and statuses; a library's may quote data.
    if isinstance(error, ConnectorError):
        return str(error)
    return type(error).__name__


async def _attempt(
    fn: Callable[[], Awaitable[T]], timeout_s: float | None, stop: asyncio.Event | None
) -> T:
    """Run one attempt, cancelled by ``stop`` or after ``timeout_s`` (then retriable)."""
    if stop is not None and stop.is_set():
        raise _Stopped
    task = asyncio.ensure_future(fn())
    waiters: set[asyncio.Future[Any]] = {task}
    if stop is not None:
        waiters.add(asyncio.ensure_future(stop.wait()))
    try:
        done, _ = await asyncio.wait(
            waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in waiters:
            if not waiter.done():
                waiter.cancel()
    if stop is not None and stop.is_set():
        # A stop wins a tie: what failed because the worker is stopping is not a failure.
        if not task.done():
            await asyncio.wait({task})  # let the cancelled call clean up
        elif not task.cancelled():
            task.exception()  # retrieved, so asyncio does not report it as lost
        raise _Stopped
    if task in done:
        return task.result()
    await asyncio.wait({task})  # let the cancelled call clean up before the next one starts
    raise ServiceUnavailable(f"attempt timed out after {timeout_s}s")


async def until_stopped(work: Awaitable[T], stop: asyncio.Event) -> T:
    """Await ``work``, cancelling it when ``stop`` is set first.

    For waits that are not retries but must not hold a stopping worker either.

    Raises:
        RetryGaveUp: ``stop`` was set first (``why="stopped"``, no attempt counted).
    """
    if stop.is_set():
        if asyncio.iscoroutine(work):
            work.close()  # never started: close it rather than leave it unawaited
        raise RetryGaveUp("stopped", 0)
    try:
        return await _attempt(lambda: work, None, stop)
    except _Stopped as exc:
        raise RetryGaveUp("stopped", 0) from exc


async def _until_stopped(pause: Awaitable[None], stop: asyncio.Event | None) -> None:
    """Wait for ``pause``, or less if ``stop`` is set first."""
    if stop is None:
        await pause
        return
    sleeper = asyncio.ensure_future(pause)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (sleeper, stopper):
            waiter.cancel()
