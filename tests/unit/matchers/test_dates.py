"""Birth dates: messy forms, impossible / implausible flags, difference classification."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.fields.dates import (
    DateForms,
    compare_date,
    date_block_keys,
    date_year,
    normalise_date,
)
from matchers.levels import LEVELS

TODAY = dt.date(2026, 1, 1)
SETTINGS = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize(
    ("description", "raw", "value", "valid", "flag"),
    [
        ("iso", "1990-01-02", "1990-01-02", True, None),
        ("slashes", "1990/1/2", "1990-01-02", True, None),
        ("dots", "1990.1.2", "1990-01-02", True, None),
        ("compact", "19900102", "1990-01-02", True, None),
        ("chinese", "1990年1月2日", "1990-01-02", True, None),
        ("chinese numerals", "一九九〇年十二月二十一日", "1990-12-21", True, None),
        ("chinese numerals, tens", "二〇〇一年十月十日", "2001-10-10", True, None),
        ("chinese numerals, thirty", "一九八八年一月三十日", "1988-01-30", True, None),
        ("full-width", "１９９０－０１－０２", "1990-01-02", True, None),
        ("iso timestamp", "1990-01-02T00:00:00+08:00", "1990-01-02", True, None),
        ("date object", dt.date(1990, 1, 2), "1990-01-02", True, None),
        ("day first, unambiguous", "25/12/1990", "1990-12-25", True, None),
        ("day first, ambiguous", "02/01/1990", "1990-01-02", True, "date_ambiguous"),
        ("impossible", "1990-02-30", "1990-02-30", False, "date_impossible"),
        ("month 13", "1990-13-01", "1990-13-01", False, "date_impossible"),
        ("future", "2030-01-01", "2030-01-01", False, "date_future"),
        ("too old", "1850-01-01", "1850-01-01", False, "date_implausible"),
        ("garbage", "yesterday", "", False, "date_unparseable"),
        ("empty", "", "", False, "date_empty"),
        ("none", None, "", False, "date_empty"),
    ],
)
def test_normalise_date(
    description: str, raw: object, value: str, valid: bool, flag: str | None
) -> None:
    forms = normalise_date(raw, today=TODAY)
    assert forms.value == value, description
    assert forms.valid is valid, description
    if flag:
        assert flag in forms.flags, description


CASES = [
    ("identical", "1990-01-02", "1990/1/2", "exact"),
    ("one digit in the day", "1990-01-02", "1990-01-07", "typo"),
    ("one digit in the year", "1990-01-02", "1980-01-02", "typo"),
    ("day and month swapped", "1990-01-12", "1990-12-01", "typo"),
    ("year off by one across a decade", "1990-01-02", "1989-01-02", "typo"),
    ("year off by two", "1990-01-02", "1988-01-02", "disagree"),
    ("adjacent digits swapped in the day", "1990-01-12", "1990-01-21", "typo"),
    ("impossible date is a typo of the real one", "1990-02-30", "1990-02-03", "typo"),
    ("same year and month", "1990-01-02", "1990-01-28", "partial"),
    ("same year", "1990-01-02", "1990-06-15", "partial"),
    ("different", "1990-01-02", "1975-08-30", "disagree"),
    ("missing", "1990-01-02", None, "missing"),
    ("unreadable", "1990-01-02", "n/a", "missing"),
]


@pytest.mark.parametrize(("description", "left", "right", "level"), CASES)
def test_compare_date(description: str, left: str, right: str, level: str) -> None:
    result = compare_date(normalise_date(left, today=TODAY), normalise_date(right, today=TODAY))
    assert result.level == level, description
    assert result.field == "birth_date"


def test_value_key_is_the_agreeing_date() -> None:
    forms = normalise_date("1990-01-01")
    assert compare_date(forms, forms).value_key == "1990-01-01"


def test_year_and_block_keys() -> None:
    forms = normalise_date("1990-01-02")
    assert date_year(forms) == 1990
    assert date_year(normalise_date("junk")) is None
    assert date_block_keys(forms, "F") == {"bd:19900102", "bdg:19900102F"}
    assert date_block_keys(forms) == {"bd:19900102"}
    assert date_block_keys(normalise_date(None)) == frozenset()


texts = st.one_of(
    st.text(),
    st.binary().map(lambda b: b.decode("utf-8", "replace")),
    st.from_regex(r"[0-9年月日/.\- ]{0,14}"),
)
dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2025, 12, 31))


@SETTINGS
@given(texts)
def test_normalise_never_raises(raw: str) -> None:
    assert isinstance(normalise_date(raw).flags, tuple)


@SETTINGS
@given(texts, texts)
def test_compare_symmetric_and_bounded(a: str, b: str) -> None:
    left, right = normalise_date(a), normalise_date(b)
    level = compare_date(left, right).level
    assert level in LEVELS
    assert level == compare_date(right, left).level


@SETTINGS
@given(dates, dates)
def test_identity_and_real_dates(a: dt.date, b: dt.date) -> None:
    left = normalise_date(a.isoformat(), today=TODAY)
    assert left.valid
    assert compare_date(left, left).level == "exact"
    right = normalise_date(b.strftime("%Y年%m月%d日"), today=TODAY)
    expected_exact = a == b
    assert (compare_date(left, right).level == "exact") is expected_exact


@given(
    st.integers(min_value=0, max_value=12000),
    st.integers(min_value=0, max_value=120),
    st.integers(min_value=0, max_value=120),
)
def test_digits_are_the_zero_padded_date(year: int, month: int, day: int) -> None:
    forms = DateForms("", valid=False, comparable=True, year=year, month=month, day=day)
    assert forms.digits == f"{year:04d}{month:02d}{day:02d}"
    assert DateForms("", valid=False, comparable=False, year=year).digits == ""
