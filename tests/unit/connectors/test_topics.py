"""The contract's topics as values, and ensure_topics against an in-memory admin twin."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from connectors.errors import ServiceUnavailable, StackError

with warnings.catch_warnings():  # kafka-python warns once on import; the suite errors on warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.errors import KafkaTimeoutError, UnknownError

    from connectors.topics import TopicSpec, contract_topics, ensure_topics

from contract import ALL_TOPICS, FEED_TOPICS, topic_name


class FakeAdmin:
    """Holds topics in a dict; can answer chosen topics with an error code."""

    def __init__(
        self, existing: dict[str, int] | None = None, errors: dict[str, int] | None = None
    ):
        self.topics = dict(existing or {})
        self.errors = errors or {}
        self.requests: list[dict[str, Any]] = []

    def list_topics(self) -> list[str]:
        return list(self.topics)

    def create_topics(self, new_topics: dict[str, dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        assert kwargs == {"raise_errors": False}
        self.requests.append(new_topics)
        answers = []
        for name, body in new_topics.items():
            code = self.errors.get(name, 0)
            if code == 0:
                self.topics[name] = body["num_partitions"]
            answers.append({"name": name, "error_code": code, "error_message": None})
        return {"topics": answers}


class BrokenAdmin(FakeAdmin):
    def __init__(self, exc: Exception):
        super().__init__()
        self.exc = exc

    def list_topics(self) -> list[str]:
        raise self.exc


def test_contract_has_the_eight_topics_and_ours_with_feed_partitions() -> None:
    specs = contract_topics(feed_partitions=4)
    assert [spec.name for spec in specs] == [
        "supervision.roster",
        "feeds.hukou",
        "feeds.bank",
        "feeds.telecom",
        "leads",
        "deadletter",
        "alerts",
        "audit",
        "tracer.roster.valid",
    ]
    assert {spec.partitions for spec in specs} == {4}
    assert {spec.replication_factor for spec in specs} == {1}


def test_only_the_roster_and_its_last_valid_records_are_compacted() -> None:
    specs = {spec.name: spec for spec in contract_topics()}
    compacted = {"supervision.roster", "tracer.roster.valid"}
    assert all(specs[name].configs["cleanup.policy"] == "compact" for name in compacted)
    assert all(
        "cleanup.policy" not in specs[name].configs for name in specs if name not in compacted
    )


def test_prefix_applies_to_every_topic() -> None:
    names = [spec.name for spec in contract_topics(prefix="t1.")]
    assert names == [f"t1.{key}" for key in ALL_TOPICS]
    assert topic_name("feeds.bank", prefix="t1.") == "t1.feeds.bank"
    assert topic_name("leads") == "leads"


def test_feed_topics_are_the_three_sources() -> None:
    assert FEED_TOPICS == ("feeds.hukou", "feeds.bank", "feeds.telecom")


@pytest.mark.parametrize("partitions", [0, -1])
def test_partitions_below_one_are_refused(partitions: int) -> None:
    with pytest.raises(ValueError, match="feed_partitions"):
        contract_topics(feed_partitions=partitions)


def test_ensure_creates_only_missing_topics() -> None:
    admin = FakeAdmin(existing={"leads": 4})
    report = ensure_topics(admin, contract_topics(feed_partitions=2))
    assert report.existing == ("leads",)
    assert len(report.created) == len(ALL_TOPICS) - 1
    assert "leads" not in admin.requests[0]
    assert admin.requests[0]["supervision.roster"]["configs"]["cleanup.policy"] == "compact"
    assert admin.topics["feeds.bank"] == 2


def test_ensure_twice_is_a_no_op() -> None:
    admin = FakeAdmin()
    ensure_topics(admin, contract_topics())
    report = ensure_topics(admin, contract_topics())
    assert report.created == ()
    assert len(report.existing) == len(ALL_TOPICS)
    assert len(admin.requests) == 1


def test_a_racing_creator_counts_as_existing() -> None:
    admin = FakeAdmin(errors={"leads": 36})
    report = ensure_topics(admin, [TopicSpec("leads", 4)])
    assert report == type(report)(created=(), existing=("leads",))


def test_other_broker_errors_are_stack_errors() -> None:
    admin = FakeAdmin(errors={"leads": 37})
    with pytest.raises(StackError, match="leads"):
        ensure_topics(admin, [TopicSpec("leads", 4)])


def test_a_silent_broker_is_unavailable_and_retriable() -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        ensure_topics(BrokenAdmin(KafkaTimeoutError("no answer")), contract_topics())
    assert caught.value.retriable


def test_a_non_retriable_kafka_error_is_a_stack_error() -> None:
    with pytest.raises(StackError):
        ensure_topics(BrokenAdmin(UnknownError("boom")), contract_topics())
