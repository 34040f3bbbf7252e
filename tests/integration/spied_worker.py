"""``tracer worker`` that counts the calls of every Faust / aiokafka internal tracer overrides.

    python -m tests.integration.spied_worker WEB_PORT CALLS.json

The worker is the real one (real Kafka, Elasticsearch, Faust, signals), composed by
``tracer.commands.worker``; each method of :data:`SPIED` is wrapped, before the worker is built,
by a spy that counts its calls and calls the method. The counts are written to ``CALLS.json``
every half second and at exit, so a test can tell that each override ran against the broker.
"""

from __future__ import annotations

import atexit
import inspect
import json
import sys
import threading
from collections import Counter
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import tracer.commands.worker as command
from connectors import batch_guard
from streams import agents, transport

#: (owner, attribute): the methods of faust-streaming's and aiokafka's classes that tracer
#: overrides, and the functions that reach into their private state.
SPIED: tuple[tuple[Any, str], ...] = (
    (transport.FastFetchConsumerThread, "_create_worker_consumer"),
    (transport.FastFetchConsumerThread, "_fetch_records"),
    (transport.FastFetchConsumer, "_new_consumer_thread"),
    (transport.FastFetchConsumer, "_drain_messages"),
    (transport.FastFetchConsumer, "_fetch_batches"),
    (transport.FastFetchConsumer, "_deliver"),
    (transport.FastFetchConsumer, "_add_batch_gap"),
    (transport.FastFetchConsumer, "_dead_letter_undecodable"),
    (transport.FastFetchConsumer, "_publish_dead_letter"),
    (transport.RawBytes, "compile"),
    (batch_guard._GuardedRecords, "_give_up"),
    (batch_guard._GuardedResults, "__setitem__"),
    (agents, "_release_producer"),
)

CALLS: Counter[str] = Counter()


def spied_name(owner: Any, name: str) -> str:
    """The name a spy counts under: ``Class.method`` or ``module.function``."""
    return f"{owner.__name__.rsplit('.', 1)[-1]}.{name}"


def _spy(owner: Any, name: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)
    key = spied_name(owner, name)

    if inspect.iscoroutinefunction(original):

        @wraps(original)
        async def counted_async(*args: Any, **kwargs: Any) -> Any:
            CALLS[key] += 1
            return await original(*args, **kwargs)

        setattr(owner, name, counted_async)
        return

    @wraps(original)
    def counted(*args: Any, **kwargs: Any) -> Any:
        CALLS[key] += 1
        return original(*args, **kwargs)

    setattr(owner, name, counted)


def _dump(path: Path) -> None:
    path.write_text(json.dumps(dict(CALLS)))


def main() -> None:
    port, calls = int(sys.argv[1]), Path(sys.argv[2])
    for owner, name in SPIED:
        _spy(owner, name)
    atexit.register(_dump, calls)

    def every_half_second() -> None:
        while True:
            _dump(calls)
            threading.Event().wait(0.5)

    threading.Thread(target=every_half_second, daemon=True).start()
    command.worker(web_port=port, web=True, loglevel="info", profile=None)


if __name__ == "__main__":
    main()
