"""Masking keeps numbers recognisable to an officer and never whole."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.fields.masking import (
    as_text,
    mask_card,
    mask_digits,
    mask_id,
    mask_phone,
    redact_numbers,
)

SETTINGS = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize(
    ("description", "function", "value", "expected"),
    [
        ("resident id", mask_id, "460105199001017124", "4601**************"),
        ("resident id with X", mask_id, "11010519491231002X", "1101**************"),
        ("legacy 15", mask_id, "460105900101712", "4601***********"),
        ("sender-masked id", mask_id, "460105********7124", "4601**************"),
        ("passport", mask_id, "E12345678", "E****5678"),
        ("mobile", mask_phone, "13812345678", "138****5678"),
        ("landline", mask_phone, "89866123456", "898****3456"),
        ("card 16", mask_card, "6222021234567890", "622202******7890"),
        ("card 19", mask_card, "6222021234567890123", "622202*********0123"),
        ("empty", mask_id, "", ""),
        ("tiny", mask_phone, "1234", "****"),
    ],
)
def test_masks(description: str, function: object, value: str, expected: str) -> None:
    assert callable(function)
    assert function(value) == expected, description


def test_redact_numbers_in_free_text() -> None:
    text = "id 460105199001017124, phone 13812345678, 12号 2026-01-01"
    redacted = redact_numbers(text)
    assert "460105199001017124" not in redacted
    assert "13812345678" not in redacted
    assert "138****5678" in redacted
    assert "12号" in redacted
    assert "2026-01-01" in redacted


@SETTINGS
@given(st.text(alphabet="0123456789X", max_size=30), st.integers(0, 8), st.integers(0, 8))
def test_mask_digits_hides_at_least_four_and_a_third(value: str, head: int, tail: int) -> None:
    masked = mask_digits(value, head=head, tail=tail)
    assert len(masked) == len(value)
    hidden = masked.count("*")
    assert hidden >= min(len(value), max(4, len(value) // 3))


@SETTINGS
@given(st.text())
def test_redact_leaves_no_long_digit_run(text: str) -> None:
    assert not re.search(r"[0-9]{7,}", redact_numbers(text))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ""),
        ("张伟", "张伟"),
        ("\ud800张伟", "张伟"),  # lone surrogate from a lenient JSON decoder
        (12345, "12345"),
        pytest.param(10**5000, "", id="huge-int"),  # str() refuses integers this long
        ("x" * 100, "x" * 10),
    ],
)
def test_as_text(raw: object, expected: str) -> None:
    assert as_text(raw, 10) == expected


@pytest.mark.parametrize(
    "normalise",
    [
        "names.normalise_name",
        "ids.normalise_id",
        "dates.normalise_date",
        "phones.normalise_phone",
        "addresses.normalise_address",
        "cards.normalise_card",
    ],
)
@pytest.mark.parametrize(
    "raw",
    [
        "\ud800張偉 海口市\udfff",
        pytest.param(10**5000, id="huge-int"),
        b"\xff\xfe",
        ["a"],
        {"k": 1},
        3.5,
    ],
)
def test_every_field_survives_hostile_input(normalise: str, raw: object) -> None:
    import importlib

    module, name = normalise.split(".")
    function = getattr(importlib.import_module(f"matchers.fields.{module}"), name)
    assert isinstance(function(raw).flags, tuple)


@settings(max_examples=300, deadline=None)
@given(
    st.text(st.characters(codec=None), max_size=20) | st.text("a张\ud800\udc00\ude00", max_size=8)
)
def test_as_text_drops_exactly_what_utf8_cannot_carry(text: str) -> None:
    assert as_text(text, 30) == text.encode("utf-8", "ignore").decode("utf-8")
