"""Every override of Faust's and aiokafka's internals runs against the real broker.

``streams/transport.py`` overrides private methods of faust-streaming 0.15.3 and
``connectors/batch_guard.py`` / ``streams/agents.py`` reach into aiokafka 0.14.0 (the releases
``streams.transport.TESTED_VERSIONS`` fences). A real ``tracer worker``, with each of those
methods counted by a spy (``tests/integration/spied_worker.py``), reads a feed with an
undecodable batch in it and stops on SIGTERM: each method must have run, and the stream must
still make exactly the leads ``tracer reprocess`` makes, with one dead letter for the batch.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

import orjson
import pytest

from tests.integration.spied_worker import SPIED, spied_name
from tests.integration.streaming import (
    Run,
    drained,
    free_port,
    indexed_leads,
    read_topic,
    reprocess,
    wait_until,
    write_world,
)
from tests.integration.test_undecodable import publish_undecodable

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_every_override_runs_on_the_broker_and_the_stream_equals_reprocess(run: Run) -> None:
    write_world(run, people=800, watchlist=80, events=600, seed=43)
    expected = reprocess(run)
    run.produce_world(events=False)
    run.produce_world(roster=False)
    feed_at = asyncio.run(
        publish_undecodable(
            run.settings.kafka_bootstrap, run.topic("feeds.bank"), partition=0, count=2
        )
    )
    calls = run.tmp / "calls.json"
    with (run.tmp / "worker.log").open("ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.spied_worker", str(free_port()), str(calls)],
            env=run.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    run.workers.append(worker)

    def done() -> bool:
        assert worker.poll() is None, f"the worker stopped: {run.log('worker')[-1500:]}"
        return drained(run, len(expected))

    wait_until(done, timeout=180, what="leads indexed, lag 0")
    got = {doc["lead_id"]: doc["score"] for doc in indexed_leads(run)}
    assert got == {k: v["score"] for k, v in expected.items()} and got
    letters = [orjson.loads(m.value) for m in read_topic(run, "deadletter")]
    assert [
        (x["partition"], x["offset"], x["last_offset"])
        for x in letters
        if x["reason"] == "undecodable_record"
    ] == [(0, feed_at, feed_at + 1)]

    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0, run.log("worker")[-1500:]
    counted = json.loads(calls.read_text())
    missing = [spied_name(o, n) for o, n in SPIED if counted.get(spied_name(o, n), 0) < 1]
    assert not missing, f"never ran against the broker: {missing}"
