"""A worker SIGKILLed between the outbox's steps: every notification reaches the topic.

The worker is stalled at one step (``stalled_alerts_worker.py``) so the kill lands there every
time: after the notifications were created and before they were published (``no-publish``), or
after Kafka acknowledged them and before the ``published`` mark (``no-mark``). Another worker's
relay then publishes what is left, after the lease. What the topic must show is what
``alerts/outbox.py`` promises: every notification of the index under its id at least once,
and a second copy (the same bytes under the same key) only of those published before the kill.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter

import orjson
import pytest
from elasticsearch import Elasticsearch

from tests.integration.streaming import (
    Run,
    drained,
    free_port,
    read_topic,
    reprocess,
    wait_until,
    write_world,
)
from tests.integration.test_alerts import (  # the fixture registers here too
    _alerted,
    _districts,
    _expected,
    _id,
    _unpublished,
    alert_env,  # noqa: F401
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

# Exact counts: no retro-matching beside the live path (a worker of a new group retro-matches its
# first roster load; see docs/design.md, "Retro-matching").
NO_RETRO = {"TRACER_EVENT_ARCHIVE": "false"}


def _stalled_worker(run: Run, mode: str) -> subprocess.Popen[bytes]:
    with (run.tmp / "stalled.log").open("ab") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.stalled_alerts_worker",
                str(free_port()),
                mode,
            ],
            # Its own relay must not step in before the kill: once at start, then not again.
            env=run.env | NO_RETRO | {"TRACER_ALERT_RELAY_SECONDS": "3600"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    run.workers.append(worker)
    return worker


@pytest.mark.parametrize("mode", ["no-publish", "no-mark"])
def test_a_worker_killed_between_the_outbox_steps_loses_nothing(
    run: Run,
    es: Elasticsearch,
    alert_env: dict[str, str],  # noqa: F811 - the fixture imported above
    mode: str,
) -> None:
    write_world(run, people=1500, watchlist=150, events=1500, seed=18)
    expected_leads = reprocess(run)
    mine = _districts(run)[:2]
    es.index(
        index=alert_env["TRACER_REVIEW_USERS_INDEX"],
        id="officer1",
        document={"username": "officer1", "districts": mine},
        refresh=True,
    )
    everything = run.tracer("subscriptions", "add", "--owner", "officer1").strip()
    run.tracer(
        "produce",
        "--roster",
        str(run.tmp / "roster.jsonl"),
        "--events",
        str(run.tmp / "events.jsonl"),
    )
    stalled = _stalled_worker(run, mode)
    # The lead batches are committed once their notifications are created: the stall is after.
    wait_until(lambda: drained(run, len(expected_leads)), timeout=200, what="leads indexed")
    want = {everything: _expected(es, run, {"terms": {"district": mine}})}
    assert want[everything]
    index = alert_env["TRACER_ALERTS_INDEX"]
    wait_until(lambda: _alerted(es, index) == want, timeout=60, what="every notification")
    assert _unpublished(es, index) == len(want[everything])  # none marked
    if mode == "no-mark":
        wait_until(lambda: bool(read_topic(run, "alerts")), timeout=30, what="a first batch")
    before = {_id(m) for m in read_topic(run, "alerts")}
    assert bool(before) == (mode == "no-mark")
    stalled.send_signal(signal.SIGKILL)
    stalled.wait(timeout=10)

    run.start_worker("w2", **NO_RETRO)
    wait_until(lambda: _unpublished(es, index) == 0, timeout=90, what="orphans relayed")
    total = len(want[everything]) + len(before)
    # Read until all are there: one read of a loaded broker can stop short of a partition's end.
    wait_until(lambda: len(read_topic(run, "alerts")) >= total, timeout=60, what="the topic")
    messages = read_topic(run, "alerts")
    assert len(messages) == total
    values: dict[str, set[bytes]] = {}
    for message in messages:
        assert message.key == orjson.loads(message.value)["subscription_id"].encode()
        values.setdefault(_id(message), set()).add(message.value)
    assert all(len(v) == 1 for v in values.values())  # a copy is the same bytes
    leads = {orjson.loads(next(iter(v)))["lead_id"] for v in values.values()}
    assert leads == want[everything]
    copies = Counter(_id(m) for m in messages)
    assert {key for key, n in copies.items() if n == 2} == before
    assert max(copies.values()) <= 2
    assert "relayed" in run.log("w2")
