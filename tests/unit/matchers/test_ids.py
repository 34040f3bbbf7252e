"""Resident ids (GB 11643) and plain ids: normalisation, damage classification, block keys."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.fields.id_damage import MIN_VISIBLE
from matchers.fields.ids import check_char, compare_id, id_block_keys, id_level, normalise_id
from matchers.levels import LEVELS

# Synthetic numbers with correct check characters.
ID_F = "460105199001017124"  # Xiuying district, 1990-01-01, female
ID_M = "460108198506151235"  # Meilan district (missing from stdnum's table), male
ID_X = "11010519491231002X"  # the standard's own example, check character X
TWIN = "460105199001017140"  # ID_F's twin sister: next even sequence number, valid

SETTINGS = settings(max_examples=200, deadline=None)


def test_check_char_matches_the_standard_example() -> None:
    assert check_char("11010519491231002") == "X"


@pytest.mark.parametrize(
    ("description", "raw", "value", "valid", "flag"),
    [
        ("plain 18-digit id", ID_F, ID_F, True, None),
        ("region missing from stdnum's table is still valid", ID_M, ID_M, True, None),
        ("lower-case x", ID_X.lower(), ID_X, True, None),
        ("full-width digits", "１１０１０５１９４９１２３１００２Ｘ", ID_X, True, None),
        ("spaces and dashes", "460105 1990-0101 7124", ID_F, True, None),
        ("legacy 15 digits upgraded", "460105900101712", ID_F, True, "id_legacy_15"),
        ("checksum failure", ID_F[:17] + "9", ID_F[:17] + "9", False, "id_checksum_failed"),
        ("masked", "460105********7124", "460105********7124", False, "id_masked"),
        ("masked with x", "460105xxxxxxxx7124", "460105********7124", False, "id_masked"),
        ("too short", "46010519900", "46010519900", False, "id_wrong_length"),
        ("masked, region only", "460105**", "460105************", False, "id_mask_too_wide"),
        ("letters", "46010519900101ABCD", "46010519900101ABCD", False, "id_bad_chars"),
        ("empty", "  ", "", False, "id_empty"),
        ("none", None, "", False, "id_empty"),
    ],
)
def test_normalise_id(
    description: str, raw: object, value: str, valid: bool, flag: str | None
) -> None:
    forms = normalise_id(raw)
    assert forms.value == value, description
    assert forms.valid is valid, description
    if flag:
        assert flag in forms.flags, description


def test_embedded_birth_date_gender_region() -> None:
    forms = normalise_id(ID_M)
    assert (forms.birth_date, forms.gender, forms.region, forms.province) == (
        "1985-06-15",
        "M",
        "460108",
        "46",
    )
    female = normalise_id(ID_F)
    assert (female.birth_date, female.gender) == ("1990-01-01", "F")


def test_impossible_embedded_date_is_flagged() -> None:
    body = "46010519900230712"
    forms = normalise_id(body + check_char(body))
    assert not forms.valid
    assert "id_birth_date_impossible" in forms.flags
    assert forms.birth_date == ""


def test_passport_is_uppercased_plain_value() -> None:
    forms = normalise_id(" e1234-5678 ", "passport")
    assert (forms.id_type, forms.value, forms.valid) == ("passport", "E12345678", True)


def _swap(s: str, i: int) -> str:
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


CASES = [
    ("identical", ID_F, ID_F, "exact"),
    ("legacy vs 18-digit", "460105900101712", ID_F, "exact"),
    ("lower-case x vs upper", ID_X.lower(), ID_X, "exact"),
    ("one digit substituted", ID_F, ID_F[:14] + "8" + ID_F[15:], "typo"),
    ("adjacent digits swapped", ID_F, _swap(ID_F, 13), "typo"),
    ("one digit dropped", ID_F, ID_F[:5] + ID_F[6:], "typo"),
    ("same body other check char", ID_F, ID_F[:17] + "X", "partial"),
    ("legacy 15 with one birth-date digit off", "460105900111712", ID_F, "typo"),
    # No check character on the old card: a slip or a namesake born that day in that county.
    ("legacy 15 with one sequence digit off", "460105900101713", ID_F, "weak"),
    ("legacy 15 with adjacent digits swapped", "460105900110712", ID_F, "typo"),
    ("twins: adjacent sequence numbers, both valid", ID_F, TWIN, "disagree"),
    ("masked, visible agree", ID_F, "460105********7124", "partial"),
    ("masked, visible differ", ID_F, "460105********7125", "disagree"),
    ("masked vs masked agree", "4601**********7124", "460105********7124", "partial"),
    (
        "identical masked numbers are still only partial",
        "460105********7124",
        "460105********7124",
        "partial",
    ),
    ("masked to 6 visible: the last 2 agree, weak", ID_F, "4601************24", "weak"),
    ("masked with a short star run", ID_F, "460105****7124", "partial"),
    ("masked with a short star run, differs", ID_F, "460105****7125", "disagree"),
    ("different people", ID_F, ID_M, "disagree"),
    ("missing side", ID_F, None, "missing"),
    ("garbage side", ID_F, "hello", "missing"),
]


@pytest.mark.parametrize(("description", "left", "right", "level"), CASES)
def test_compare_id(description: str, left: str, right: str, level: str) -> None:
    result = compare_id(normalise_id(left), normalise_id(right))
    assert result.level == level, description
    assert result.field == "id_number"
    assert id_level(normalise_id(left), normalise_id(right)) == (level, result.value_key)


def test_typo_detail_says_checksum_detected() -> None:
    result = compare_id(normalise_id(ID_F), normalise_id(ID_F[:14] + "8" + ID_F[15:]))
    assert "checksum-detected" in result.detail_en
    assert "15" in result.detail_en
    swapped = compare_id(normalise_id(ID_F), normalise_id(_swap(ID_F, 13)))
    assert "swapped" in swapped.detail_en


def test_details_mask_the_number() -> None:
    result = compare_id(normalise_id(ID_F), normalise_id(ID_F))
    assert "4601**************" in result.detail_en
    assert ID_F not in result.detail_zh + result.detail_en + result.value_key


@pytest.mark.parametrize(
    ("description", "left", "right", "level"),
    [
        ("identical", "E12345678", "e12345678", "exact"),
        ("one char substituted", "E12345678", "E12345679", "typo"),
        ("adjacent swap", "E12345678", "E12345687", "typo"),
        ("different", "E12345678", "G87654321", "disagree"),
    ],
)
def test_compare_passport(description: str, left: str, right: str, level: str) -> None:
    result = compare_id(normalise_id(left, "passport"), normalise_id(right, "passport"))
    assert result.level == level, description


def test_different_id_types_are_not_compared() -> None:
    result = compare_id(normalise_id(ID_F), normalise_id("E12345678", "passport"))
    assert result.level == "missing"


def test_block_keys() -> None:
    keys = id_block_keys(normalise_id(ID_F))
    assert {f"id:{ID_F}", f"idbody:{ID_F[:17]}", "bdg:19900101F"} <= keys
    masked = id_block_keys(normalise_id("460105********7124"))
    assert masked & keys
    assert id_block_keys(normalise_id(None)) == frozenset()


def test_block_keys_survive_wrong_check_char() -> None:
    assert f"idbody:{ID_F[:17]}" in id_block_keys(normalise_id(ID_F[:17] + "X"))


ids = st.builds(
    lambda region, birth, seq, damage: (
        f"{region}{birth:%Y%m%d}{seq:03d}" + check_char(f"{region}{birth:%Y%m%d}{seq:03d}"),
        damage,
    ),
    st.integers(min_value=110000, max_value=659999).map(str),
    st.dates(min_value=dt.date(1940, 1, 1), max_value=dt.date(2010, 12, 31)),
    st.integers(min_value=0, max_value=999),
    st.integers(min_value=0, max_value=17),
)
texts = st.one_of(
    st.text(),
    st.binary().map(lambda b: b.decode("utf-8", "replace")),
    st.from_regex(r"[0-9xX* -]{0,22}"),
)


@SETTINGS
@given(texts, st.sampled_from(["cn_resident", "passport", "other", None, "weird"]))
def test_normalise_never_raises(raw: str, id_type: str | None) -> None:
    forms = normalise_id(raw, id_type)
    assert isinstance(forms.flags, tuple)


@SETTINGS
@given(ids)
def test_valid_ids_are_valid_and_identical(case: tuple[str, int]) -> None:
    value, _ = case
    forms = normalise_id(value)
    assert forms.valid
    assert compare_id(forms, forms).level == "exact"


@SETTINGS
@given(ids, st.integers(min_value=0, max_value=9))
def test_single_substitution_is_typo_and_checksum_detected(
    case: tuple[str, int], digit: int
) -> None:
    value, pos = case
    damaged = value[:pos] + str(digit) + value[pos + 1 :]
    result = compare_id(normalise_id(value), normalise_id(damaged))
    if damaged == value:
        assert result.level == "exact"
    elif pos == 17:
        assert result.level == "partial"
    else:
        assert result.level == "typo"
        assert not normalise_id(damaged).valid  # MOD 11-2 catches every single substitution


@SETTINGS
@given(texts, texts)
def test_compare_symmetric_bounded_and_masked(a: str, b: str) -> None:
    left, right = normalise_id(a), normalise_id(b)
    one, other = compare_id(left, right), compare_id(right, left)
    assert one.level == other.level
    assert id_level(left, right) == (one.level, one.value_key)  # the fast path agrees
    assert one.level in LEVELS
    for forms in (left, right):
        if len(forms.value) >= 7 and forms.value.isdigit():
            assert forms.value not in one.detail_zh + one.detail_en


@SETTINGS
@given(ids, ids)
def test_details_never_carry_a_full_id(a: tuple[str, int], b: tuple[str, int]) -> None:
    result = compare_id(normalise_id(a[0]), normalise_id(b[0]))
    assert a[0] not in result.value_key
    assert not re.search(r"\d{11}", result.detail_zh + result.detail_en)


@SETTINGS
@given(texts)
def test_identity_on_any_text(a: str) -> None:
    forms = normalise_id(a)
    # A masked number agrees with itself on what it shows: partial from 8 visible characters,
    # weak below that (only a tail-only mask is comparable with fewer).
    visible = len(forms.value) - forms.value.count("*")
    masked = "partial" if visible >= MIN_VISIBLE else "weak"
    expected = "missing" if not forms.comparable else masked if forms.masked else "exact"
    assert compare_id(forms, forms).level == expected
