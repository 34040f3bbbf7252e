"""The one place where Kafka and Elasticsearch clients are built from the settings.

Every client of the project, whoever uses it, comes from here, so the address, the login and
the TLS material are read one way everywhere (issue 12.3, 17.3)::

    admin = kafka_admin_client(settings, client_id="tracer-admin")         # kafka-python
    producer = kafka_producer_client(settings, acks="all")                  # kafka-python
    consumer = kafka_consumer_client(settings, client_id="tracer-lag")      # kafka-python
    follower = aiokafka_consumer(settings, group_id=None)                    # aiokafka
    app = faust.App(..., broker_credentials=faust_broker_credentials(settings))
    es = elasticsearch_client(settings, request_timeout=30)                 # sync
    es = async_elasticsearch_client(settings, request_timeout=30)           # async
    es = retried_elasticsearch_client(settings)    # async, for code that retries via Retrier

The settings are anything shaped like :class:`KafkaClientSettings` /
:class:`ElasticsearchClientSettings` (``tracer.settings.TracerSettings`` fits both); this
module never reads the environment. The rules:

* Kafka: ``kafka_security_protocol`` ``PLAINTEXT`` (the local stack), ``SASL_SSL`` (login
  ``kafka_username`` / ``kafka_password`` with ``kafka_sasl_mechanism`` over TLS) or ``SSL``
  (TLS, with a client certificate when ``kafka_cert_file`` / ``kafka_key_file`` are set). TLS
  trusts ``kafka_ca_file`` when set, else the system's CAs, and always checks host names.
* Elasticsearch: HTTP basic login when ``elasticsearch_user`` is set (with
  ``elasticsearch_password``, empty when unset); with https, the certificate is always
  verified, against ``elasticsearch_ca_file`` when set.
* Passwords are pydantic ``SecretStr``: they are unwrapped only in the call that hands them to
  the client library, so no repr, log line or error of ours can show one.

Errors are not translated here: each adapter that connects translates its library's errors
(:mod:`connectors.errors`), since only it knows what the failure means for its work.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.helpers import create_ssl_context
from elasticsearch import AsyncElasticsearch, Elasticsearch
from elasticsearch.serializer import NdjsonSerializer, OrjsonSerializer
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient
from pydantic import SecretStr

from connectors.errors import ClientConfigError

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT  # noqa: TID251 - a type only, see below

__all__ = [
    "ElasticsearchClientSettings",
    "KafkaClientSettings",
    "KafkaSecurityProtocol",
    "OrjsonNdjsonSerializer",
    "SaslMechanism",
    "aiokafka_consumer",
    "aiokafka_producer",
    "aiokafka_security",
    "async_elasticsearch_client",
    "elasticsearch_client",
    "elasticsearch_security",
    "faust_broker_credentials",
    "kafka_admin_client",
    "kafka_consumer_client",
    "kafka_producer_client",
    "kafka_python_security",
    "retried_elasticsearch_client",
]

KafkaSecurityProtocol = Literal["PLAINTEXT", "SASL_SSL", "SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "PLAIN"]


class KafkaClientSettings(Protocol):
    """What a Kafka client is built from (``tracer.settings.TracerSettings`` fits)."""

    @property
    def kafka_bootstrap(self) -> str:
        """Bootstrap servers, ``host:port[,host:port...]``."""
        ...

    @property
    def kafka_security_protocol(self) -> KafkaSecurityProtocol:
        """PLAINTEXT, SASL_SSL or SSL."""
        ...

    @property
    def kafka_sasl_mechanism(self) -> SaslMechanism:
        """SCRAM-SHA-512 or PLAIN (with SASL_SSL)."""
        ...

    @property
    def kafka_username(self) -> str | None:
        """The SASL login."""
        ...

    @property
    def kafka_password(self) -> SecretStr | None:
        """The SASL password."""
        ...

    @property
    def kafka_ca_file(self) -> Path | None:
        """The CA bundle to trust (default: the system's)."""
        ...

    @property
    def kafka_cert_file(self) -> Path | None:
        """A client certificate (SSL)."""
        ...

    @property
    def kafka_key_file(self) -> Path | None:
        """The client certificate's key."""
        ...


class ElasticsearchClientSettings(Protocol):
    """What an Elasticsearch client is built from (``TracerSettings`` fits)."""

    @property
    def elasticsearch_url(self) -> str:
        """The node's URL."""
        ...

    @property
    def elasticsearch_user(self) -> str | None:
        """The login (HTTP basic), if any."""
        ...

    @property
    def elasticsearch_password(self) -> SecretStr | None:
        """Its password."""
        ...

    @property
    def elasticsearch_ca_file(self) -> Path | None:
        """The CA bundle to trust with https (default: the system's)."""
        ...


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def _optional_path(value: Path | None) -> str | None:
    return None if value is None else str(value)


def _checked(settings: KafkaClientSettings) -> KafkaSecurityProtocol:
    """Return the protocol once its login and TLS files are usable (before any client exists).

    Raises:
        ClientConfigError: naming the setting that is missing or whose file cannot be read.
    """
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return protocol
    if protocol == "SASL_SSL" and not (settings.kafka_username and settings.kafka_password):
        raise ClientConfigError(
            "TRACER_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs TRACER_KAFKA_USERNAME and "
            "TRACER_KAFKA_PASSWORD"
        )
    if (settings.kafka_cert_file is None) != (settings.kafka_key_file is None):
        raise ClientConfigError("TRACER_KAFKA_CERT_FILE and TRACER_KAFKA_KEY_FILE go together")
    for name, path in (
        ("TRACER_KAFKA_CA_FILE", settings.kafka_ca_file),
        ("TRACER_KAFKA_CERT_FILE", settings.kafka_cert_file),
        ("TRACER_KAFKA_KEY_FILE", settings.kafka_key_file),
    ):
        if path is not None and not path.is_file():
            raise ClientConfigError(f"{name}: no readable file at {path}")
    return protocol


def kafka_python_security(settings: KafkaClientSettings) -> dict[str, Any]:
    """Return kafka-python's security options for the settings (empty for PLAINTEXT).

    Raises:
        ClientConfigError: a login or a TLS file the protocol needs is missing.

    Example:
        >>> from types import SimpleNamespace as S
        >>> kafka_python_security(S(kafka_security_protocol="PLAINTEXT"))
        {}
    """
    protocol = _checked(settings)
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {
        "security_protocol": protocol,
        "ssl_check_hostname": True,
        "ssl_cafile": _optional_path(settings.kafka_ca_file),
        "ssl_certfile": _optional_path(settings.kafka_cert_file),
        "ssl_keyfile": _optional_path(settings.kafka_key_file),
    }
    if protocol == "SASL_SSL":
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_username,
            "sasl_plain_password": _secret(settings.kafka_password),
        }
    return {key: value for key, value in options.items() if value is not None}


