"""The CLI's contract with its users: one-line errors and non-zero exits on bad input."""

import subprocess
import sys

import pytest

from tracer.cli import main
from tracer.settings import TracerSettings


def test_unknown_command_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["no-such-command"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tracer: error:")
    assert "\n" not in err


def test_bad_option_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["stack", "up", "--no-such-option"])
    assert exited.value.code == 2
    assert "\n" not in capsys.readouterr().err.strip()


def test_help_exits_zero() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "tracer.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert "stack" in completed.stdout


def test_settings_read_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACER_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    monkeypatch.setenv("TRACER_FEED_PARTITIONS", "8")
    monkeypatch.delenv("TRACER_ELASTICSEARCH_URL", raising=False)
    settings = TracerSettings()
    assert settings.kafka_bootstrap == "127.0.0.1:19092"
    assert settings.feed_partitions == 8
    assert settings.elasticsearch_url == "http://127.0.0.1:9200"


def test_settings_reject_out_of_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACER_FEED_PARTITIONS", "0")
    with pytest.raises(ValueError, match="feed_partitions"):
        TracerSettings()
