"""The normalisers' fast paths give what their general paths (or the old code) give.

Each fast path serves the common, well-formed shape of a value (an 18-digit id, ``YYYY-MM-DD``,
a plain mobile, a hanzi-only name); the general path reads everything else. Both are run on
Hypothesis values and on the simulator's messy values (``simulator``), and the forms
compared whole.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import random
import re
import time
import unicodedata
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin

from matchers.envelope import normal_timestamp as _normal_timestamp
from matchers.errors import InvalidRecord
from matchers.fields import addresses, dates, ids, names, phones, pinyin
from matchers.fields.addresses import normalise_address
from matchers.fields.cards import luhn_ok, normalise_card
from matchers.fields.compact import NO_DATE, compact_address, compact_id
from matchers.fields.dates import normalise_date
from matchers.fields.masking import as_text, mask_id
from matchers.fields.names import normalise_name
from matchers.fields.phones import normalise_phone
from matchers.fields.pinyin import (
    _char_readings,
    _phrase_reading,
    given_readings,
    simplified,
    split_surname,
    surname_readings,
)
from matchers.fields.readings import NameParse, name_parse, unumlaut
from matchers.fields.text import CONTROL_CHARS_FLAG, clean_text
from matchers.records import (
    _NO_ID,
    EventRecord,
    _gender,
    _plain_card,
    event_from_raw,
    parse_timestamp,
    validate_event_envelope,
)
from simulator import SimulationConfig, build_world
from simulator.corruption import Corruptor
from simulator.population import IdentityFactory, resident_id_check_char

SETTINGS = settings(max_examples=500, deadline=None)
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


def _full_reference(value: str, flags: tuple[str, ...]) -> ids.IdForms:
    """The 18-character reading as first written (int-based check, ``datetime.date``)."""
    body = value[:17]
    extra = list(flags)
    if resident_id_check_char(body) != value[17]:
        extra.append("id_checksum_failed")
    try:
        day = dt.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
        birth = day.isoformat() if day.year >= 1800 else ""
    except ValueError:
        birth = ""
    if not birth:
        extra.append("id_birth_date_impossible")
    if body[:2] not in ids._PROVINCES:
        extra.append("id_region_unknown")
    return ids.IdForms(
        "cn_resident",
        value,
        valid=not {"id_checksum_failed", "id_birth_date_impossible"} & set(extra),
        comparable=True,
        flags=tuple(extra),
        birth_date=birth,
        gender="M" if int(body[16]) % 2 else "F",
        region=body[:6],
        province=body[:2],
    )


def test_id_fast_path_matches_general_path_on_simulated_ids() -> None:
    for raw in _messy_ids():
        assert ids.normalise_id(raw) == _id_general(raw), mask_id(raw)


@SETTINGS
@given(st.text("0123456789Xx*- ", min_size=14, max_size=20))
def test_id_fast_path_matches_general_path(raw: str) -> None:
    assert ids.normalise_id(raw) == _id_general(raw)
    assert ids.normalise_id(raw, None) == _id_general(raw)


@SETTINGS
@given(st.text("0123456789", min_size=17, max_size=17), st.sampled_from("0123456789X"))
def test_full_reading_matches_the_reference(body: str, check: str) -> None:
    assert ids._full(body + check, ()) == _full_reference(body + check, ())
    assert ids.check_char(body) == resident_id_check_char(body)


@SETTINGS
@given(st.text("0123456789", min_size=17, max_size=17), st.sampled_from(["", "0", "X"]))
def test_check_char_matches_the_weighted_sum(body: str, tail: str) -> None:
    assert ids.check_char(body + tail) == resident_id_check_char(body)


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


def _hanzi_forms_reference(hanzi: str) -> names.NameForms:
    """A hanzi name's forms built with the frozen classes' own constructors, as first written."""
    surname, given = split_surname(hanzi)
    readings = itertools.product(surname_readings(surname), given_readings(given))
    parses = tuple(NameParse(s, g) for s, g in itertools.islice(readings, names._MAX_PARSES))
    keys = frozenset(p.key for p in parses)
    roman = keys | {k.replace("v", "u") for k in keys} if "v" in "".join(keys) else keys
    return names.NameForms(hanzi, "hanzi", True, (), hanzi, surname, parses, keys, roman, (), hanzi)


@SETTINGS
@given(st.text(HANZI, min_size=1, max_size=5))
def test_hanzi_forms_match_the_constructors(text: str) -> None:
    hanzi = "".join(names._HANZI.findall(simplified(text)))
    forms = names._hanzi_forms(hanzi, ())
    assert type(forms) is names.NameForms
    assert all(type(p) is NameParse for p in forms.parses)
    assert forms == _hanzi_forms_reference(hanzi)
    assert repr(forms) == repr(_hanzi_forms_reference(hanzi))


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


def _segment_reference(word: str) -> tuple[str, ...] | None:
    """segment_pinyin as first written (a functools.cache per word)."""

    @functools.cache
    def cut(start: int) -> tuple[str, ...] | None:
        if start == len(word):
            return ()
        for end in range(min(len(word), start + 6), start, -1):
            if word[start:end] in pinyin._VOCABULARY:
                rest = cut(end)
                if rest is not None:
                    return (word[start:end], *rest)
        return None

    pieces = cut(0) if word else None
    return None if pieces is None else tuple(pinyin._ROMAN_ALIASES.get(p, p) for p in pieces)


@SETTINGS
@given(st.text("zhangweilvyuxiaoqnr", max_size=16) | st.sampled_from(["zhangdebin", "lyuxiao"]))
def test_segment_pinyin_matches_the_reference(word: str) -> None:
    assert pinyin._LONGEST_SYLLABLE == 6
    assert pinyin.segment_pinyin.__wrapped__(word) == _segment_reference(word)


def _given_readings_reference(given: str) -> tuple[tuple[str, ...], ...]:
    """given_readings as first written: pypinyin's phrase reading, combinations sorted."""
    if len(given) == 1:
        return tuple((r,) for r in _char_readings(given))
    default = lazy_pinyin(given, style=Style.NORMAL)
    if len(default) != len(given):
        default = [(_char_readings(c) or (c,))[0] for c in given]
    if len(given) > 3:
        return (tuple(default),)
    options = [
        tuple(dict.fromkeys((d, *_char_readings(c))))[:3]
        for d, c in zip(default, given, strict=True)
    ]
    combos = itertools.product(*(enumerate(o) for o in options))
    ranked = sorted(combos, key=lambda combo: sum(i for i, _ in combo))
    return tuple(tuple(s for _, s in combo) for combo in ranked)


