"""The normalisers' fast paths give what their general paths (or the library they stand for) give.

Each fast path serves the common, well-formed shape of a value (an 18-digit id, ``YYYY-MM-DD``,
a plain mobile, a hanzi-only name); the general path reads everything else. Both are run on
Hypothesis values and on the simulator's messy values (``simulator``), and the forms
compared whole. Where a fast path stands for a library (pypinyin's phrase reading, the Luhn
check, ``datetime.fromisoformat``), the library itself is the oracle; an event's fields are
each their own normaliser applied to the raw value. What the normalisers must give is stated
in tests/unit/matchers/test_normaliser_properties.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import time
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin
from stdnum import luhn

from matchers.envelope import normal_timestamp as _normal_timestamp
from matchers.errors import InvalidRecord
from matchers.fields import dates, ids, names, phones
from matchers.fields.addresses import normalise_address
from matchers.fields.cards import luhn_ok, normalise_card
from matchers.fields.compact import NO_DATE, compact_address, compact_id
from matchers.fields.dates import normalise_date
from matchers.fields.masking import as_text, mask_id
from matchers.fields.names import normalise_name
from matchers.fields.phones import normalise_phone
from matchers.fields.pinyin import _phrase_reading
from matchers.fields.readings import NameParse, name_parse, unumlaut
from matchers.fields.text import CONTROL_CHARS_FLAG, clean_text
from matchers.records import (
    _NO_ID,
    EventRecord,
    _plain_card,
    event_from_raw,
    validate_event_envelope,
)
from simulator import SimulationConfig, build_world
from simulator.corruption import Corruptor
from simulator.population import IdentityFactory

SETTINGS = settings(max_examples=500, deadline=None)
# For a library's oracle: it is the same code each time, and one rule, not a fast path's shapes.
FEWER = settings(max_examples=200, deadline=None)
TODAY = dt.date(2026, 6, 1)
PEOPLE = IdentityFactory(random.Random(11)).people(3000)


def _messy(seed: int) -> Corruptor:
    return Corruptor(random.Random(seed))


# --- ids -----------------------------------------------------------------------------------

ID_FORMS = ("intact", "lower_x", "legacy15", "typo", "swap", "masked")


def _messy_ids() -> list[str]:
    corrupt = _messy(1)
    out = [p.id_number for p in PEOPLE]
    for person, form in zip(PEOPLE, itertools.cycle(ID_FORMS), strict=False):
        value, _ = corrupt.id_number(person.id_number, form)  # type: ignore[arg-type]
        if value is not None:
            out.append(value)
    return out


def _id_general(raw: object) -> ids.IdForms:
    return ids._normalise.__wrapped__(ids._clean(raw), "cn_resident")


def test_id_fast_path_matches_general_path_on_simulated_ids() -> None:
    for raw in _messy_ids():
        assert ids.normalise_id(raw) == _id_general(raw), mask_id(raw)


@SETTINGS
@given(st.text("0123456789Xx*- ", min_size=14, max_size=20))
def test_id_fast_path_matches_general_path(raw: str) -> None:
    assert ids.normalise_id(raw) == _id_general(raw)
    assert ids.normalise_id(raw, None) == _id_general(raw)


@SETTINGS
@given(st.text(st.sampled_from("0123456789Xx*#?abc×- \u3000１２"), max_size=24))
def test_clean_matches_nfkc_translate_upper(raw: str) -> None:
    expected = unicodedata.normalize("NFKC", raw).translate(ids._DELETE).upper()
    assert ids._clean(raw) == expected


# --- dates ---------------------------------------------------------------------------------


@SETTINGS
@given(st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99))
def test_date_fast_path_matches_general_path(year: int, month: int, day: int) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}"
    assert dates._normalise.__wrapped__(text, TODAY) == dates._parse(text, TODAY)


@SETTINGS
@given(st.text(st.sampled_from("0123456789-/ 年月日"), min_size=8, max_size=12))
def test_date_any_text_matches_general_path(text: str) -> None:
    assert dates._normalise.__wrapped__(text, TODAY) == dates._parse(text, TODAY)


@SETTINGS
@given(st.text(max_size=70) | st.text("0123456789-/ ", max_size=12))
def test_date_of_plain_text_is_read_as_as_text_gives_it(text: str) -> None:
    expected = dates._normalise.__wrapped__(as_text(text, 64), TODAY)
    assert dates.normalise_date(text, today=TODAY) == expected


@pytest.mark.parametrize("form", ["intact", "impossible"])
def test_date_fast_path_on_simulated_dates(form: str) -> None:
    corrupt = _messy(2)
    for person in PEOPLE:
        text, _ = corrupt.birth_date(person.birth_date, form)  # type: ignore[arg-type]
        assert text is not None
        assert dates._normalise.__wrapped__(text, TODAY) == dates._parse(text, TODAY)


# --- phones --------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["plain", "plus86", "spaced", "dashed"])
def test_phone_fast_path_on_simulated_phones(form: str) -> None:
    corrupt = _messy(3)
    for person in PEOPLE:
        text, _ = corrupt.phone(person.phone, form)  # type: ignore[arg-type]
        assert text is not None
        assert phones._normalise.__wrapped__(text, "CN") == phones._parse(text, "CN")


@SETTINGS
@given(
    st.sampled_from(["", "+", "+86", "86", "0086", "+0086", "00", "+1", " ", "-"]),
    st.text("0123456789", min_size=9, max_size=13),
    st.text(" -+", max_size=2),
)
def test_phone_fast_path_matches_general_path(prefix: str, digits: str, noise: str) -> None:
    for text in (prefix + digits, prefix + noise + digits, digits + noise, prefix + "1" + digits):
        assert phones._normalise.__wrapped__(text, "CN") == phones._parse(text, "CN")


# --- names ---------------------------------------------------------------------------------

HANZI = "张王李赵趙劉刘陈陳單单曾区歐欧阳陽吕呂女律绿略虐强国德斌娜偉伟军軍华華乐樂长長行重"


@SETTINGS
@given(st.text(HANZI, min_size=1, max_size=5))
def test_hanzi_name_fast_path_matches_general_path(text: str) -> None:
    assert names._normalise.__wrapped__(text) == names._read(text, ())


@pytest.mark.parametrize("form", ["hanzi", "traditional", "homophone"])
def test_hanzi_name_fast_path_on_simulated_names(form: str) -> None:
    corrupt = _messy(4)
    for person in PEOPLE:
        text, _ = corrupt.name(person.surname, person.given, form)  # type: ignore[arg-type]
        assert names._normalise.__wrapped__(text) == names._read(text, ())


@SETTINGS
@given(st.text(HANZI, min_size=1, max_size=4))
def test_romanised_keys_are_the_unumlaut_keys(text: str) -> None:
    forms = names.normalise_name(text)
    assert forms.roman_keys == forms.keys | {unumlaut(p).key for p in forms.parses}


@SETTINGS
@given(st.text("abcdeghz", max_size=6), st.lists(st.text("abz", max_size=3), max_size=3))
def test_name_parse_is_the_constructor(surname: str, given: list[str]) -> None:
    built, expected = name_parse(surname, tuple(given)), NameParse(surname, tuple(given))
    assert type(built) is NameParse
    assert (built, hash(built), repr(built), built.key) == (
        expected,
        hash(expected),
        repr(expected),
        expected.key,
    )


# Characters of names and of pypinyin phrases that start with them (长江, 重庆, 银行, 乐观).
_GIVEN_CHARS = HANZI + "江庆银观音曲调和平安明月英秀兰梅红霞丽芳敏静燕玲桂珍凤〇㐀𠀀"
_CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)


# Words of pypinyin's phrase table, alone or among other characters: random ones seldom are.
_PHRASE = st.sampled_from(["长江", "重庆", "银行", "乐观", "音乐", "长安", "调和", "曲调"])


@SETTINGS
@given(
    st.text(st.sampled_from(_GIVEN_CHARS) | _CJK, min_size=1, max_size=5)
    | st.tuples(st.text(_GIVEN_CHARS, max_size=2), _PHRASE, st.text(_GIVEN_CHARS, max_size=1)).map(
        "".join
    )
)
def test_phrase_reading_is_pypinyins(given: str) -> None:
    assert _phrase_reading(given) == lazy_pinyin(given, style=Style.NORMAL)


def test_phrase_reading_on_simulated_given_names() -> None:
    chars = sorted({c for p in PEOPLE for c in p.given} | set(_GIVEN_CHARS))
    for a, b in itertools.product(chars[:120], repeat=2):
        assert _phrase_reading(a + b) == lazy_pinyin(a + b, style=Style.NORMAL), a + b


# --- cards and timestamps -------------------------------------------------------------------


@FEWER
@given(st.text("0123456789", max_size=25))
def test_luhn_is_stdnums(digits: str) -> None:
    assert luhn_ok(digits) is (luhn.checksum(digits) == 0)


@pytest.mark.parametrize(
    ("digits", "ok"),
    [
        ("79927398713", True),  # the Luhn algorithm's textbook example
        ("79927398710", False),
        ("4111111111111111", True),  # published test card numbers (Visa, Mastercard)
        ("5555555555554444", True),
        ("6212345678901265", True),  # UnionPay-shaped (62...)
        ("6212345678901266", False),
    ],
)
def test_luhn_of_published_numbers(digits: str, ok: bool) -> None:
    assert luhn_ok(digits) is ok
    assert ("card_luhn_failed" in normalise_card(digits).flags) is not ok


def _isoformat_with_offset(text: str) -> str | None:
    """The contract's ``occurred_at``: what ``datetime.fromisoformat`` reads, with an offset."""
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed.isoformat() if parsed.utcoffset() is not None else None


