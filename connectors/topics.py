"""The contract's Kafka topics as specs, and one idempotent call that creates them.

The names, the prefix rule and which topics are compacted are the contract's
(:mod:`contract.topics`); this module only adds partitions, replication and configs.

The specs are pure values (tested by value); :func:`ensure_topics` is the one place that talks
to a broker, through anything shaped like kafka-python's ``KafkaAdminClient``::

    specs = contract_topics(prefix="", feed_partitions=4)
    admin = kafka_admin(settings)
    try:
        report = ensure_topics(admin, specs)
    finally:
        admin.close()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from contract import ALL_TOPICS, COMPACTED_TOPICS, topic_name
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from connectors.clients import KafkaClientSettings, kafka_admin_client
from connectors.endpoints import kafka_addresses, require_listening
from connectors.errors import ServiceUnavailable, StackError

__all__ = [
    "AdminClient",
    "TopicReport",
    "TopicSpec",
    "contract_topics",
    "drop_topics",
    "ensure_topics",
    "kafka_admin",
]

# Kafka's error codes for "fine, it is there already" on CreateTopics.
_TOPIC_ALREADY_EXISTS: Final = 36
_NO_ERROR: Final = 0


@dataclass(frozen=True)
class TopicSpec:
    """One topic to create: name, partitions, replication and topic-level configs."""

    name: str
    partitions: int
    replication_factor: int = 1
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicReport:
    """What :func:`ensure_topics` did: topics it created and topics that were there already."""

    created: tuple[str, ...]
    existing: tuple[str, ...]


class AdminClient(Protocol):
    """The slice of kafka-python's ``KafkaAdminClient`` that :func:`ensure_topics` uses."""

    def list_topics(self) -> list[str]:
        """Return the names of every topic in the cluster."""
        ...

    def create_topics(self, new_topics: Any, **kwargs: Any) -> Any:
        """Create topics; see kafka-python for the exact shapes."""
        ...


def contract_topics(
    *, prefix: str = "", feed_partitions: int = 4, replication_factor: int = 1
) -> tuple[TopicSpec, ...]:
    """Return the specs of every contract topic.

    Every topic gets ``feed_partitions`` partitions so the roster, the feeds and the pipeline's
    outputs are co-partitioned (Faust tables need it). The roster is compacted: the latest record
    per ``person_id`` wins and old versions are eventually dropped, so a new worker can read the
    whole watchlist from the beginning without replaying history.
    """
    if feed_partitions < 1:
        raise ValueError(f"feed_partitions must be at least 1, got {feed_partitions}")
    compacted = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}
    return tuple(
        TopicSpec(
            name=topic_name(key, prefix=prefix),
            partitions=feed_partitions,
            replication_factor=replication_factor,
            configs=compacted if key in COMPACTED_TOPICS else {},
        )
        for key in ALL_TOPICS
    )


def _create_request(specs: Iterable[TopicSpec]) -> dict[str, dict[str, Any]]:
    return {
        spec.name: {
            "num_partitions": spec.partitions,
            "replication_factor": spec.replication_factor,
            "configs": dict(spec.configs),
        }
        for spec in specs
    }


def ensure_topics(admin: AdminClient, specs: Iterable[TopicSpec]) -> TopicReport:
    """Create every topic in ``specs`` that does not exist yet; existing topics are fine.

    Idempotent and safe against a concurrent creator (a racing ``TOPIC_ALREADY_EXISTS`` counts
    as existing). Existing topics are left as they are, even with another partition count.

    Raises:
        StackError: the broker refused to create a topic for another reason.
        ServiceUnavailable: the broker did not answer.
    """
    try:
        return _ensure_topics(admin, list(specs))
    except KafkaError as exc:
        if exc.retriable:
            raise ServiceUnavailable(f"Kafka did not answer while creating topics: {exc}") from exc
        raise StackError(f"Kafka refused to create topics: {exc}") from exc


def _ensure_topics(admin: AdminClient, wanted: list[TopicSpec]) -> TopicReport:
    present = set(admin.list_topics())
    missing = [spec for spec in wanted if spec.name not in present]
    existing = [spec.name for spec in wanted if spec.name in present]
    created: list[str] = []
    if missing:
        response = admin.create_topics(_create_request(missing), raise_errors=False)
        for topic in response.get("topics", []):
            code = int(topic.get("error_code", _NO_ERROR))
            if code == _NO_ERROR:
                created.append(topic["name"])
            elif code == _TOPIC_ALREADY_EXISTS:
                existing.append(topic["name"])
            else:
                message = topic.get("error_message") or f"error code {code}"
                raise StackError(f"could not create topic {topic['name']!r}: {message}")
    return TopicReport(created=tuple(sorted(created)), existing=tuple(sorted(existing)))


def drop_topics(kafka: KafkaClientSettings, names: Iterable[str], *, group: str) -> None:
    """Delete topics and a consumer group, best effort (clean-up after a test or benchmark)."""
    admin = kafka_admin_client(kafka)
    try:
        admin.delete_topics(list(names), raise_errors=False)
        admin.delete_groups([group])
    except (KafkaError, OSError):  # a leftover under a unique prefix harms nothing: go on
        pass
    finally:
        admin.close()


def kafka_admin(kafka: KafkaClientSettings, *, timeout_s: float = 10.0) -> KafkaAdminClient:
    """Connect a kafka-python ``KafkaAdminClient`` to the configured Kafka.

    Raises:
        ConnectionRefused: nothing listens at the bootstrap addresses (said within seconds).
        ServiceUnavailable: no broker answered within ``timeout_s`` (worth retrying).
        StackError: the client refused its configuration (not worth retrying).
    """
    bootstrap = kafka.kafka_bootstrap
    require_listening("Kafka", kafka_addresses(bootstrap))
    timeout_ms = int(timeout_s * 1000)
    try:
        return kafka_admin_client(
            kafka,
            client_id="tracer-admin",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaError as exc:
        if exc.retriable:
            raise ServiceUnavailable(f"Kafka at {bootstrap} did not answer: {exc}") from exc
        raise StackError(f"could not connect to Kafka at {bootstrap}: {exc}") from exc
