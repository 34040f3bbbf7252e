"""``tracer worker`` with a stopwatch on each stage of a notification, and an event-loop probe.

    python -m bench.alerts_worker WEB_PORT STAGES.json

The worker is the real one (``tracer.commands.worker``: real Kafka, Elasticsearch, Faust,
signals). Before it is built, three methods are wrapped to stamp each notification
(``time.time()``, seconds since the epoch, the clock ``bench.alerts`` reads too):

- ``stored``: its bulk ``create`` into the outbox returned (``AlertOutbox._create_bulk``);
- ``handed``: the publisher handed it to the producer (``AlertsProducer.publish`` called);
- ``acked``: Kafka acknowledged it (``AlertsProducer.publish`` returned).

The topic is keyed by subscription, so the two publish stamps read each message's
``notification_id`` from its value. Each outbox bulk is timed too (``bulks``: ``create`` and
``mark``, documents and seconds per request), to tell Elasticsearch's time from the loop's.

And a task on the worker's own event loop wakes every :data:`TICK_S` and records how late it
woke: the loop's lag. A coroutine of the loop (the publisher among them) can run no sooner
than that; a lag of seconds means a callback held the loop that long. A watchdog thread
samples the loop thread's stack whenever the loop has not ticked for :data:`STALL_S`: what held
it (tracer's own frames, innermost first).

Everything goes to ``STAGES.json`` every second and at exit (``bench.alerts`` reads it).

``BENCH_ALERTS_PROFILE=PATH``: a cProfile (CPU time) of the loop's thread over the steady
state only, written to ``PATH.<pid>`` (one file per worker: a run starts three). It starts when
``bench.alerts`` creates ``STAGES.json.profile-on`` (the CPU window opens: the worker ready, its
subscriptions loaded) and stops at ``STAGES.json.profile-off`` (the window closes), so start-up
(the watchlist, the subscriptions) and shutdown are left out. It slows the worker: never
beside a timed run.
"""

from __future__ import annotations

import asyncio
import atexit
import cProfile
import gc
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

import streams.app
import tracer.commands.worker as command
from alerts.outbox import AlertOutbox
from alerts.recorder import ElasticsearchAlertLog
from streams.alerting import AlertsProducer

__all__ = ["TICK_S", "main"]

#: The probe's period: its own lateness is the loop's lag, to this resolution.
TICK_S = 0.01

#: A loop that has not ticked for this long is stalled: the watchdog samples its stack.
STALL_S = 0.1

STAMPS: dict[str, dict[str, float]] = {}
LAGS: list[float] = []
#: Stack samples of the loop's thread while it was stalled: "file:function" chains, counted.
STALLS: Counter[str] = Counter()
_BEAT: dict[str, Any] = {"at": 0.0, "thread": None}
#: The cyclic garbage collector's passes by generation: count and seconds (its pauses are the
#: worker's CPU too, and grow with the heap: the watchlist and the normalisers' caches).
GC: dict[str, list[float]] = {"0": [0, 0.0], "1": [0, 0.0], "2": [0, 0.0]}
_GC_START: list[float] = [0.0]
#: The same over the steady-state window only (the bench's CPU window).
GC_WINDOW: dict[str, list[float]] = {}