@FEWER
@given(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 30)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
    st.booleans(),
)
def test_timestamp_is_the_isoformat_of_fromisoformat(
    when: dt.datetime, minutes: int, micro: bool
) -> None:
    stamp = when.replace(
        microsecond=when.microsecond if micro else 0,
        tzinfo=dt.timezone(dt.timedelta(minutes=minutes)),
    )
    for text in (stamp.isoformat(), stamp.isoformat().replace("+00:00", "-00:00")):
        assert _normal_timestamp(text) == _isoformat_with_offset(text) == stamp.isoformat()


# The fast path's own shape (YYYY-MM-DDTHH:MM:SS+HH:MM) with any numbers in it: most are no
# time at all (month 13, hour 24, 30 February), which fromisoformat refuses.
_STAMP_SHAPED = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}{:02d}:{:02d}".format,
    *(st.integers(0, 99) if i else st.integers(0, 9999) for i in range(6)),
    st.sampled_from("+-"),
    st.integers(0, 99),
    st.integers(0, 99),
)


@FEWER
@given(st.text("0123456789-:T+ Z", min_size=20, max_size=27) | _STAMP_SHAPED)
def test_timestamp_of_odd_text_is_fromisoformats(text: str) -> None:
    assert _normal_timestamp(text) == _isoformat_with_offset(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-01T08:00:00+08:00", "2026-01-01T08:00:00+08:00"),
        (" 2026-01-01T00:00:00Z", "2026-01-01T00:00:00+00:00"),
        ("2026-01-01T00:00:00-00:00", "2026-01-01T00:00:00+00:00"),
        ("2026-01-01 08:00:00.250+0800", "2026-01-01T08:00:00.250000+08:00"),
        ("2026-01-01T00:00:00", None),  # no offset: not an instant
        ("2026-02-30T00:00:00+08:00", None),
        ("2026-01-01T00:00:00+05:60", "2026-01-01T00:00:00+06:00"),  # once kept as written
    ],
)
def test_timestamps_as_feeds_send_them(text: str, expected: str | None) -> None:
    assert _normal_timestamp(text) == expected
    if expected is not None:  # an event's occurred_at, through the envelope's fast path
        raw = {"event_id": "e1", "source": "bank", "occurred_at": text}
        assert validate_event_envelope(raw)[2] == expected