def _ssl_context(settings: KafkaClientSettings) -> ssl.SSLContext:
    """The TLS context of aiokafka and Faust: the CA to trust, the client certificate if any."""
    context: ssl.SSLContext = create_ssl_context(
        cafile=_optional_path(settings.kafka_ca_file),
        certfile=_optional_path(settings.kafka_cert_file),
        keyfile=_optional_path(settings.kafka_key_file),
    )
    return context


def aiokafka_security(settings: KafkaClientSettings) -> dict[str, Any]:
    """Return aiokafka's security options for the settings (PLAINTEXT: the protocol only).

    Raises:
        ClientConfigError: a login or a TLS file the protocol needs is missing.
    """
    protocol = _checked(settings)
    if protocol == "PLAINTEXT":
        return {"security_protocol": "PLAINTEXT"}
    options: dict[str, Any] = {"security_protocol": protocol, "ssl_context": _ssl_context(settings)}
    if protocol == "SASL_SSL":
        options |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_username,
            "sasl_plain_password": _secret(settings.kafka_password),
        }
    return options


def faust_broker_credentials(settings: KafkaClientSettings) -> CredentialsT | None:
    """Return the ``broker_credentials`` of the Faust app (``None`` for PLAINTEXT).

    Faust hands them to aiokafka for its consumer and producer (``credentials_to_aiokafka_auth``),
    so the worker's own clients log in as the others do.
    """
    # Faust's credential classes are values, not wiring: built here so that every client's
    # login is read in this one module (connectors/ruff.toml bans faust for wiring).
    from faust.auth import SASLCredentials, SSLCredentials  # noqa: PLC0415, TID251

    protocol = _checked(settings)
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return SSLCredentials(_ssl_context(settings))
    return SASLCredentials(
        username=settings.kafka_username,
        password=_secret(settings.kafka_password),
        ssl_context=_ssl_context(settings),
        mechanism=settings.kafka_sasl_mechanism,
    )