# Characters of names and of pypinyin phrases that start with them (长江, 重庆, 银行, 乐观).
_GIVEN_CHARS = HANZI + "江庆银观音曲调和平安明月英秀兰梅红霞丽芳敏静燕玲桂珍凤〇㐀𠀀"
_CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)


@SETTINGS
@given(st.text(st.sampled_from(_GIVEN_CHARS) | _CJK, min_size=1, max_size=5))
def test_given_readings_match_pypinyin_phrase_reading(given: str) -> None:
    assert given_readings.__wrapped__(given) == _given_readings_reference(given)
    assert _phrase_reading(given) == lazy_pinyin(given, style=Style.NORMAL)


def test_phrase_reading_on_simulated_given_names() -> None:
    chars = sorted({c for p in PEOPLE for c in p.given} | set(_GIVEN_CHARS))
    for a, b in itertools.product(chars[:120], repeat=2):
        assert _phrase_reading(a + b) == lazy_pinyin(a + b, style=Style.NORMAL), a + b
    for person in PEOPLE:
        assert given_readings.__wrapped__(person.given) == _given_readings_reference(person.given)


# --- addresses -----------------------------------------------------------------------------

_LEVELS_REFERENCE = [
    re.compile(r"((?:(?![路街巷道号栋幢室])[\u4e00-\u9fff]){1,8}?)(?:市|自治州|地区|盟)(?!场)"),
    re.compile(r"((?:(?![路街巷道号栋幢室])[\u4e00-\u9fff]){1,10}?)(?:自治县|区|县|市|旗)(?!域)"),
    re.compile(r"((?:(?![路街巷道号栋幢室])[\u4e00-\u9fff]){1,10}?)(?:街道|镇|乡)"),
    re.compile(r"([\u4e00-\u9fff\d]{1,12}?(?:大道|大街|路|街|巷|胡同|弄|道))"),
]
_NUMBER_REFERENCE = re.compile(r"(\d+(?:-\d+)?)号(?!楼)")


