"""Lead documents: deterministic id, every field of the design table, byte-stable output."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matchers.leads import LEAD_NAMESPACE, build_lead, lead_bytes, lead_id
from matchers.records import event_from_raw, person_from_raw
from matchers.scoring.compare import score_pair
from matchers.scoring.explain import explain
from matchers.scoring.modelfile import default_model

PERSON = {
    "person_id": "p1",
    "name": "张伟",
    "id_number": "460105199001017124",
    "status": "dropped_out",
    "status_changed_at": "2026-01-05T09:00:00+08:00",
    "district": "美兰区",
    "case_officer": "officer-7",
}
EVENT = {
    "event_id": "e1",
    "source": "telecom",
    "occurred_at": "2026-02-01T10:00:00+08:00",
    "name": "ZHANG WEI",
    "id_number": "460105199001017124",
    "phone": "138 1234 5678",
    "event_type": "sim_registered",
}
FIELDS = {
    "lead_id", "person_id", "event_id", "source", "event_type", "occurred_at", "@timestamp",
    "score", "probability", "tier", "status", "district", "case_officer", "person_name",
    "event_name", "explanation", "flags", "model_version", "event_digest",
}  # fmt: skip


def _lead(**changes: str) -> dict[str, object]:
    model = default_model()
    person = person_from_raw(PERSON)
    event = event_from_raw(EVENT | changes)
    _, scored = score_pair(model, person, event)
    return build_lead(
        person, event, scored, explain(scored.contributions), model_version="v1", digest="d"
    )


def test_lead_id_is_uuid5_of_person_source_and_event() -> None:
    assert lead_id("p1", "bank", "e1") == str(uuid.uuid5(LEAD_NAMESPACE, "p1\x1fbank\x1fe1"))
    assert lead_id("p1", "bank", "e1") == lead_id("p1", "bank", "e1")
    assert lead_id("a", "bank", "bc") != lead_id("ab", "bank", "c")


def test_the_same_event_id_from_two_sources_gives_two_leads() -> None:
    assert lead_id("p1", "bank", "e1") != lead_id("p1", "telecom", "e1")
    telecom = _lead()
    bank = _lead(source="bank", event_type="account_opened")
    assert telecom["event_id"] == bank["event_id"]
    assert telecom["lead_id"] != bank["lead_id"]
    assert bank["lead_id"] == lead_id("p1", "bank", "e1")


@given(st.text(), st.sampled_from(["hukou", "bank", "telecom"]), st.text())
def test_lead_id_is_uuid5_for_any_ids(person_id: str, source: str, event_id: str) -> None:
    name = f"{person_id}\x1f{source}\x1f{event_id}"
    try:
        expected = str(uuid.uuid5(LEAD_NAMESPACE, name))
    except UnicodeEncodeError:  # a lone surrogate: neither can hash it
        with pytest.raises(UnicodeEncodeError):
            lead_id(person_id, source, event_id)
        return
    assert lead_id(person_id, source, event_id) == expected


def test_lead_has_every_documented_field() -> None:
    lead = _lead()
    assert set(lead) == FIELDS
    assert lead["@timestamp"] == lead["occurred_at"] == "2026-02-01T10:00:00+08:00"
    assert lead["status"] == "new"
    # 张伟 is common: the shipped model's trained name table lowers its weight below "high".
    assert lead["tier"] == "medium"
    assert (lead["district"], lead["case_officer"]) == ("美兰区", "officer-7")
    assert (lead["person_name"], lead["event_name"]) == ("张伟", "ZHANG WEI")
    assert lead["model_version"] == "v1"
    assert lead["score"] == round(lead["score"], 4)  # type: ignore[call-overload]
    explanation = lead["explanation"]
    assert isinstance(explanation, dict)
    assert {"reason_zh", "reason_en", "fields"} <= set(explanation)


def test_same_inputs_give_the_same_bytes() -> None:
    assert lead_bytes(_lead()) == lead_bytes(_lead())
    assert lead_bytes(_lead()).startswith(b'{"@timestamp"')  # keys sorted


@given(st.text(min_size=1), st.text(min_size=1))
def test_lead_ids_are_valid_uuids(person_id: str, event_id: str) -> None:
    assert uuid.UUID(lead_id(person_id, "hukou", event_id)).version == 5