def test_today_is_the_calendar_date_and_follows_the_clock() -> None:
    assert dates._today() == dt.date.today()
    dates._Today.end = 0.0  # as if midnight had passed: read the clock again
    assert dates._today() == dt.date.today()
    assert dates._Today.start <= time.time() < dates._Today.end


# --- events: per-value caches, the card shortcut, the twin record ----------------------------


_GENDER_WORDS = {"M": "M", "MALE": "M", "男": "M", "F": "F", "FEMALE": "F", "女": "F"}


def _text(value: object, field: str, flags: set[str]) -> str | None:
    """A text field as the contract reads it: through the one sanitiser, or ``None``."""
    if not isinstance(value, str):
        if value is not None:
            flags.add(f"{field}_wrong_type")
        return None
    text, changed = clean_text(value)
    if changed:
        flags.add(CONTROL_CHARS_FLAG)
    return text


def _assert_fields_are_their_normalisers(raw: dict[str, Any], event: EventRecord) -> None:
    """Each field of ``event`` is its field module's normaliser applied to the raw value."""
    flags: set[str] = set()
    source = event.source
    id_number = _text(raw.get("id_number"), "id_number", flags)
    id_type = _text(raw.get("id_type"), "id_type", flags)
    id_forms, id_birth = compact_id(id_number, id_type) if id_number else (_NO_ID, NO_DATE)
    assert (event.id, event.id_birth_date) == (id_forms, id_birth)
    flags.update(id_forms.flags if id_number else ())
    if source == "bank" and raw.get("card_number") not in (None, ""):
        card = _text(raw["card_number"], "card_number", flags)
        flags.update(normalise_card(card).flags if card is not None else ())
    name = (_text(raw.get("name"), "name", flags) or "").strip()
    name_forms = normalise_name(name) if name else None
    assert event.name == name
    assert event.names == ((name_forms,) if name_forms and name_forms.valid else ())
    flags.update(name_forms.flags if name_forms else ())
    birth = (
        _text(raw.get("birth_date"), "birth_date", flags) if raw.get("birth_date") != "" else None
    )
    assert event.birth_date == (normalise_date(birth) if birth is not None else NO_DATE)
    flags.update(f"birth_{f}" for f in event.birth_date.flags if birth is not None)
    gender = _text(raw.get("gender"), "gender", flags) if raw.get("gender") != "" else None
    assert event.gender == (_GENDER_WORDS.get(gender.strip().upper()) if gender else None)
    flags.update(["gender_invalid"] if gender is not None and event.gender is None else [])
    phone = _text(raw.get("phone"), "phone", flags) if raw.get("phone") != "" else None
    assert event.phone == normalise_phone(phone)
    flags.update(event.phone.flags if phone is not None else ())
    field = "registered_address" if source == "telecom" else "address"
    address = _text(raw.get(field), field, flags) if raw.get(field) != "" else None
    no_address = normalise_address(None)
    assert event.address == (compact_address(address) if address is not None else no_address)
    flags.update(event.address.flags if address is not None else ())
    kind_field = "change_type" if source == "hukou" else "event_type"
    assert event.event_type == (_text(raw.get(kind_field), kind_field, flags) or None)
    assert set(event.flags) == flags
    assert len(set(event.flags)) == len(event.flags)


