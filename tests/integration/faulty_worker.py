"""``tracer worker`` whose dead letters never get published: a fault-injecting wrapper.

    python -m tests.integration.faulty_worker WEB_PORT raise|hang|stuck-shutdown

The worker is the real one (real Kafka, Elasticsearch, Faust, signals), composed by
``tracer.commands.worker``; only its dead-letter topic is wrapped: every send fails with a
transient error (``raise``: aiokafka's ``KafkaTimeoutError``, as when no broker answers) or
is buffered and never acknowledged (``hang``: a broker that never replies). The Kafka broker
of the shared stack cannot be made to do either for one topic without reconfiguring it.

``stuck-shutdown`` leaves the topics alone and makes Faust's shutdown itself wait for ever (a
receiver of ``on_before_shutdown`` that never returns, as a final commit to a Kafka that went
away would): only the worker's stop deadline ends it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from aiokafka.errors import KafkaTimeoutError

import tracer.commands.worker as command


class FaultyTopic:
    """A Faust topic whose sends fail for ever, in one of two ways."""

    def __init__(self, topic: Any, mode: str) -> None:
        self._topic = topic
        self._mode = mode

    async def send(self, *, key: bytes | None, value: bytes) -> Any:
        if self._mode == "raise":
            raise KafkaTimeoutError()
        return asyncio.get_running_loop().create_future()  # never acknowledged

    def __getattr__(self, name: str) -> Any:
        return getattr(self._topic, name)


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]
    build = command.build_pipeline

    def faulty(*args: Any, **kwargs: Any) -> Any:
        pipeline = build(*args, **kwargs)
        if mode == "stuck-shutdown":

            async def never_done(_app: Any, /, *_args: Any, **_kwargs: Any) -> None:
                await asyncio.Event().wait()

            pipeline.app.on_before_shutdown.connect(never_done)
        else:
            pipeline.deadletter = FaultyTopic(pipeline.deadletter, mode)
        return pipeline

    command.build_pipeline = faulty  # type: ignore[assignment]
    command.worker(web_port=port, web=True, loglevel="info", profile=None)


if __name__ == "__main__":
    main()
