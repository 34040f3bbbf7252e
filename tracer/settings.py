"""The one settings object, read once from ``TRACER_*`` environment variables.

Only the composition root (``tracer.cli``) builds it; everything below receives plain
arguments, so connectors and matchers never read the environment themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["TracerSettings", "load_settings"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


class TracerSettings(BaseSettings):
    """Every knob of the pipeline, with loopback defaults that match ``tracer stack up``."""

    model_config = SettingsConfigDict(env_prefix="TRACER_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_user: str | None = None
    #: Never printed: repr, logs and errors show ``**********`` (issue 17.3).
    elasticsearch_password: SecretStr | None = None
    topic_prefix: str = ""
    feed_partitions: int = Field(default=4, ge=1, le=64)
    leads_alias: str = "leads"
    consumer_group: str = "tracer"
    worker_web_port: int = Field(default=6066, ge=1, le=65535)
    worker_web_host: str = "127.0.0.1"
    model_path: Path | None = None
    stack_dir: Path = _REPO_ROOT / ".stack"
    kafka_version: str = "4.1.1"
    elasticsearch_version: str = "9.2.4"
    kafka_heap: str = "512m"
    elasticsearch_heap: str = "768m"
    java_home: Path | None = None
    elasticsearch_java_home: Path | None = None
    max_event_bytes: int = Field(default=64 * 1024, ge=1024)
    bulk_max_actions: int = Field(default=500, ge=1)
    bulk_flush_seconds: float = Field(default=0.5, gt=0)
    # Longest line `tracer produce` publishes; longer ones are rejected unread. Kafka's default
    # message.max.bytes is 1,048,588 per batch: this leaves room for the key and the framing.
    produce_max_line_bytes: int = Field(default=1_000_000, ge=1024)
    #: Total lag (records, feeds and leads) above which the worker's /health says catching_up.
    worker_health_lag_threshold: int = Field(default=1000, ge=0)
    # Bounds (issue 11): no single message, record or outage stops the pipeline.
    #: Largest encoded dead letter; a larger original is kept as a prefix + sha256 + size.
    max_dead_letter_bytes: int = Field(default=128 * 1024, ge=16 * 1024, le=900_000)
    #: Largest roster record accepted; a larger one is invalid (dead-lettered once).
    max_roster_bytes: int = Field(default=64 * 1024, ge=1024, le=900_000)
    #: Largest lead document published or indexed; a larger one is dead-lettered.
    max_lead_bytes: int = Field(default=256 * 1024, ge=4096, le=900_000)
    #: Longest pause between two retries of any service call (full-jitter backoff cap).
    retry_max_seconds: float = Field(default=10.0, gt=0, le=300)
    #: After SIGTERM / SIGINT, the worker exits by then even if Faust's shutdown still waits.
    worker_stop_timeout_seconds: float = Field(default=8.0, gt=0, le=60)
    #: How far after the time of matching an event's ``occurred_at`` may be (source clocks
    #: drift); later events are dead-lettered ``occurred_at_out_of_window``.
    event_future_margin_s: int = Field(default=86_400, ge=0, le=366 * 86_400)

    # Client security (issue 17.3), read by connectors/clients.py, the one place clients are
    # built. The defaults are the local stack's: plaintext, no login.
    #: Kafka's security protocol: PLAINTEXT, SASL_SSL (login over TLS) or SSL (TLS, optionally
    #: with a client certificate).
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    #: The SASL mechanism with SASL_SSL.
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "PLAIN"] = "SCRAM-SHA-512"
    #: The SASL login with SASL_SSL.
    kafka_username: str | None = None
    #: Its password; never printed (repr, logs, errors).
    kafka_password: SecretStr | None = None
    #: The CA bundle that signed the brokers' certificates (default: the system's).
    kafka_ca_file: Path | None = None
    #: A client certificate and its key, for brokers that require one (SSL).
    kafka_cert_file: Path | None = None
    kafka_key_file: Path | None = None
    #: The CA bundle that signed Elasticsearch's certificate (https; default: the system's).
    #: Certificates are always verified.
    elasticsearch_ca_file: Path | None = None


def load_settings() -> TracerSettings:
    """Read the settings from the environment once, where the app is composed."""
    return TracerSettings()
