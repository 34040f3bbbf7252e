"""Commands aimed at a port where nothing listens say so within seconds and name the fix.

Real ``tracer`` processes, pointed at a loopback port that is bound but not listening (refused,
and no other program can take it meanwhile); no service is needed. A port that listens but
never answers is "not ready yet": ``stack init`` waits for it until its timeout.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TRACER = str(Path(sys.executable).parent / "tracer")


@pytest.fixture
def refused() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def silent() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def _tracer(*args: str, kafka: int, es: int, tmp: Path) -> tuple[int, str, float]:
    env = os.environ | {
        "TRACER_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka}",
        "TRACER_ELASTICSEARCH_URL": f"http://127.0.0.1:{es}",
        "TRACER_TOPIC_PREFIX": "never.",
    }
    started = time.monotonic()
    done = subprocess.run(
        [TRACER, *args], env=env, capture_output=True, timeout=60, check=False, cwd=tmp
    )
    return done.returncode, done.stderr.decode(), time.monotonic() - started


@pytest.mark.parametrize(
    "args",
    [
        ["stack", "init"],  # default timeout 180 s: it used to wait all of it
        ["produce", "--events", "events.jsonl"],
        ["worker", "--no-web"],
    ],
)
def test_kafka_refusing_is_said_within_seconds_with_the_fix(
    args: list[str], refused: int, tmp_path: Path
) -> None:
    (tmp_path / "events.jsonl").write_bytes(b'{"event_id": "e1", "source": "bank"}\n')
    code, err, seconds = _tracer(*args, kafka=refused, es=refused, tmp=tmp_path)
    assert code == 1
    assert f"Kafka refused the connection at 127.0.0.1:{refused}: nothing listens there" in err
    assert "tracer stack up" in err and "TRACER_KAFKA_BOOTSTRAP" in err
    assert "Traceback" not in err
    # Far under the 180 s the refusal used to wait; the margin is for starting Python on a
    # loaded 2-core machine (imports alone took 10 s there), not for the refusal itself.
    assert seconds < 30


def test_a_listener_that_is_not_ready_is_waited_for_until_the_timeout(
    silent: int, tmp_path: Path
) -> None:
    code, err, seconds = _tracer(
        "stack", "init", "--timeout", "6", kafka=silent, es=silent, tmp=tmp_path
    )
    assert code == 1
    assert "Kafka was not ready in time" in err and "refused" not in err
    assert seconds >= 5