def _cut_reference(text: str) -> tuple[list[str], int]:
    """The levels read one pattern at a time, as first written."""
    parts = ["", "", "", "", "", ""]
    rest = text
    match = addresses._PROVINCE.match(rest) or addresses._PROVINCE_BARE.match(rest)
    if match:
        parts[0] = next(g for g in match.groups() if g)
        if match.group(1):
            parts[1] = match.group(1)
        rest = rest[match.end() :]
    for level, pattern in enumerate(_LEVELS_REFERENCE, start=1):
        if not parts[level]:
            found = pattern.match(rest)
            if found:
                parts[level] = found.group(1)
                rest = rest[found.end() :]
    found = _NUMBER_REFERENCE.search(rest)
    if found:
        parts[5] = found.group(1)
        rest = rest[found.end() :]
    return parts, len(text) - len(rest)


ADDRESS_PIECES = [
    "海南省", "北京市", "上海", "广西壮族自治区", "香港特别行政区", "广东", "海口市", "三亚",
    "美兰区", "琼海市", "嘉积镇", "海甸街道", "人民大道", "海府路", "五西路", "12号", "3-5号",
    "号楼", "3栋", "2单元", "501室", "市场", "区域", "小区", "9", "-", "號", "区", "县", "路",
]  # fmt: skip


