"""One service of the local stack stopped or started alone (``only=``, ``--only``)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from stack import LocalStack, StackConfig
from stack.process import (
    PidRecord,
    group_members,
    spawn_detached,
    stop_group,
    write_pid_record,
)

with warnings.catch_warnings():  # kafka-python warns once on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from tracer.cli import main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    """A stack whose two "services" are detached ``sleep`` groups with pid files."""
    config = StackConfig(
        stack_dir=tmp_path / "stack", kafka_port=_free_port(), elasticsearch_port=_free_port()
    )
    processes: list[subprocess.Popen[bytes]] = []
    for service in ("kafka", "elasticsearch"):
        process = spawn_detached(
            ["/bin/sh", "-c", "sleep 60 & sleep 60"],
            log_path=tmp_path / f"{service}.log",
            env={"PATH": "/usr/bin:/bin"},
            cwd=tmp_path,
        )
        processes.append(process)
        record = PidRecord(service, process.pid, "x", "addr", str(tmp_path), time.time())
        write_pid_record(config.pid_path(service), record)
    deadline = time.monotonic() + 5
    while not all(group_members(p.pid) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    yield LocalStack(config)
    for process in processes:
        stop_group(process.pid, grace_s=2.0)
        process.wait(timeout=5)


def test_down_only_kafka_leaves_elasticsearch_running(stack: LocalStack) -> None:
    messages: list[str] = []
    es_pid = stack.service_status("elasticsearch").pid
    statuses = {s.service: s.state for s in stack.down(messages.append, only=("kafka",))}
    assert messages == ["kafka: stopped"]
    assert statuses["kafka"] == "stopped"
    assert statuses["elasticsearch"] == "starting"  # alive; nothing listens on its port
    assert es_pid is not None and group_members(es_pid)
    assert not stack.config.pid_path("kafka").exists()
    assert stack.config.pid_path("elasticsearch").exists()


def test_down_only_nothing_stops_nothing(stack: LocalStack) -> None:
    messages: list[str] = []
    stack.down(messages.append, only=())
    assert messages == []
    assert all(s.state == "starting" for s in stack.status())


def test_up_only_one_leaves_the_other_alone(stack: LocalStack) -> None:
    # Both "run" already: up(only=...) starts nothing and reports the whole stack.
    before = {s.service: s.pid for s in stack.status()}
    after = {s.service: s.pid for s in stack.up(only=("elasticsearch",))}
    assert after == before


def test_the_command_refuses_an_unknown_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACER_STACK_DIR", str(tmp_path))
    with pytest.raises(SystemExit) as exited:
        main(["stack", "down", "--only", "zookeeper"])
    assert exited.value.code == 2
    assert "unknown service zookeeper" in capsys.readouterr().err


def test_the_command_stops_only_the_named_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACER_STACK_DIR", str(tmp_path))
    monkeypatch.setenv("TRACER_KAFKA_BOOTSTRAP", f"127.0.0.1:{_free_port()}")
    monkeypatch.setenv("TRACER_ELASTICSEARCH_URL", f"http://127.0.0.1:{_free_port()}")
    assert main(["stack", "down", "--only", "elasticsearch"]) == 0
    out = capsys.readouterr().out
    assert "elasticsearch: not running" in out and "kafka: not running" not in out
    assert main(["stack", "status", "--json"]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert [row["service"] for row in rows] == ["kafka", "elasticsearch"]
