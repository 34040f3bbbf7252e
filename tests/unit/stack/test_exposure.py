"""The local stack (security off) refuses to listen anywhere but loopback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.errors import StackError
from stack import LocalStack, StackConfig
from stack.exposure import is_loopback, refuse_exposure


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"]
)
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "tracer-host", ""])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback(host)


def test_refusal_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="TRACER_ELASTICSEARCH_URL"):
        refuse_exposure(StackConfig(stack_dir=tmp_path, elasticsearch_host="0.0.0.0"))
    refuse_exposure(StackConfig(stack_dir=tmp_path))  # the defaults are loopback


def test_up_refuses_before_touching_anything(tmp_path: Path) -> None:
    stack_dir = tmp_path / "stack"
    with pytest.raises(StackError, match="loopback only"):
        LocalStack(StackConfig(stack_dir=stack_dir, kafka_host="0.0.0.0")).up()
    assert not stack_dir.exists()


def test_tracer_stack_up_exits_1_with_one_line(tmp_path: Path) -> None:
    env = dict(os.environ)
    env |= {
        "TRACER_STACK_DIR": str(tmp_path / "stack"),
        "TRACER_KAFKA_BOOTSTRAP": "0.0.0.0:19092",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tracer.cli", "stack", "up"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("tracer: error: refusing to start Kafka on 0.0.0.0")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "stack").exists()
