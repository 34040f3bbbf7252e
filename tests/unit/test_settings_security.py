"""With security on, the worker and the set-up jobs refuse empty and placeholder secrets."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from tracer.settings import SettingsError, TracerSettings, load_settings

REAL = "n7Vq-3kPz-real-secret"


def test_security_off_accepts_anything() -> None:
    settings = TracerSettings(elasticsearch_password="change-me-elastic")
    assert settings.security_enabled is False


@pytest.mark.parametrize("value", ["", "   ", "change-me-elastic", "Change-Me"])
def test_placeholder_elasticsearch_password_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="TRACER_ELASTICSEARCH_PASSWORD"):
        TracerSettings(security_enabled=True, elasticsearch_password=value)


def test_missing_elasticsearch_password_is_refused() -> None:
    with pytest.raises(ValidationError, match="TRACER_ELASTICSEARCH_PASSWORD"):
        TracerSettings(security_enabled=True)


def test_every_password_setting_is_checked() -> None:
    with pytest.raises(ValidationError) as caught:
        TracerSettings(
            security_enabled=True,
            elasticsearch_password=REAL,
            kibana_password="change-me-kibana",
            es_worker_password="",
        )
    message = str(caught.value)
    assert "TRACER_KIBANA_PASSWORD" in message and "TRACER_ES_WORKER_PASSWORD" in message


def test_real_secrets_pass_and_never_print() -> None:
    settings = TracerSettings(
        security_enabled=True, elasticsearch_password=REAL, kibana_password=REAL
    )
    assert REAL not in repr(settings.kibana_password)


def test_load_settings_turns_the_refusal_into_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACER_SECURITY_ENABLED", "true")
    monkeypatch.setenv("TRACER_ELASTICSEARCH_PASSWORD", "change-me-elastic")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "\n" not in str(caught.value)
    assert "change-me-elastic" not in str(caught.value)


def test_the_worker_refuses_to_start_with_a_placeholder() -> None:
    env = dict(os.environ)
    env |= {"TRACER_SECURITY_ENABLED": "true", "TRACER_ELASTICSEARCH_PASSWORD": "change-me-x"}
    result = subprocess.run(
        [sys.executable, "-m", "tracer.cli", "worker"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("tracer: error: invalid settings:")
    assert "TRACER_ELASTICSEARCH_PASSWORD" in result.stderr
    assert "change-me-x" not in result.stderr and "Traceback" not in result.stderr
