"""Hostile input: every unusable message has its closed-set reason, nothing else raises.

The messages come from ``tests/unit/matchers/hostile.py`` (the stream test sends the same ones).
Each contract field is walked with every wrong type through ``parse_event_bytes`` and
``Matcher.match``; control and bidirectional characters are followed to the lead document.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from types import MappingProxyType
from typing import Any, get_args

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.errors import REASONS, InvalidRecord, Reason
from matchers.leads import lead_bytes
from matchers.records import (
    EVENT_ID_MAX_CHARS,
    event_from_raw,
    occurred_at_limit,
    parse_event_bytes,
    person_from_raw,
    validate_event_envelope,
)
from matchers.scoring.modelfile import default_model
from matchers.watchlist.matcher import Matcher
from simulator import SimulationConfig, build_world
from tests.unit.matchers.hostile import (
    EVENT,
    FUTURE,
    ID_NUMBER,
    INERT_NAMES,
    PERSON,
    event_bytes,
    hostile_messages,
    inert_events,
)

MAX_BYTES = 64 * 1024
NOW = dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
NOT_AFTER = occurred_at_limit(NOW)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    m = Matcher(default_model())
    assert m.apply_roster(PERSON).action == "upsert"
    return m


def _reason(data: bytes, matcher: Matcher) -> str | None:
    try:
        raw = parse_event_bytes(data, max_bytes=MAX_BYTES, check_envelope=False)
        matcher.match(raw, not_after=NOT_AFTER)
    except InvalidRecord as exc:
        return exc.reason
    return None


@pytest.mark.parametrize(
    ("description", "data", "reason"),
    [pytest.param(*case, id=case[0]) for case in hostile_messages(MAX_BYTES)],
)
def test_every_hostile_message_has_its_reason(
    description: str, data: bytes, reason: str, matcher: Matcher
) -> None:
    assert _reason(data, matcher) == reason, description


def test_parse_with_the_envelope_gives_the_same_reasons(matcher: Matcher) -> None:
    # The worker checks the envelope in Matcher.match; reprocess and the CLI in the parser.
    for description, data, reason in hostile_messages(MAX_BYTES):
        with pytest.raises(InvalidRecord) as raised:
            parse_event_bytes(data, max_bytes=MAX_BYTES, not_after=NOT_AFTER)
        assert raised.value.reason == reason, description


def test_the_reasons_are_one_closed_set() -> None:
    assert frozenset(get_args(Reason)) == REASONS
    assert all(r.isascii() and r.replace("_", "").isalnum() and r.islower() for r in REASONS)
    assert {reason for _, _, reason in hostile_messages(MAX_BYTES)} <= REASONS


def test_a_good_event_still_makes_its_lead(matcher: Matcher) -> None:
    outcome = matcher.match(parse_event_bytes(event_bytes(), max_bytes=MAX_BYTES))
    assert [lead["person_id"] for lead in outcome.leads] == [PERSON["person_id"]]
    assert outcome.flags == ()


# --- reasons never echo values -----------------------------------------------------------------

SECRET = "460105198803047712"  # an id number where it does not belong


@pytest.mark.parametrize(
    "changes",
    [
        {"event_id": SECRET + " x"},
        {"event_id": "x" * 200 + SECRET},
        {"source": SECRET},
        {"occurred_at": SECRET},
        {"occurred_at": f"1980-01-01T00:00:00+08:00{SECRET}"},
        {"event_id": {SECRET: SECRET}},
        {"source": [SECRET]},
    ],
)
def test_event_reasons_never_echo_a_value(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecord) as raised:
        parse_event_bytes(event_bytes(**changes), max_bytes=MAX_BYTES)
    exc = raised.value
    for text in (str(exc), exc.reason, exc.detail or "", repr(exc)):
        assert SECRET not in text
        assert "460105" not in text


@pytest.mark.parametrize(
    "changes",
    [
        {"status": SECRET},
        {"status": f"dropped_out {SECRET}"},
        {"person_id": {"id": SECRET}},
        {"person_id": f"{SECRET}\u202e"},
        {"name": [SECRET]},
        {"status_changed_at": SECRET},
    ],
)
def test_roster_reasons_never_echo_a_value(changes: dict[str, Any]) -> None:
    change = Matcher(default_model()).apply_roster(PERSON | changes)
    assert change.action == "invalid"
    assert change.reason in REASONS
    with pytest.raises(InvalidRecord) as raised:
        person_from_raw(PERSON | changes)
    assert SECRET not in str(raised.value) and SECRET not in (raised.value.detail or "")


def test_json_errors_do_not_quote_the_input() -> None:
    # orjson's own message can quote the document; the detail is an offset only.
    data = b'{"event_id": "e1", "id_number": ' + SECRET.encode() + b"x}"
    with pytest.raises(InvalidRecord) as raised:
        parse_event_bytes(data, max_bytes=MAX_BYTES)
    assert (raised.value.reason, raised.value.detail) == ("not_json", f"char {len(data) - 2}")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False,
    allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
    max_size=3),
    max_leaves=12,
)  # fmt: skip
_ENVELOPE = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.from_regex(r"[A-Za-z0-9._:-]{1,8}", fullmatch=True) | _JSON,
        "source": st.sampled_from(["bank", "hukou", "telecom", "BANK"]) | _JSON,
        "occurred_at": st.sampled_from(["2026-01-01T00:00:00+08:00", FUTURE]) | _JSON,
    },
)


@settings(max_examples=300)
@given(st.binary(max_size=300) | _ENVELOPE.map(orjson.dumps))
def test_any_bytes_give_an_event_or_a_closed_reason(data: bytes) -> None:
    try:
        raw = parse_event_bytes(data, max_bytes=200, not_after=NOT_AFTER)
    except InvalidRecord as exc:
        assert exc.reason in REASONS
        return
    event = event_from_raw(raw, not_after=NOT_AFTER)
    assert len(event.event_id) <= EVENT_ID_MAX_CHARS


# --- every contract field, every wrong type -----------------------------------------------------

WRONG = [0, -1, 1.5, 1e308, True, False, [], ["张伟"], [["x"]], {}, {"a": "b"}, {"$ne": None}]
# (field, the part of the record it fills: empty when the field is left out of matching)
OPTIONAL: dict[str, tuple[str, ...]] = {
    "hukou": ("name", "id_type", "id_number", "gender", "birth_date", "address", "region_code",
              "change_type"),
    "bank": ("name", "id_type", "id_number", "bank_code", "phone", "card_number",
             "branch_address", "event_type"),
    "telecom": ("name", "id_type", "id_number", "carrier", "phone", "registered_address",
                "event_type"),
}  # fmt: skip
_LEFT_OUT = {
    "name": lambda e: not e.names and e.name == "",
    "id_number": lambda e: not e.id.comparable,
    "id_type": lambda e: e.id.valid,  # the id is still read, as a resident id
    "gender": lambda e: e.gender is None,
    "birth_date": lambda e: not e.birth_date.value,
    "phone": lambda e: not e.phone.comparable,
    "address": lambda e: not e.address.valid,
    "registered_address": lambda e: not e.address.valid,
    "change_type": lambda e: e.event_type is None,
    "event_type": lambda e: e.event_type is None,
}
_FULL = {
    "gender": "F",
    "birth_date": "1990-01-01",
    "address": "海南省海口市美兰区海府路12号",
    "registered_address": "海南省海口市美兰区海府路12号",
    "card_number": "6222020200112233445",
    "region_code": "460108",
    "bank_code": "ICBC",
    "branch_address": "海口",
    "carrier": "cmcc",
    "change_type": "move_in",
}


@pytest.mark.parametrize("source", ["hukou", "bank", "telecom"])
def test_every_optional_field_of_a_wrong_type_is_flagged_and_left_out(
    source: str, matcher: Matcher
) -> None:
    for field in OPTIONAL[source]:
        for wrong in WRONG:
            raw = EVENT | {k: v for k, v in _FULL.items() if k in OPTIONAL[source]}
            raw |= {"source": source, field: wrong}
            data = orjson.dumps(raw)
            event = event_from_raw(parse_event_bytes(data, max_bytes=MAX_BYTES))
            assert f"{field}_wrong_type" in event.flags, (field, wrong)
            assert _LEFT_OUT.get(field, lambda e: True)(event), (field, wrong)
            outcome = matcher.match(orjson.loads(data), not_after=NOT_AFTER)
            assert f"{field}_wrong_type" in outcome.flags
            for lead in outcome.leads:
                assert f"{field}_wrong_type" in lead["flags"]
                orjson.loads(lead_bytes(lead))


@pytest.mark.parametrize("field", ["event_id", "source", "occurred_at"])
def test_every_required_field_of_a_wrong_type_is_a_closed_reason(
    field: str, matcher: Matcher
) -> None:
    for wrong in [*WRONG, None, "", " "]:
        with pytest.raises(InvalidRecord) as raised:
            matcher.match(EVENT | {field: wrong})
        assert raised.value.reason in REASONS
        assert field.split("_", maxsplit=1)[0] in raised.value.reason


def test_every_roster_field_of_a_wrong_type_is_flagged_or_a_closed_reason() -> None:
    required = {"person_id", "name", "status", "status_changed_at"}
    lists = {"phones", "addresses", "aliases"}
    for field in [*PERSON, "aliases"]:
        for wrong in WRONG:
            try:
                person = person_from_raw(PERSON | {field: wrong})
            except InvalidRecord as exc:
                assert field in required, (field, wrong)
                assert exc.reason in REASONS
                continue
            assert field not in required, (field, wrong)
            if field in lists and wrong in ([], ["张伟"]):
                continue  # a list of text: the right type
            assert f"{field}_wrong_type" in person.flags, (field, wrong)


# --- control, bidirectional and zero-width characters to the lead -------------------------------

_BAD = ("\u202e", "\u2066", "\u2069", "\u200b", "\u200f", "\ufeff", "\x00", "\x1b", "\x9b")


def _shows_nothing_hidden(text: str) -> bool:
    return all(unicodedata.category(c) not in ("Cc", "Cf", "Cs") for c in text)


def test_a_lead_never_shows_a_control_character() -> None:
    matcher = Matcher(default_model())
    person = PERSON | {
        "name": "张\u202e伟",
        "district": "美\u2066兰\u2069",
        "case_officer": "o\x1b1",
    }
    assert matcher.apply_roster(person).action == "upsert"
    raw = EVENT | {
        "name": "\u2067张伟\u2069\u200b",
        "id_number": "\ufeff" + ID_NUMBER[:6] + "\u202e" + ID_NUMBER[6:],
        "phone": "138\u200b1234\u200f5678",
        "event_type": "account\x00_opened",
    }
    outcome = matcher.match(raw)
    (lead,) = outcome.leads
    assert lead["tier"] == "high"  # the cleaned id and phone still agree
    assert "text_control_chars_removed" in lead["flags"]
    assert (lead["person_name"], lead["event_name"]) == ("张伟", "张伟")
    assert (lead["district"], lead["case_officer"], lead["event_type"]) == (
        "美兰", "o1", "account_opened",
    )  # fmt: skip
    shown = orjson.loads(lead_bytes(lead))
    texts = [str(v) for v in shown.values()] + [
        str(v) for f in shown["explanation"]["fields"] for v in f.values()
    ] + [shown["explanation"]["reason_zh"], shown["explanation"]["reason_en"]]  # fmt: skip
    assert all(_shows_nothing_hidden(t) for t in texts)


@settings(max_examples=200)
@given(
    st.lists(st.sampled_from(_BAD), min_size=1, max_size=4),
    st.sampled_from(["name", "id_number", "phone", "address", "card_number", "birth_date"]),
    st.randoms(use_true_random=False),
)
def test_control_characters_anywhere_are_removed_and_flagged(
    bad: list[str], field: str, rnd: Any
) -> None:
    values = {
        "name": "张伟",
        "id_number": ID_NUMBER,
        "phone": "13812345678",
        "address": "海南省海口市美兰区海府路12号",
        "card_number": "6222020200112233445",
        "birth_date": "1990-01-01",
    }
    clean = values[field]
    chars = list(clean)
    for char in bad:
        chars.insert(rnd.randrange(len(chars) + 1), char)
    source = "hukou" if field in ("address", "birth_date") else "bank"
    dirty = event_from_raw(EVENT | {"source": source, field: "".join(chars)})
    plain = event_from_raw(EVENT | {"source": source, field: clean})
    assert "text_control_chars_removed" in dirty.flags
    assert dirty.flags == ("text_control_chars_removed", *plain.flags) or set(dirty.flags) == {
        "text_control_chars_removed",
        *plain.flags,
    }
    assert (dirty.names, dirty.id, dirty.phone, dirty.address, dirty.birth_date) == (
        plain.names, plain.id, plain.phone, plain.address, plain.birth_date,
    )  # fmt: skip


def test_a_person_id_with_a_control_character_is_refused() -> None:
    with pytest.raises(InvalidRecord) as raised:
        person_from_raw(PERSON | {"person_id": "p1\u200b"})
    assert raised.value.reason == "bad_person_id"


# --- event_id: its character set and length -----------------------------------------------------


@settings(max_examples=200)
@given(st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True))
def test_every_event_id_of_the_documented_set_is_kept_as_is(event_id: str) -> None:
    assert validate_event_envelope(EVENT | {"event_id": event_id})[0] == event_id


@settings(max_examples=200)
@given(st.text(min_size=1, max_size=140))
def test_any_other_event_id_is_refused_with_a_closed_reason(event_id: str) -> None:
    stripped = event_id.strip()
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")
    try:
        kept = validate_event_envelope(EVENT | {"event_id": event_id})[0]
    except InvalidRecord as exc:
        assert exc.reason in ("missing_event_id", "bad_event_id")
        assert not stripped or len(stripped) > 128 or not set(stripped) <= allowed
        return
    assert kept == stripped and set(kept) <= allowed and 1 <= len(kept) <= 128


def test_the_simulator_event_ids_are_in_the_documented_set() -> None:
    world = build_world(SimulationConfig(people=300, watchlist=30, events=400, seed=5))
    ids = [e.event_id for e in world.events]
    assert ids and all(validate_event_envelope(EVENT | {"event_id": i})[0] == i for i in ids)


# --- occurred_at: the window ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("occurred_at", "accepted"),
    [
        ("1990-01-01T00:00:00+00:00", True),
        ("1990-01-01T08:00:00+08:00", True),
        ("1990-01-01T07:59:59+08:00", False),
        ("1989-12-31T23:59:59Z", False),
        ("0001-01-01T00:00:00+14:00", False),
        ("2001-09-09T01:46:40Z", True),  # an old file reprocessed: the past stays valid
        ((NOW + dt.timedelta(hours=23)).isoformat(), True),
        ((NOW + dt.timedelta(hours=24)).isoformat(), True),
        ((NOW + dt.timedelta(hours=24, seconds=1)).isoformat(), False),
        ("9999-12-31T23:59:59-14:00", False),
    ],
)
def test_occurred_at_window(occurred_at: str, accepted: bool) -> None:
    try:
        validate_event_envelope(EVENT | {"occurred_at": occurred_at}, not_after=NOT_AFTER)
    except InvalidRecord as exc:
        assert not accepted and exc.reason == "occurred_at_out_of_window"
        return
    assert accepted


def test_the_future_bound_is_the_callers() -> None:
    # matchers read no clock: without not_after only the floor applies.
    raw = EVENT | {"occurred_at": FUTURE}
    assert validate_event_envelope(raw)[2] == FUTURE
    with pytest.raises(InvalidRecord, match="occurred_at_out_of_window"):
        validate_event_envelope(raw, not_after=NOT_AFTER)
    with pytest.raises(ValueError, match="offset"):
        occurred_at_limit(dt.datetime(2026, 1, 1))  # a naive time: refused
    assert occurred_at_limit(NOW, dt.timedelta(0)).at == NOW


def _envelope_or_reason(raw: Any, limit: Any) -> object:
    try:
        return validate_event_envelope(raw, not_after=limit)
    except InvalidRecord as exc:
        return exc.reason


_NEAR = st.sampled_from([NOW, dt.datetime(1990, 1, 1, tzinfo=dt.UTC)])


@settings(max_examples=400)
@given(
    near=_NEAR,
    shift=st.timedeltas(min_value=dt.timedelta(days=-4), max_value=dt.timedelta(days=4)),
    offset_minutes=st.integers(-24 * 60 + 1, 24 * 60 - 1),
    now_shift=st.timedeltas(min_value=dt.timedelta(hours=-30), max_value=dt.timedelta(hours=30)),
)
def test_the_window_by_text_agrees_with_the_window_by_time(
    near: dt.datetime, shift: dt.timedelta, offset_minutes: int, now_shift: dt.timedelta
) -> None:
    # The fast path compares text (a dict); a Mapping that is not a dict takes the general path,
    # which compares instants. Around the floor and the limit, at every offset, they agree.
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    occurred = (near + shift).astimezone(zone).replace(microsecond=0).isoformat()
    limit = occurred_at_limit(NOW + now_shift)
    raw = EVENT | {"occurred_at": occurred}
    fast, general = (
        _envelope_or_reason(raw, limit),
        _envelope_or_reason(MappingProxyType(raw), limit),
    )
    assert fast == general
    moment = dt.datetime.fromisoformat(occurred)
    inside = dt.datetime(1990, 1, 1, tzinfo=dt.UTC) <= moment <= limit.at
    assert (fast != "occurred_at_out_of_window") == inside


def test_inert_names_are_data_on_the_lead(matcher: Matcher) -> None:
    for raw in inert_events("u"):
        outcome = matcher.match(raw, not_after=NOT_AFTER)
        (lead,) = outcome.leads
        assert lead["event_name"] == raw["name"]
        assert orjson.loads(lead_bytes(lead))["event_name"] == raw["name"]
    assert len(INERT_NAMES) == len(inert_events("u"))