def _assert_same_event(raw: dict[str, Any]) -> None:
    first = event_from_raw(raw)
    _assert_fields_are_their_normalisers(raw, first)
    again = event_from_raw(raw)  # from the caches this time
    assert type(again) is EventRecord
    assert again == first
    assert repr(again) == repr(first)


@pytest.fixture(scope="module")
def simulated_events() -> list[dict[str, Any]]:
    world = build_world(SimulationConfig(people=3_000, watchlist=200, events=3_000, seed=13))
    return [e.payload for e in world.events if isinstance(e.payload, dict)]


def test_event_fields_are_their_normalisers_on_simulated_feeds(
    simulated_events: list[dict[str, Any]],
) -> None:
    read = 0
    for raw in simulated_events:
        try:
            _assert_same_event(raw)
        except InvalidRecord:
            with pytest.raises(InvalidRecord):
                validate_event_envelope(raw)  # only the envelope makes an event unusable
            continue
        read += 1
    assert read > 2_000


_ANY_VALUE = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=30)
    | st.lists(st.text(max_size=5), max_size=2)
)
_EVENT_FIELDS = {
    "name": st.text(HANZI + "張偉 abcZHANGwei'-·", max_size=8) | _ANY_VALUE,
    "id_number": st.text("0123456789Xx*- ", max_size=20) | _ANY_VALUE,
    "id_type": st.sampled_from(["cn_resident", "passport", "other", ""]) | _ANY_VALUE,
    "card_number": st.text("0123456789* -", min_size=12, max_size=20) | _ANY_VALUE,
    "phone": st.text("+0123456789 -", max_size=16) | _ANY_VALUE,
    "birth_date": st.text("0123456789-/年月日", max_size=12) | _ANY_VALUE,
    "gender": st.sampled_from(["M", "F", "男", "x", ""]) | _ANY_VALUE,
    "address": st.text("海南省海口市美兰区海甸五西路28号3栋 ab", max_size=30) | _ANY_VALUE,
    "registered_address": st.text("海南省三亚市天涯区青年路5号", max_size=20) | _ANY_VALUE,
    "event_type": _ANY_VALUE,
    "change_type": _ANY_VALUE,
}