def _gc_timer(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _GC_START[0] = time.perf_counter()
        return
    spent = GC[str(info["generation"])]
    spent[0] += 1
    spent[1] += time.perf_counter() - _GC_START[0]


#: The steady-state profile (``BENCH_ALERTS_PROFILE``): its path, and where it was written.
_PROFILE: dict[str, Any] = {"path": None, "written": None}
#: Each outbox bulk request: kind -> [(documents, seconds from sent to answered)]; and
#: Elasticsearch's own ``took`` of each bulk the alerts index answered, by its first action
#: (``took:create``, ``took:index`` the marks, ``took:update``): the rest of a request's time
#: is the worker's (serialising, the loop getting round to the answer). Coarse: Elasticsearch
#: reads its cached clock, which ticks every 200 ms (``thread_pool.estimated_time_interval``).
BULKS: dict[str, list[tuple[int, float]]] = {
    "create": [],
    "mark": [],
    "took:create": [],
    "took:index": [],
    "took:update": [],
}


class _TookClient:
    """The alerts index's client, recording each bulk's ``took`` (else passed through)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def bulk(self, *, operations: list[Any], **options: Any) -> Any:
        if "filter_path" in options:
            options["filter_path"] = [*options["filter_path"], "took"]
        response = await self._client.bulk(operations=operations, **options)
        kind = next(iter(operations[0])) if operations else "none"
        BULKS.setdefault(f"took:{kind}", []).append((len(operations) // 2, response["took"] / 1000))
        return response


def _stamp(ids: Sequence[str], stage: str) -> None:
    now = time.time()
    for nid in ids:
        STAMPS.setdefault(nid, {})[stage] = now


def _wrap() -> None:
    create, publish, register = (
        AlertOutbox._create_bulk,
        AlertsProducer.publish,
        streams.app.register_agents,
    )
    log_create, log_mark = ElasticsearchAlertLog.create, ElasticsearchAlertLog.mark_published
    log_init = ElasticsearchAlertLog.__init__

    def log_init_took(self: ElasticsearchAlertLog, client: Any, **options: Any) -> None:
        log_init(self, _TookClient(client), **options)

    def timed(bulk: Callable[..., Awaitable[Any]], kind: str) -> Callable[..., Awaitable[Any]]:
        """``bulk`` with its size and seconds kept in ``BULKS[kind]``."""

        async def call(self: ElasticsearchAlertLog, items: Sequence[Any]) -> Any:
            started = time.perf_counter()
            try:
                return await bulk(self, items)
            finally:
                BULKS[kind].append((len(items), time.perf_counter() - started))

        return call

    async def create_stamped(
        self: AlertOutbox, notifications: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        fresh = await create(self, notifications)
        _stamp([str(n["notification_id"]) for n in fresh], "stored")
        return fresh

    async def publish_stamped(
        self: AlertsProducer, messages: Sequence[tuple[bytes, bytes]]
    ) -> None:
        # Keyed by subscription: the notification's id is in the value, its first field
        # (read without decoding: the stopwatch must not add alerting CPU of its own).
        ids = [_notification_id(value) for _, value in messages]
        _stamp(ids, "handed")
        await publish(self, messages)
        _stamp(ids, "acked")

    def register_probed(p: Any) -> None:
        register(p)

        async def loop_lag() -> None:
            loop = asyncio.get_running_loop()
            _BEAT["thread"] = threading.get_ident()
            profiling = _SteadyProfile()
            while True:
                due = loop.time() + TICK_S
                _BEAT["at"] = time.monotonic()
                await asyncio.sleep(TICK_S)
                LAGS.append(loop.time() - due)
                if len(LAGS) % 20 == 0:  # every 0.2 s: on the loop's thread, which it profiles
                    profiling.step()

        p.app.task(loop_lag)

    AlertOutbox._create_bulk = create_stamped  # type: ignore[method-assign]
    AlertsProducer.publish = publish_stamped  # type: ignore[method-assign]
    ElasticsearchAlertLog.__init__ = log_init_took  # type: ignore[method-assign]
    ElasticsearchAlertLog.create = timed(log_create, "create")  # type: ignore[method-assign]
    ElasticsearchAlertLog.mark_published = timed(log_mark, "mark")  # type: ignore[method-assign]
    streams.app.register_agents = register_probed


class _SteadyProfile:
    """The steady state between the bench's two trigger files (see the docstring).

    Its garbage collection always (:data:`GC_WINDOW`), its profile with ``BENCH_ALERTS_PROFILE``.
    """

    def __init__(self) -> None:
        self._profiler: cProfile.Profile | None = None
        self._opened: dict[str, list[float]] | None = None
        self._done = False

    def step(self) -> None:
        if self._done:
            return
        stages = _PROFILE["stages"]
        if self._opened is None and stages.with_name(stages.name + ".profile-on").exists():
            self._opened = {generation: list(spent) for generation, spent in GC.items()}
            if _PROFILE["path"] is not None:
                self._profiler = cProfile.Profile(time.process_time)
                self._profiler.enable()
        elif self._opened is not None and stages.with_name(stages.name + ".profile-off").exists():
            for generation, (count, seconds) in GC.items():
                before = self._opened[generation]
                GC_WINDOW[generation] = [count - before[0], round(seconds - before[1], 3)]
            if self._profiler is not None:
                self._profiler.disable()
                path = f"{_PROFILE['path']}.{os.getpid()}"
                self._profiler.dump_stats(path)
                _PROFILE["written"] = path
            self._done = True


_ID_PREFIX = b'{"notification_id":"'


def _notification_id(value: bytes) -> str:
    """The ``notification_id`` of an encoded notification (a uuid, its first field)."""
    if value.startswith(_ID_PREFIX):
        return value[len(_ID_PREFIX) : len(_ID_PREFIX) + 36].decode()
    return str(orjson.loads(value)["notification_id"])


def _watchdog() -> None:
    """Every 10 ms: if the loop has not ticked for ``STALL_S``, count where its thread is."""
    while True:
        time.sleep(TICK_S)
        thread = _BEAT["thread"]
        if thread is None or time.monotonic() - _BEAT["at"] < STALL_S + TICK_S:
            continue
        frame = sys._current_frames().get(thread)
        # The innermost frame wherever it is (``select``: the loop waits, the process was not
        # scheduled), then tracer's own frames: who asked for that work.
        chain = [_where(frame.f_code)] if frame is not None else []
        while frame is not None and len(chain) < 5:
            code = frame.f_code
            if "/site-packages/" not in code.co_filename and "/lib/python" not in code.co_filename:
                chain.append(_where(code))
            frame = frame.f_back
        STALLS[" < ".join(chain)] += 1


def _where(code: Any) -> str:
    return f"{Path(code.co_filename).stem}:{code.co_name}"


def _dump(path: Path) -> None:
    # Copies: the loop's thread appends while this one writes.
    document = {
        "stamps": dict(STAMPS),
        "loop_lag_s": list(LAGS),
        "tick_s": TICK_S,
        "stall_samples": dict(STALLS.most_common(15)),
        "bulks": {kind: list(timed) for kind, timed in BULKS.items()},
        "profile": _PROFILE["written"],
        "gc": {generation: list(spent) for generation, spent in GC.items()},
        "gc_window": dict(GC_WINDOW),
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(orjson.dumps(document))
    temporary.replace(path)


def main() -> None:
    port, path = int(sys.argv[1]), Path(sys.argv[2])
    _wrap()
    gc.callbacks.append(_gc_timer)
    atexit.register(_dump, path)

    def every_second() -> None:
        while True:
            threading.Event().wait(1.0)
            _dump(path)

    threading.Thread(target=every_second, daemon=True).start()
    threading.Thread(target=_watchdog, daemon=True).start()
    _PROFILE["path"] = os.environ.get("BENCH_ALERTS_PROFILE") or None
    _PROFILE["stages"] = path
    command.worker(web_port=port, web=True, loglevel="info")


if __name__ == "__main__":
    main()
