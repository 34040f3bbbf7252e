"""Records: the event envelope, roster validation, normalised fields and their flags."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.errors import InvalidRecord
from matchers.records import (
    event_from_raw,
    parse_event_bytes,
    parse_timestamp,
    person_from_raw,
)

EVENT = {
    "event_id": "e1",
    "source": "bank",
    "occurred_at": "2026-02-01T10:00:00+08:00",
    "name": "张伟",
    "id_number": "460105199001017124",
    "phone": "+86 138-1234-5678",
    "event_type": "account_opened",
}
PERSON = {
    "person_id": "p1",
    "name": "张伟",
    "aliases": ["ZHANG WEI"],
    "id_number": "460105199001017124",
    "birth_date": "1990-01-01",
    "gender": "F",
    "phones": ["13812345678"],
    "addresses": ["海南省海口市美兰区海府路12号"],
    "status": "dropped_out",
    "status_changed_at": "2026-01-05T09:00:00+08:00",
    "district": "美兰",
    "case_officer": "o1",
}


def _bytes(**changes: Any) -> bytes:
    raw = {k: v for k, v in (EVENT | changes).items() if v is not None}
    return orjson.dumps(raw)


@pytest.mark.parametrize(
    ("description", "data", "reason"),
    [
        ("not UTF-8", b'{"event_id": "\xff"}', "not_utf8"),
        ("oversized", b'{"x": "' + b"a" * 2000 + b'"}', "oversized"),
        ("not JSON", b"{nope", "not_json"),
        ("a list", b"[1, 2]", "not_object"),
        ("a string", b'"hello"', "not_object"),
        ("no event_id", _bytes(event_id=None), "missing_event_id"),
        ("empty event_id", _bytes(event_id="  "), "missing_event_id"),
        ("event_id a list", _bytes(event_id=["x"]), "bad_event_id"),
        ("no source", _bytes(source=None), "missing_source"),
        ("unknown source", _bytes(source="airline"), "unknown_source"),
        ("no occurred_at", _bytes(occurred_at=None), "missing_occurred_at"),
        ("no offset", _bytes(occurred_at="2026-02-01T10:00:00"), "bad_occurred_at"),
        ("not a date", _bytes(occurred_at="yesterday"), "bad_occurred_at"),
    ],
)
def test_unusable_envelopes_say_why(description: str, data: bytes, reason: str) -> None:
    with pytest.raises(InvalidRecord) as raised:
        parse_event_bytes(data, max_bytes=1024)
    assert raised.value.reason == reason, description


def test_a_good_envelope_parses_and_tolerates_extra_fields() -> None:
    raw = parse_event_bytes(_bytes(extra={"nested": [1]}, source="Bank"), max_bytes=4096)
    event = event_from_raw(raw)
    assert (event.event_id, event.source, event.event_type) == ("e1", "bank", "account_opened")
    assert event.occurred_at == "2026-02-01T10:00:00+08:00"
    assert event.phone.value == "13812345678"
    assert event.id.valid and event.id_birth_date.value == "1990-01-01"


def test_timestamps_are_normalised() -> None:
    assert parse_timestamp("2026-02-01T02:00:00Z") is not None
    assert event_from_raw(EVENT | {"occurred_at": "2026-02-01T02:00:00Z"}).occurred_at == (
        "2026-02-01T02:00:00+00:00"
    )
    assert parse_timestamp("2026-02-01") is None
    assert parse_timestamp(12) is None


def test_hukou_event_uses_change_type_and_address() -> None:
    event = event_from_raw(
        EVENT
        | {"source": "hukou", "change_type": "move_in", "address": "海南省海口市美兰区海府路12号"}
    )
    assert event.event_type == "move_in"
    assert event.address.valid


def test_field_flags_travel_and_absent_fields_do_not_flag() -> None:
    event = event_from_raw(EVENT | {"id_number": "460105199001017128", "birth_date": "1990-02-30"})
    assert "id_checksum_failed" in event.flags
    assert "birth_date_impossible" in event.flags
    bare = event_from_raw({k: EVENT[k] for k in ("event_id", "source", "occurred_at")})
    assert bare.flags == ()
    assert not bare.names and not bare.id.comparable and not bare.phone.comparable


def test_person_is_normalised_with_aliases_and_embedded_birth_date() -> None:
    person = person_from_raw(PERSON)
    assert person.status == "dropped_out"
    assert len(person.names) == 2
    assert person.id_birth_date.value == "1990-01-01"
    assert person.gender == "F"
    assert [p.value for p in person.phones] == ["13812345678"]
    assert person.flags == ()


@pytest.mark.parametrize(
    ("description", "changes", "reason"),
    [
        ("no person_id", {"person_id": None}, "missing_person_id"),
        ("no name", {"name": ""}, "missing_name"),
        ("no status", {"status": None}, "missing_status"),
        ("unknown status", {"status": "escaped"}, "unknown_status"),
        ("no status_changed_at", {"status_changed_at": None}, "missing_status_changed_at"),
        ("bad status_changed_at", {"status_changed_at": "soon"}, "bad_status_changed_at"),
    ],
)
def test_roster_required_fields(description: str, changes: dict[str, Any], reason: str) -> None:
    raw = {k: v for k, v in (PERSON | changes).items() if v is not None}
    with pytest.raises(InvalidRecord) as raised:
        person_from_raw(raw)
    assert raised.value.reason == reason, description


def test_bad_optional_roster_fields_are_flagged_not_fatal() -> None:
    person = person_from_raw(
        PERSON | {"gender": "X", "phones": "13812345678", "aliases": [3, None], "birth_date": 5}
    )
    assert "gender_invalid" in person.flags
    assert person.gender is None
    assert len(person.phones) == 1  # a single string is read as one phone
    assert len(person.names) == 1


_ANY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)
_FIELDS = st.sampled_from(
    ["name", "aliases", "id_number", "id_type", "birth_date", "gender", "phones", "phone",
     "addresses", "address", "registered_address", "card_number", "district", "case_officer"]
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(_FIELDS, _ANY, max_size=10))
def test_any_field_values_never_raise(fields: dict[str, Any]) -> None:
    person = person_from_raw(PERSON | {k: v for k, v in fields.items() if k != "name"})
    event = event_from_raw(EVENT | fields)
    assert all(isinstance(f, str) for f in person.flags + event.flags)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_parse_or_raise_invalid_record(data: bytes) -> None:
    try:
        parse_event_bytes(data, max_bytes=100)
    except InvalidRecord as exc:
        assert exc.reason
