"""``tracer worker`` whose alerts stall at one step of the outbox: a fault-injecting wrapper.

    python -m tests.integration.stalled_alerts_worker WEB_PORT no-publish|no-mark

The worker is the real one (real Kafka, Elasticsearch, Faust); only one alerting step never
completes: ``no-publish``: the ``alerts`` topic never acknowledges (a broker that never replies
to that topic); ``no-mark``: Kafka acknowledges, but the ``published: true`` mark never returns
(Elasticsearch hangs on it). A SIGKILL then leaves exactly the state of a worker killed between
those steps, every time, where a kill at a random moment would hit it by chance.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import tracer.commands.worker as command
from alerts.recorder import ElasticsearchAlertLog
from streams.alerting import AlertsProducer


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]

    async def never(*_args: Any, **_kwargs: Any) -> None:
        await asyncio.Event().wait()

    if mode == "no-publish":
        AlertsProducer.publish = never  # type: ignore[method-assign]
    elif mode == "no-mark":
        ElasticsearchAlertLog.mark_published = never  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    command.worker(web_port=port, web=True, loglevel="info", profile=None)


if __name__ == "__main__":
    main()