def kafka_admin_client(settings: KafkaClientSettings, **options: Any) -> KafkaAdminClient:
    """Build a kafka-python ``KafkaAdminClient`` (``options``: client id, timeouts)."""
    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, **options, **kafka_python_security(settings)
    )


def kafka_producer_client(settings: KafkaClientSettings, **options: Any) -> KafkaProducer:
    """Build a kafka-python ``KafkaProducer`` (``options``: acks, batching, limits)."""
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **options, **kafka_python_security(settings)
    )


def kafka_consumer_client(
    settings: KafkaClientSettings, *topics: str, **options: Any
) -> KafkaConsumer:
    """Build a kafka-python ``KafkaConsumer`` (``options``: client id, group, offsets)."""
    return KafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap,
        **options,
        **kafka_python_security(settings),
    )


def aiokafka_consumer(settings: KafkaClientSettings, **options: Any) -> AIOKafkaConsumer:
    """Build an aiokafka ``AIOKafkaConsumer`` (``options``: client id, group, offsets)."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, **options, **aiokafka_security(settings)
    )


def aiokafka_producer(settings: KafkaClientSettings, **options: Any) -> AIOKafkaProducer:
    """Build an aiokafka ``AIOKafkaProducer`` (``options``: acks, batching)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **options, **aiokafka_security(settings)
    )


def elasticsearch_security(settings: ElasticsearchClientSettings) -> dict[str, Any]:
    """Return the login and TLS options of an Elasticsearch client (sync or async).

    One rule for every client: HTTP basic when a user is set (an unset password is empty);
    with https the certificate is verified, against the CA file when one is set.

    Raises:
        ClientConfigError: the CA file is set but cannot be read.

    Example:
        >>> from types import SimpleNamespace as S
        >>> elasticsearch_security(S(elasticsearch_user=None, elasticsearch_password=None,
        ...                          elasticsearch_url="http://127.0.0.1:9200",
        ...                          elasticsearch_ca_file=None))
        {}
    """
    options: dict[str, Any] = {}
    ca_file = settings.elasticsearch_ca_file
    if ca_file is not None and not ca_file.is_file():
        raise ClientConfigError(f"TRACER_ELASTICSEARCH_CA_FILE: no readable file at {ca_file}")
    if settings.elasticsearch_user:
        password = _secret(settings.elasticsearch_password) or ""
        options["basic_auth"] = (settings.elasticsearch_user, password)
    if settings.elasticsearch_url.lower().startswith("https:"):
        options["verify_certs"] = True
        if settings.elasticsearch_ca_file is not None:
            options["ca_certs"] = str(settings.elasticsearch_ca_file)
    return options


def elasticsearch_client(settings: ElasticsearchClientSettings, **options: Any) -> Elasticsearch:
    """Build a sync ``Elasticsearch`` client (``options``: timeouts, retries)."""
    return Elasticsearch(settings.elasticsearch_url, **options, **elasticsearch_security(settings))


def async_elasticsearch_client(
    settings: ElasticsearchClientSettings, **options: Any
) -> AsyncElasticsearch:
    """Build an ``AsyncElasticsearch`` client (``options``: timeouts, retries, serializers)."""
    return AsyncElasticsearch(
        settings.elasticsearch_url, **options, **elasticsearch_security(settings)
    )


class OrjsonNdjsonSerializer(NdjsonSerializer):
    """Bulk bodies written and read with orjson (the stdlib ``json`` took ~35 us a lead)."""

    def json_dumps(self, data: Any) -> bytes:
        """Serialise one line of the body."""
        return orjson.dumps(data, default=self.default)

    def json_loads(self, data: bytes) -> Any:
        """Parse one line."""
        return orjson.loads(data)


def retried_elasticsearch_client(
    settings: ElasticsearchClientSettings, *, request_timeout: float = 30
) -> AsyncElasticsearch:
    """Build the ``AsyncElasticsearch`` client of code that retries through ``connectors.retry``.

    The one retry policy is the Retrier's: the client's own retries (3, each logged with a
    traceback) would multiply it and flood the log while Elasticsearch is down, so it makes
    none. Bodies go through orjson: the stdlib serializer cost ~25 ms a bulk of 1,000 documents
    on the worker's event loop.
    """
    return async_elasticsearch_client(
        settings,
        request_timeout=request_timeout,
        max_retries=0,
        retry_on_timeout=False,
        serializers={
            OrjsonSerializer.mimetype: OrjsonSerializer(),
            OrjsonNdjsonSerializer.mimetype: OrjsonNdjsonSerializer(),
        },
    )
