"""Phone numbers: +86 / 0086 / separators, mobile vs landline, list-vs-one comparison."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.fields.phones import compare_phone, normalise_phone, phone_block_keys, phone_level
from matchers.levels import LEVELS

SETTINGS = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize(
    ("description", "raw", "value", "kind", "valid"),
    [
        ("plain mobile", "13812345678", "13812345678", "mobile", True),
        ("+86 with spaces", "+86 138 1234 5678", "13812345678", "mobile", True),
        ("0086 with dash", "0086-13812345678", "13812345678", "mobile", True),
        ("86 glued", "8613812345678", "13812345678", "mobile", True),
        ("full-width", "１３８１２３４５６７８", "13812345678", "mobile", True),
        ("Haikou landline, parentheses", "(0898)66123456", "89866123456", "landline", True),
        ("Haikou landline, dashes", "0898-6612-3456", "89866123456", "landline", True),
        ("Beijing landline", "010-12345678", "1012345678", "landline", True),
        ("local number without area code", "66123456", "66123456", "landline", False),
        ("foreign mobile", "+852 9123 4567", "+85291234567", "mobile", True),
        ("service number", "400-800-8888", "4008008888", "service", True),
        ("too short", "12345", "", "other", False),
        ("letters", "call me", "", "other", False),
        ("empty", "", "", "other", False),
        ("none", None, "", "other", False),
    ],
)
def test_normalise_phone(description: str, raw: object, value: str, kind: str, valid: bool) -> None:
    forms = normalise_phone(raw)
    assert (forms.value, forms.kind, forms.valid) == (value, kind, valid), description


def test_flags() -> None:
    assert "phone_unparseable" in normalise_phone("abc").flags
    assert "phone_empty" in normalise_phone(None).flags
    assert "phone_no_area_code" in normalise_phone("66123456").flags
    foreign = normalise_phone("+1 415 555 0100")
    assert "phone_foreign" in foreign.flags
    assert foreign.country_code == 1
    landline = normalise_phone("0898-66123456")
    assert (landline.area_code, landline.local) == ("898", "66123456")


CASES = [
    ("identical after formatting", ["13812345678"], "+86 138-1234-5678", "exact"),
    ("one of several", ["13900000000", "13812345678"], "13812345678", "exact"),
    ("one digit differs", ["13812345678"], "13812345679", "typo"),
    ("adjacent swap", ["13812345678"], "13812346578", "typo"),
    ("one digit dropped", ["13812345678"], "1381234567", "typo"),
    ("landline without area code", ["0898-66123456"], "66123456", "partial"),
    ("landline with another area code", ["0898-66123456"], "0755-66123456", "partial"),
    ("different number", ["13812345678"], "13987654321", "disagree"),
    ("person has no phone", [], "13812345678", "missing"),
    ("event phone unreadable", ["13812345678"], "n/a", "missing"),
]


@pytest.mark.parametrize(("description", "person", "event", "level"), CASES)
def test_compare_phone(description: str, person: list[str], event: str, level: str) -> None:
    known, other = [normalise_phone(p) for p in person], normalise_phone(event)
    result = compare_phone(known, other)
    assert result.level == level, description
    assert result.field == "phone"
    assert phone_level(known, other) == (level, result.value_key)  # the fast path agrees


def test_details_are_masked() -> None:
    result = compare_phone(normalise_phone("13812345678"), normalise_phone("13812345678"))
    assert "138****5678" in result.detail_zh
    assert "13812345678" not in result.detail_zh + result.detail_en + result.value_key
    assert result.value_key  # a digest, for term frequencies


def test_block_keys() -> None:
    assert phone_block_keys(normalise_phone("+86 13812345678")) == {"ph:13812345678"}
    assert "phl:66123456" in phone_block_keys(normalise_phone("0898-66123456"))
    assert phone_block_keys(normalise_phone("66123456")) & phone_block_keys(
        normalise_phone("0898-66123456")
    )
    assert phone_block_keys(normalise_phone("")) == frozenset()


texts = st.one_of(
    st.text(),
    st.binary().map(lambda b: b.decode("utf-8", "replace")),
    st.from_regex(r"\+?[0-9 ()\-]{0,20}"),
)
mobiles = st.from_regex(r"\A1[3-9][0-9]{9}\Z")


@SETTINGS
@given(texts)
def test_normalise_never_raises(raw: str) -> None:
    assert isinstance(normalise_phone(raw).flags, tuple)


@SETTINGS
@given(texts, texts)
def test_compare_bounded_and_symmetric_for_single_numbers(a: str, b: str) -> None:
    left, right = normalise_phone(a), normalise_phone(b)
    result = compare_phone([left], right)
    assert result.level in LEVELS
    assert result.level == compare_phone([right], left).level
    assert phone_level([left], right) == (result.level, result.value_key)


@SETTINGS
@given(mobiles, mobiles)
def test_identity_and_masking(a: str, b: str) -> None:
    left = normalise_phone(a)
    assert compare_phone([left], left).level == "exact"
    result = compare_phone([left], normalise_phone(b))
    assert a not in result.value_key and b not in result.value_key
    assert not re.search(r"\d{8}", result.detail_zh + result.detail_en)
