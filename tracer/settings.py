"""The one settings object, read once from ``TRACER_*`` environment variables.

Only the composition root (``tracer.cli``) builds it; everything below receives plain
arguments, so connectors and matchers never read the environment themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from matchers.errors import TracerError

__all__ = ["SettingsError", "TracerSettings", "load_settings"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _is_password(name: str) -> bool:
    return name.endswith(("_password", "_secret"))


def _placeholder(value: object) -> bool:
    """Tell an unset, empty or ``change-me`` secret (the values .env.example ships)."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if text is None:
        return True
    stripped = str(text).strip()
    return not stripped or stripped.lower().startswith("change-me")


class SettingsError(TracerError):
    """The environment holds settings that cannot be used (one line naming each)."""


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
    # The officers' review service (issue 15): `tracer serve`, `tracer users`, `tracer audit`.
    #: Where `tracer serve` listens: loopback unless deliberately exposed behind a proxy.
    review_host: str = "127.0.0.1"
    review_port: int = Field(default=8080, ge=1, le=65535)
    #: How long a session lasts after login.
    review_session_minutes: int = Field(default=30, ge=1, le=24 * 60)
    #: The key signing session cookies and CSRF tokens (32+ characters, shared by replicas);
    #: unset, each `tracer serve` draws its own and sessions end when it restarts.
    review_secret: str | None = Field(default=None, min_length=32)
    #: Session cookies only over HTTPS (set behind a TLS proxy).
    review_secure_cookie: bool = False
    #: The users index (doc id = username), read by the alerts for subscription owners too.
    review_users_index: str = "review-users"
    #: The append-only audit index (its topic is `audit`, with the topic prefix).
    audit_index: str = "audit"
    # Kibana and the secure Docker stack (issue 17).
    #: Base URL of the review service; Kibana links each lead id to ``<base>/leads/<lead_id>``.
    review_base_url: str = "http://127.0.0.1:8080"
    #: Kibana's address for ``tracer kibana import`` (the Docker stack's set-up job).
    kibana_url: str = "http://127.0.0.1:5601"
    #: The user ``tracer kibana import`` logs in as (none: the local stack has no security).
    kibana_user: str | None = None
    kibana_password: SecretStr | None = None
    #: Security on (the Docker stack): every password must be set and not a placeholder.
    security_enabled: bool = False
    #: Retention, in days, of each kind of data (topics' retention.ms, indices by age);
    #: ``tracer stack init`` sets the topics', ``tracer retention`` removes older documents.
    retention_feeds_days: int = Field(default=7, ge=1, le=3650)
    retention_deadletter_days: int = Field(default=30, ge=1, le=3650)
    retention_leads_days: int = Field(default=365, ge=1, le=3650)
    retention_alerts_days: int = Field(default=90, ge=1, le=3650)
    retention_audit_days: int = Field(default=730, ge=1, le=3650)
    #: The event archive's day indices; at least ``retro_days`` (history a drop-out is searched in).
    retention_events_days: int = Field(default=90, ge=1, le=3650)
    #: Passwords of the Elasticsearch service users that ``tracer roles apply`` creates.
    es_worker_password: SecretStr | None = None
    es_review_password: SecretStr | None = None
    es_retention_password: SecretStr | None = None

    # Alert subscriptions (issue 16).
    #: Evaluate new leads against subscriptions in the worker (index and topic ``alerts``).
    alerts_enabled: bool = True
    #: The indices of subscriptions and notifications (the users' index: review_users_index).
    subscriptions_index: str = "subscriptions"
    alerts_index: str = "alerts"
    #: How often a worker checks the subscriptions for changes (the staleness bound, plus 1 s).
    alert_reload_seconds: float = Field(default=2.0, gt=0, le=300)
    #: Fernet key sealing webhook secrets at rest (`tracer subscriptions key` makes one).
    alert_secret_key: str | None = None
    #: One webhook request, connection included; a slower receiver is retried later.
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    #: How long one delivery is retried before it is dead-lettered and its subscription failing.
    alert_delivery_deadline_seconds: float = Field(default=60.0, gt=0, le=3600)
    #: How often undelivered notifications are swept (failing receivers, dead workers).
    alert_sweep_seconds: float = Field(default=30.0, gt=0, le=3600)
    #: How old a worker's claim on an unpublished notification must be before another worker's
    #: relay publishes it (a dead worker's notifications wait this long; alerts/outbox.py).
    alert_relay_lease_seconds: float = Field(default=30.0, gt=0, le=3600)
    #: How often each worker's relay looks for notifications left unpublished.
    alert_relay_seconds: float = Field(default=5.0, gt=0, le=3600)
    #: Notifications created and waiting for the topic; beyond it the lead writer waits.
    alert_pending_max: int = Field(default=50_000, ge=100, le=1_000_000)
    #: Tests only: accept http:// and loopback / private webhook addresses.
    alert_allow_http_webhooks: bool = False
    alert_allow_private_webhooks: bool = False

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

    # Retro-matching and the event archive (issue 14.2; docs/design.md, "Retro-matching").
    #: Archive every valid event the worker matched (Elasticsearch, one index per day).
    event_archive: bool = True
    #: The alias over the archive's day indices (``events-YYYY.MM.DD``); the review service's
    #: "reveal" reads an event's numbers there. Its retention: ``retention_events_days``.
    event_archive_alias: str = "events"
    #: A person's trace window begins this many days before their ``status_changed_at``: the
    #: stream, ``tracer reprocess`` and retro-matching all apply it (matchers.leads.before_trace).
    retro_days: int = Field(default=90, ge=0, le=3660)
    #: People retro-matched at once by one worker (each a bounded archive search).
    retro_concurrency: int = Field(default=2, ge=1, le=16)

    @model_validator(mode="after")
    def _secrets_are_real(self) -> TracerSettings:
        """With security on, refuse an empty or placeholder (``change-me...``) password."""
        if self.security_enabled:
            # Unset optional passwords are fine (the worker needs no Kibana password); a set
            # one must be real, and Elasticsearch's is needed by every service.
            bad = [
                name
                for name, value in self
                if _is_password(name) and value is not None and _placeholder(value)
            ]
            if self.elasticsearch_password is None:
                bad.append("elasticsearch_password")
            if bad:
                names = ", ".join(f"TRACER_{name.upper()}" for name in sorted(bad))
                raise ValueError(f"security is on but {names} is empty or a change-me placeholder")
        return self


def load_settings() -> TracerSettings:
    """Read the settings from the environment once, where the app is composed.

    Raises:
        SettingsError: a setting is invalid, or security is on with a missing or placeholder
            secret (the message names the variables, never their values).
    """
    try:
        return TracerSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors(include_input=False)
        )
        raise SettingsError(f"invalid settings: {problems}") from None