@settings(max_examples=250, deadline=None)
@given(
    st.sampled_from(["hukou", "bank", "telecom"]),
    st.fixed_dictionaries({}, optional=_EVENT_FIELDS),
)
def test_event_fields_are_their_normalisers_on_any_values(
    source: str, fields: dict[str, Any]
) -> None:
    _assert_same_event(
        {"event_id": "e1", "source": source, "occurred_at": "2026-01-01T00:00:00+08:00", **fields}
    )


@SETTINGS
@given(st.text("0123456789", min_size=14, max_size=21))
def test_plain_card_shortcut_is_a_card_without_flags(digits: str) -> None:
    assert _plain_card(digits) == (normalise_card(digits).flags == ())


def _envelope_or_reason(raw: Mapping[str, Any]) -> object:
    try:
        return validate_event_envelope(raw)
    except InvalidRecord as exc:
        return exc.reason


_ENVELOPE_TEXT = st.sampled_from(["e1", " e2 ", "", "  ", "bank", "BANK", " telecom", "hukou"])
_ENVELOPE_TIME = st.sampled_from(
    ["2026-01-01T00:00:00+08:00", "2026-01-01T00:00:00-00:00", "2026-02-30T00:00:00+08:00",
     " 2026-01-01T08:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00+05:60", "", "x"]
)  # fmt: skip


@SETTINGS
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "event_id": _ENVELOPE_TEXT | _ANY_VALUE,
            "source": _ENVELOPE_TEXT | _ANY_VALUE,
            "occurred_at": _ENVELOPE_TIME | _ANY_VALUE,
        },
    )
)
def test_envelope_fast_path_matches_general_path(raw: dict[str, Any]) -> None:
    # A mapping that is not a dict takes the general path.
    assert _envelope_or_reason(raw) == _envelope_or_reason(MappingProxyType(raw))
