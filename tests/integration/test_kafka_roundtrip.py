"""A message through the real broker, and the contract's topics as `tracer stack up` left them."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from tracer.settings import TracerSettings

with warnings.catch_warnings():  # kafka-python warns once on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer

    from connectors.topics import TopicSpec, contract_topics, ensure_topics, kafka_admin

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def admin(settings: TracerSettings) -> Iterator[Any]:
    client = kafka_admin(settings)
    yield client
    client.close()


@pytest.fixture
def topic(admin: Any, unique_name: str) -> Iterator[str]:
    report = ensure_topics(admin, [TopicSpec(unique_name, partitions=2)])
    assert report.created == (unique_name,)
    yield unique_name
    admin.delete_topics([unique_name])


def test_a_message_goes_through_the_broker(settings: TracerSettings, topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        producer.send(topic, key=b"e-1", value='{"name": "张伟"}'.encode()).get(timeout=30)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=20_000,
    )
    try:
        # Stop at the first message: waiting for the timeout would add 20 s to every run.
        received: list[tuple[bytes | None, bytes | None]] = []
        for message in consumer:
            received.append((message.key, message.value))
            break
    finally:
        consumer.close()
    assert received == [(b"e-1", '{"name": "张伟"}'.encode())]


def test_creating_an_existing_topic_again_is_fine(admin: Any, topic: str) -> None:
    report = ensure_topics(admin, [TopicSpec(topic, partitions=2)])
    assert report.existing == (topic,)
    assert report.created == ()


def test_contract_topics_exist_with_their_partitions(settings: TracerSettings, admin: Any) -> None:
    specs = contract_topics(prefix=settings.topic_prefix, feed_partitions=settings.feed_partitions)
    ensure_topics(admin, specs)  # as `tracer stack up` does; a no-op when it already ran
    described = {topic["name"]: topic for topic in admin.describe_topics([s.name for s in specs])}
    for spec in specs:
        assert described[spec.name]["error_code"] == 0, spec.name
        assert len(described[spec.name]["partitions"]) == spec.partitions, spec.name
        assert described[spec.name]["is_internal"] is False
