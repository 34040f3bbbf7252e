"""A lead message is indexed only in the shape the matcher writes it."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from connectors.deadletter import decode_dead_letter
from connectors.elasticsearch import InMemoryLeadIndexer
from connectors.lead_schema import LEAD_FIELDS, lead_problem
from matchers.leads import lead_id
from streams.lead_writer import LeadWriter


def good_lead(**changes: Any) -> dict[str, Any]:
    lead = {
        "lead_id": lead_id("p1", "bank", "e1"),
        "person_id": "p1",
        "event_id": "e1",
        "source": "bank",
        "event_type": "account_opened",
        "occurred_at": "2026-12-01T08:00:00+08:00",
        "@timestamp": "2026-12-01T08:00:00+08:00",
        "score": 14.25,
        "probability": 0.99995,
        "tier": "high",
        "status": "new",
        "district": "美兰区",
        "case_officer": "officer-7",
        "person_name": "张伟",
        "event_name": "ZHANG WEI",
        "explanation": {
            "reason_zh": "证件号一致",
            "reason_en": "same id",
            "fields": [
                {"field": "id", "level": "exact", "weight": 12.0, "detail_zh": "", "detail_en": ""}
            ],
        },
        "flags": [],
        "model_version": "default-sim-4",
        "event_digest": "a" * 64,
    }
    lead.update(changes)
    return lead


def test_a_lead_as_the_matcher_writes_it_passes() -> None:
    assert lead_problem(good_lead()) is None
    assert lead_problem(good_lead(district=None, event_name=None, event_type=None)) is None
    assert lead_problem(good_lead(run_id="stream", qualifies=True)) is None


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"status": "confirmed"}, "status: not one of new"),
        ({"review": {"assignee": "x"}}, "unknown field 'review'"),
        ({"tier": "urgent"}, "tier: not one of high, medium, low"),
        ({"source": "police"}, "source: not one of hukou, bank, telecom"),
        ({"score": "high!"}, "score: not a number"),
        ({"score": float("nan")}, "score: outside"),
        ({"score": True}, "score: not a number"),
        ({"probability": 1.5}, "probability: outside"),
        ({"occurred_at": "2026-12-01T08:00:00"}, "occurred_at: has no UTC offset"),
        ({"@timestamp": "yesterday"}, "@timestamp: not an ISO-8601 time"),
        ({"person_name": "x" * 10_000}, "person_name: longer than"),
        ({"flags": ["a"] * 100}, "flags: not a list"),
        ({"event_digest": "zz"}, "event_digest: not a sha256"),
        ({"lead_id": lead_id("p2", "bank", "e1")}, "lead_id: not the id of its person"),
        ({"person_id": ""}, "person_id: empty"),
        ({"extra_html": "<script>"}, "unknown field 'extra_html'"),
    ],
)
def test_each_rule_names_field_and_rule(changes: dict[str, Any], problem: str) -> None:
    found = lead_problem(good_lead(**changes))
    assert found is not None and found.startswith(problem)
    assert "<script>" not in found and "x" * 20 not in found  # never the value


def test_required_fields_and_explanation_shape() -> None:
    for field in ("lead_id", "person_id", "tier", "explanation", "model_version"):
        lead = good_lead()
        del lead[field]
        assert lead_problem(lead) == f"{field}: missing"
    bad = good_lead()
    bad["explanation"] = copy.deepcopy(bad["explanation"])
    bad["explanation"]["fields"][0]["weight"] = "lots"
    assert lead_problem(bad) == "explanation: fields: weight: not a number"


def test_every_mapped_lead_field_has_a_rule() -> None:
    from connectors.lead_index import lead_mappings

    # Review state (lead document v2's ``review`` object) is the review service's: a message
    # on the leads topic may not carry it, so it has no rule on purpose.
    assert set(lead_mappings()["properties"]) - {"review"} <= set(LEAD_FIELDS)
    assert "review" not in LEAD_FIELDS


def record(value: bytes, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic="leads",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=b"k",
        value=value,
        checksum=None,
        serialized_key_size=1,
        serialized_value_size=len(value),
        headers=(),
    )


async def test_the_writer_dead_letters_a_forged_lead_and_indexes_the_rest() -> None:
    twin = InMemoryLeadIndexer()
    writer = LeadWriter(twin, lambda _pid: None, check=lead_problem)
    forged = good_lead(status="confirmed")
    dead = await writer.write(
        [record(orjson.dumps(forged), 0), record(orjson.dumps(good_lead()), 1)]
    )
    assert list(twin.documents) == [good_lead()["lead_id"]]
    (letter,) = [decode_dead_letter(d.value) for d in dead]
    assert letter["reason"] == "lead_invalid"
    assert letter["detail"] == "status: not one of new"
    assert writer.stats.by_reason == {"lead_invalid": 1}
