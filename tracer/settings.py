"""The one settings object, read once from ``TRACER_*`` environment variables.

Only the composition root (``tracer.cli``) builds it; everything below receives plain
arguments, so connectors and matchers never read the environment themselves.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["TracerSettings", "load_settings"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


class TracerSettings(BaseSettings):
    """Every knob of the pipeline, with loopback defaults that match ``tracer stack up``."""

    model_config = SettingsConfigDict(env_prefix="TRACER_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_user: str | None = None
    elasticsearch_password: str | None = None
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
    # Retro-matching and the event archive (issue 14.2; docs/design.md, "Retro-matching").
    #: Archive every valid event the worker matched (Elasticsearch, one index per day).
    event_archive: bool = True
    #: The alias over the archive's day indices (``events-YYYY.MM.DD``).
    event_archive_alias: str = "events"
    #: Day indices older than this many days are deleted whole (``delete_older_than``).
    event_archive_retention_days: int = Field(default=90, ge=1, le=3660)
    #: A person's trace window begins this many days before their ``status_changed_at``: the
    #: stream, ``tracer reprocess`` and retro-matching all apply it (matchers.leads.before_trace).
    retro_days: int = Field(default=90, ge=0, le=3660)
    #: People retro-matched at once by one worker (each a bounded archive search).
    retro_concurrency: int = Field(default=2, ge=1, le=16)


def load_settings() -> TracerSettings:
    """Read the settings from the environment once, where the app is composed."""
    return TracerSettings()