@SETTINGS
@given(st.lists(st.sampled_from(ADDRESS_PIECES), min_size=1, max_size=9))
def test_address_cut_matches_the_reference(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert addresses._cut(text) == _cut_reference(text)


def test_address_cut_on_simulated_addresses() -> None:
    for person in PEOPLE:
        assert addresses._cut(person.address) == _cut_reference(person.address)


# --- cards and timestamps -------------------------------------------------------------------


def _luhn_reference(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@SETTINGS
@given(st.text("0123456789", max_size=25))
def test_luhn_matches_the_reference(digits: str) -> None:
    assert luhn_ok(digits) is _luhn_reference(digits)


def _timestamp_reference(value: object) -> str | None:
    parsed = parse_timestamp(value)
    return None if parsed is None else parsed.isoformat()


@SETTINGS
@given(
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 30)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
    st.booleans(),
)
def test_timestamp_fast_path_matches_parse(when: dt.datetime, minutes: int, micro: bool) -> None:
    stamp = when.replace(
        microsecond=when.microsecond if micro else 0,
        tzinfo=dt.timezone(dt.timedelta(minutes=minutes)),
    )
    for text in (stamp.isoformat(), stamp.isoformat().replace("+00:00", "-00:00")):
        assert _normal_timestamp(text) == _timestamp_reference(text)


@SETTINGS
@given(st.text("0123456789-:T+ Z", min_size=20, max_size=27))
def test_timestamp_fast_path_on_odd_text(text: str) -> None:
    assert _normal_timestamp(text) == _timestamp_reference(text)


def test_today_is_the_calendar_date_and_follows_the_clock() -> None:
    assert dates._today() == dt.date.today()
    dates._Today.end = 0.0  # as if midnight had passed: read the clock again
    assert dates._today() == dt.date.today()
    assert dates._Today.start <= time.time() < dates._Today.end


# --- events: per-value caches, the card shortcut, the twin record ----------------------------


def _reference_text(value: object, field: str, flags: list[str]) -> str | None:
    """A text field as the contract has it: cleaned, or ``None`` (flagged when not text)."""
    if value is None:
        return None
    if not isinstance(value, str):
        flags.append(f"{field}_wrong_type")
        return None
    text, changed = clean_text(value)
    if changed:
        flags.append(CONTROL_CHARS_FLAG)
    return text


def _event_reference(raw: dict[str, Any]) -> EventRecord:
    """An event read field by field through the normalisers, as first written (no caches)."""
    event_id, source, occurred_at = validate_event_envelope(raw)
    flags: list[str] = []
    id_forms, id_birth = _NO_ID, NO_DATE
    id_number = _reference_text(raw.get("id_number"), "id_number", flags)
    id_type = _reference_text(raw.get("id_type"), "id_type", flags)
    if id_number:
        id_forms, id_birth = compact_id(id_number, id_type)
        flags.extend(id_forms.flags)
    if source == "bank" and raw.get("card_number") not in (None, ""):
        card = _reference_text(raw["card_number"], "card_number", flags)
        if card is not None:
            flags.extend(normalise_card(card).flags)
    name = (_reference_text(raw.get("name"), "name", flags) or "").strip()
    names = []
    if name:
        forms = normalise_name(name)
        flags.extend(forms.flags)
        names = [forms] if forms.valid else []
    birth_date = NO_DATE
    if raw.get("birth_date") not in (None, ""):
        birth = _reference_text(raw["birth_date"], "birth_date", flags)
        if birth is not None:
            birth_date = normalise_date(birth)
            flags.extend(f"birth_{f}" for f in birth_date.flags)
    gender = _gender(raw.get("gender"), flags)
    phone = normalise_phone(None)
    if raw.get("phone") not in (None, ""):
        text = _reference_text(raw["phone"], "phone", flags)
        if text is not None:
            phone = normalise_phone(text)
            flags.extend(phone.flags)
    address_field = "registered_address" if source == "telecom" else "address"
    address = normalise_address(None)
    if raw.get(address_field) not in (None, ""):
        text = _reference_text(raw[address_field], address_field, flags)
        if text is not None:
            address = compact_address(text)
            flags.extend(address.flags)
    kind_field = "change_type" if source == "hukou" else "event_type"
    kind = _reference_text(raw.get(kind_field), kind_field, flags)
    return EventRecord(
        event_id, source, occurred_at, kind or None, name,
        tuple(names), id_forms, birth_date, gender, phone, address, id_birth,
        tuple(dict.fromkeys(flags)),
    )  # fmt: skip


def _assert_same_event(raw: dict[str, Any]) -> None:
    expected = _event_reference(raw)
    for _ in range(2):  # the second time from the caches
        event = event_from_raw(raw)
        assert type(event) is EventRecord
        assert event == expected
        assert repr(event) == repr(expected)
        assert hash(event.flags) == hash(expected.flags)


@pytest.fixture(scope="module")
def simulated_events() -> list[dict[str, Any]]:
    world = build_world(SimulationConfig(people=3_000, watchlist=200, events=3_000, seed=13))
    return [e.payload for e in world.events if isinstance(e.payload, dict)]


def test_events_match_the_reference_on_simulated_feeds(
    simulated_events: list[dict[str, Any]],
) -> None:
    read = 0
    for raw in simulated_events:
        try:
            _assert_same_event(raw)
        except InvalidRecord:
            with pytest.raises(InvalidRecord):
                _event_reference(raw)
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


@SETTINGS
@given(
    st.sampled_from(["hukou", "bank", "telecom"]),
    st.fixed_dictionaries({}, optional=_EVENT_FIELDS),
)
def test_events_match_the_reference_on_any_values(source: str, fields: dict[str, Any]) -> None:
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
     " 2026-01-01T08:00:00Z", "2026-01-01T00:00:00", "", "x"]
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
