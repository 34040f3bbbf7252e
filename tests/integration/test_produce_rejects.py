"""``tracer produce`` on the real broker: what Kafka will not take is a reject, the rest goes out.

The run's own ``feeds.bank`` topic is given a small ``max.message.bytes``, so the broker itself
refuses a line that passed the command's own checks (the refusal comes back asynchronously).
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import warnings

import orjson
import pytest

with warnings.catch_warnings():  # kafka-python warns once on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from tests.integration.streaming import TRACER, Run, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _limit_topic(run: Run, key: str, max_bytes: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=run.settings.kafka_bootstrap)
    try:
        resource = ConfigResource(
            ConfigResourceType.TOPIC, run.topic(key), configs={"max.message.bytes": str(max_bytes)}
        )
        admin.alter_configs([resource])
    finally:
        admin.close()


def test_rejects_are_written_and_everything_else_is_published(run: Run) -> None:
    _limit_topic(run, "feeds.bank", 20_000)
    roster = run.tmp / "roster.jsonl"
    huge = b'{"person_id": "p-huge", "pad": "' + b"h" * 3_000_000 + b'"}'
    roster.write_bytes(
        b'{"person_id": "p1", "name": "A"}\n'
        b'{"name": "no person id"}\n' + huge + b"\n"
        b'{"person_id": "p2", "name": "B"}\n'
    )
    events = run.tmp / "events.jsonl"
    over_broker = b'{"event_id": "e-big", "source": "bank", "pad": "' + b"b" * 50_000 + b'"}'
    events.write_bytes(
        b'{"event_id": "e1", "source": "bank"}\n'
        + over_broker
        + b"\n"
        + b"not json: still published, for the worker to dead-letter\n"
        + b'{"event_id": "e2", "source": "telecom"}\n'
    )
    out = run.tracer("produce", "--roster", str(roster), "--events", str(events))

    assert "published 5 messages" in out
    assert "rejected 3 lines: 1 no_key, 2 too_large" in out
    assert {m.key for m in read_topic(run, "supervision.roster")} == {b"p1", b"p2"}
    assert [m.key for m in read_topic(run, "feeds.bank")] == [b"e1"]
    assert len(read_topic(run, "feeds.hukou")) == 1 and len(read_topic(run, "feeds.telecom")) == 1

    roster_rejects = run.tmp / "roster.jsonl.rejects.jsonl"
    assert stat.S_IMODE(os.stat(roster_rejects).st_mode) == 0o600
    rejects = [orjson.loads(x) for x in roster_rejects.read_bytes().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [(2, "no_key"), (3, "too_large")]
    assert rejects[1]["sha256"] == hashlib.sha256(huge).hexdigest()
    assert rejects[1]["size"] == len(huge) and len(rejects[1]["prefix"]) == 256
    (refused,) = [
        orjson.loads(x) for x in (run.tmp / "events.jsonl.rejects.jsonl").read_bytes().splitlines()
    ]
    assert (refused["line"], refused["reason"], refused["size"]) == (
        2,
        "too_large",
        len(over_broker),
    )


def test_a_file_with_nothing_publishable_fails_without_a_traceback(run: Run) -> None:
    roster = run.tmp / "roster.jsonl"
    roster.write_bytes(b'{"name": "no person id"}\n[1, 2]\n')
    done = subprocess.run(
        [TRACER, "produce", "--roster", str(roster)],
        env=run.env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    err = done.stderr.decode()
    assert done.returncode == 1
    assert "tracer: error: nothing published: 2 no_key" in err and "Traceback" not in err
