"""Every client is built in connectors/clients.py: one login rule, TLS material, no secret shown."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.clients import (
    aiokafka_security,
    async_elasticsearch_client,
    elasticsearch_client,
    elasticsearch_security,
    faust_broker_credentials,
    kafka_python_security,
)
from connectors.errors import ClientConfigError
from tracer.settings import TracerSettings

SECRET = "s3cr3t-never-shown"


def _settings(**values: object) -> TracerSettings:
    return TracerSettings.model_validate(values)


def _files(folder: Path, *names: str) -> list[Path]:
    paths = [folder / name for name in names]
    for path in paths:
        path.write_text("-----BEGIN CERTIFICATE-----\n")  # read by the libraries, not here
    return paths


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    settings = _settings()
    assert kafka_python_security(settings) == {}
    assert aiokafka_security(settings) == {"security_protocol": "PLAINTEXT"}
    assert faust_broker_credentials(settings) is None
    assert elasticsearch_security(settings) == {}


def test_sasl_ssl_logs_in_with_the_mechanism_over_tls(tmp_path: Path) -> None:
    _files(tmp_path, "ca.pem")
    settings = _settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_username="tracer",
        kafka_password=SECRET,
        kafka_ca_file=tmp_path / "ca.pem",
    )
    assert kafka_python_security(settings) == {
        "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True,
        "ssl_cafile": str(tmp_path / "ca.pem"),
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "tracer",
        "sasl_plain_password": SECRET,
    }


def test_ssl_with_a_client_certificate_and_no_login(tmp_path: Path) -> None:
    _files(tmp_path, "client.pem", "client.key")
    settings = _settings(
        kafka_security_protocol="SSL",
        kafka_cert_file=tmp_path / "client.pem",
        kafka_key_file=tmp_path / "client.key",
        kafka_username="ignored",
    )
    options = kafka_python_security(settings)
    assert options["security_protocol"] == "SSL"
    assert (options["ssl_certfile"], options["ssl_keyfile"]) == (
        str(tmp_path / "client.pem"),
        str(tmp_path / "client.key"),
    )
    assert not any(key.startswith("sasl") for key in options)


def test_aiokafka_and_faust_get_the_same_login_with_a_verifying_tls_context() -> None:
    settings = _settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="PLAIN",
        kafka_username="tracer",
        kafka_password=SECRET,
    )
    options = aiokafka_security(settings)
    context = options["ssl_context"]
    assert context.check_hostname and context.verify_mode.name == "CERT_REQUIRED"
    assert (options["sasl_mechanism"], options["sasl_plain_username"]) == ("PLAIN", "tracer")
    credentials = faust_broker_credentials(settings)
    assert credentials is not None
    assert credentials.protocol.value == "SASL_SSL"  # type: ignore[attr-defined]
    assert credentials.mechanism.value == "PLAIN"  # type: ignore[attr-defined]
    assert SECRET not in repr(credentials)


def test_elasticsearch_one_login_rule_and_verified_https(tmp_path: Path) -> None:
    # The three rules of before (both set / a user alone / none) are one: a user logs in.
    assert elasticsearch_security(_settings(elasticsearch_user="tracer")) == {
        "basic_auth": ("tracer", "")
    }
    _files(tmp_path, "ca.pem")
    secured = _settings(
        elasticsearch_url="https://es.example:9200",
        elasticsearch_user="tracer",
        elasticsearch_password=SECRET,
        elasticsearch_ca_file=tmp_path / "ca.pem",
    )
    assert elasticsearch_security(secured) == {
        "basic_auth": ("tracer", SECRET),
        "verify_certs": True,
        "ca_certs": str(tmp_path / "ca.pem"),
    }


def test_secrets_never_print_in_settings_or_their_errors() -> None:
    settings = _settings(kafka_password=SECRET, elasticsearch_password=SECRET)
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert isinstance(settings.kafka_password, SecretStr)
    with pytest.raises(Exception) as refused:
        _settings(kafka_password=SECRET, kafka_security_protocol="SASL_PLAINTEXT")
    assert SECRET not in str(refused.value)


def test_clients_are_built_with_the_login(caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(
        elasticsearch_url="http://127.0.0.1:1",
        elasticsearch_user="tracer",
        elasticsearch_password=SECRET,
    )
    caplog.set_level(logging.DEBUG)
    with elasticsearch_client(settings, request_timeout=1) as client:
        assert client._headers["authorization"].startswith("Basic ")
        assert SECRET not in repr(client)
    client_async = async_elasticsearch_client(settings, request_timeout=1)
    assert client_async._headers["authorization"].startswith("Basic ")
    asyncio.run(client_async.close())
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "needs TRACER_KAFKA_USERNAME"),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_username": "u",
                "kafka_password": SECRET,
            },
            None,
        ),
        ({"kafka_security_protocol": "SSL", "kafka_cert_file": "c.pem"}, "go together"),
        ({"kafka_security_protocol": "SSL", "kafka_ca_file": "/nowhere/ca.pem"}, "CA_FILE"),
    ],
)
def test_unusable_kafka_security_settings_are_one_clear_error(
    values: dict[str, object], said: str | None
) -> None:
    settings = _settings(**values)
    if said is None:
        assert kafka_python_security(settings)["security_protocol"] == "SASL_SSL"
        return
    for build in (kafka_python_security, aiokafka_security, faust_broker_credentials):
        with pytest.raises(ClientConfigError, match=said) as refused:
            build(settings)
        assert SECRET not in str(refused.value) and "\n" not in str(refused.value)


def test_an_unreadable_elasticsearch_ca_file_is_named() -> None:
    settings = _settings(elasticsearch_ca_file="/nowhere/ca.pem")
    with pytest.raises(ClientConfigError, match="TRACER_ELASTICSEARCH_CA_FILE"):
        elasticsearch_security(settings)
