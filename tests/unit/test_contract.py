"""The contract stated once: every package reads its topics, sources and statuses from contract/."""

from __future__ import annotations

import ast
from pathlib import Path

import orjson
import pytest

from connectors.kafka import DEFAULT_FEED, route_event_line, route_roster_line
from connectors.topics import contract_topics
from contract import (
    ALL_TOPICS,
    COMPACTED_TOPICS,
    FEED_TOPICS,
    LEAD_STATUSES,
    ROSTER_STATUSES,
    SOURCES,
    feed_topic,
    topic_name,
)
from matchers.envelope import closed_word, validate_event_envelope
from matchers.errors import InvalidRecord
from matchers.records import person_from_raw

ROOT = Path(__file__).resolve().parents[2]
OURS = {"matchers", "connectors", "streams", "tracer", "simulator", "stack", "bench", "tests"}

EVENT = {"event_id": "e1", "occurred_at": "2026-11-29T08:00:00+08:00"}
PERSON = {"person_id": "p1", "name": "张伟", "status_changed_at": "2026-01-01T00:00:00+08:00"}


def test_contract_is_a_leaf_importing_nothing_of_ours() -> None:
    for path in (ROOT / "contract").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        } | {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert not imported & OURS, path


def test_every_source_has_its_feed_topic_and_every_topic_is_created() -> None:
    assert [feed_topic(source) for source in SOURCES] == list(FEED_TOPICS)
    assert set(FEED_TOPICS) | COMPACTED_TOPICS <= set(ALL_TOPICS)
    assert {"alerts", "audit", "leads", "deadletter"} <= set(ALL_TOPICS)
    names = [spec.name for spec in contract_topics(prefix="t.")]
    assert names == [topic_name(key, prefix="t.") for key in ALL_TOPICS]
    assert LEAD_STATUSES[0] == "new"


@pytest.mark.parametrize("source", SOURCES)
def test_the_matcher_accepts_and_produce_routes_each_contract_source(source: str) -> None:
    assert validate_event_envelope(EVENT | {"source": source.upper()})[1] == source
    route = route_event_line(orjson.dumps(EVENT | {"source": source}))
    assert (route.topic, route.key) == (feed_topic(source), b"e1")  # type: ignore[arg-type]


def test_a_source_outside_the_contract_is_refused_and_routed_to_be_dead_lettered() -> None:
    with pytest.raises(InvalidRecord) as refused:
        validate_event_envelope(EVENT | {"source": "airline"})
    assert refused.value.reason == "unknown_source"
    assert route_event_line(orjson.dumps(EVENT | {"source": "airline"})).topic == DEFAULT_FEED
    assert route_roster_line(orjson.dumps(PERSON)).topic == "supervision.roster"


@pytest.mark.parametrize("status", ROSTER_STATUSES)
def test_each_roster_status_of_the_contract_is_read(status: str) -> None:
    assert person_from_raw(PERSON | {"status": f" {status.upper()} "}).status == status


@pytest.mark.parametrize(
    ("value", "reason", "detail"),
    [
        (None, "missing_status", None),
        ("  ", "missing_status", "empty"),
        (3, "unknown_status", "int"),
        ("paroled", "unknown_status", None),
    ],
)
def test_closed_word_refuses_with_the_reason_never_the_value(
    value: object, reason: str, detail: str | None
) -> None:
    with pytest.raises(InvalidRecord) as refused:
        closed_word(value, ROSTER_STATUSES, missing="missing_status", unknown="unknown_status")
    assert (refused.value.reason, refused.value.detail) == (reason, detail)
    assert "paroled" not in str(refused.value)
