"""Ids as clerks and OCR write them, and two valid ids that are two people (issue 13)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.fields.id_damage import check_char, one_slip_bodies
from matchers.fields.ids import compare_id, id_level, normalise_id
from matchers.scoring.gate import identifying_agreement
from matchers.scoring.modelfile import default_model


def _valid(body17: str) -> str:
    return body17 + check_char(body17)


# Synthetic numbers with valid check characters: Haikou Meilan 1990-01-01, 琼海 1963-07-01.
MEILAN = _valid("46010819900101081")
QIONGHAI = _valid("46900219630701188")
WIDE = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")

READINGS = [
    ("letter O for 0", MEILAN.replace("0", "O", 2), MEILAN, ("id_ocr_letters",)),
    ("lower-case l for 1", MEILAN[:6] + MEILAN[6:].replace("1", "l", 1), MEILAN, ("id_ocr_letters",)),  # noqa: E501
    ("capital I for 1", QIONGHAI[:14] + "I" + QIONGHAI[15:], QIONGHAI, ("id_ocr_letters",)),
    ("B for 8", QIONGHAI.replace("8", "B"), QIONGHAI, ("id_ocr_letters",)),
    ("full-width digits", MEILAN.translate(WIDE), MEILAN, ()),
    ("spaces between parts", f"{MEILAN[:6]} {MEILAN[6:14]} {MEILAN[14:]}", MEILAN, ()),
    ("full-width spaces", "\u3000".join((QIONGHAI[:6], QIONGHAI[6:14], QIONGHAI[14:])), QIONGHAI, ()),  # noqa: E501
]  # fmt: skip


@pytest.mark.parametrize(("description", "raw", "expected", "flags"), READINGS)
def test_clerk_and_ocr_writings_read_back_to_the_number(
    description: str, raw: str, expected: str, flags: tuple[str, ...]
) -> None:
    forms = normalise_id(raw)
    assert forms.value == expected, description
    assert forms.valid
    assert set(flags) <= set(forms.flags)
    assert compare_id(normalise_id(expected), forms).level == "exact"


def test_ocr_repair_leaves_what_is_not_an_id_alone() -> None:
    assert not normalise_id("ABCDEFGHIJKLMNOPQR").comparable
    assert normalise_id("E1234567", "passport").value == "E1234567"
    assert "id_ocr_letters" not in normalise_id(MEILAN).flags
    # The check position keeps its X: a letter there is no OCR slip.
    x_id = next(
        _valid(f"4601081990010{n:03d}1")
        for n in range(999)
        if _valid(f"4601081990010{n:03d}1").endswith("X")
    )
    assert normalise_id(x_id.replace("0", "O", 1)).value == x_id


_OTHER_TAIL = str((int(MEILAN[16]) + 2) % 10) + MEILAN[17]  # same gender, other digit
MASKS = [
    ("first 6 + last 4", MEILAN[:6] + "*" * 8 + MEILAN[14:], "partial"),
    ("first 4 + last 4", MEILAN[:4] + "*" * 10 + MEILAN[14:], "partial"),
    ("first 6 + last 4, dots for stars", MEILAN[:6] + "·" * 8 + MEILAN[14:], "partial"),
    ("first 6 + last 4, a shorter run of stars", MEILAN[:6] + "****" + MEILAN[14:], "partial"),
    ("first 3 + last 4 (7 visible)", MEILAN[:3] + "*" * 11 + MEILAN[14:], "weak"),
    ("last 4 only", "*" * 14 + MEILAN[14:], "weak"),
    ("last 2 only", "*" * 16 + MEILAN[16:], "weak"),
    ("last 2 only, a short run of stars", "****" + MEILAN[16:], "weak"),
    ("last 2 only, another person's", "*" * 16 + _OTHER_TAIL, "disagree"),
    ("region only", MEILAN[:6] + "*" * 12, "missing"),
    ("last character only", "*" * 17 + MEILAN[17], "missing"),
    ("first 6 + last 4 of someone else", QIONGHAI[:6] + "*" * 8 + QIONGHAI[14:], "disagree"),
]


@pytest.mark.parametrize(("description", "masked", "level"), MASKS)
def test_bank_mask_styles(description: str, masked: str, level: str) -> None:
    person, event = normalise_id(MEILAN), normalise_id(masked)
    comparison = compare_id(person, event)
    assert comparison.level == level, description
    assert id_level(person, event)[0] == level, description
    assert compare_id(event, person).level == level, description  # symmetric
    assert MEILAN not in comparison.detail_en + comparison.detail_zh


def test_a_last_two_mask_is_weak_evidence_never_an_identifier() -> None:
    model = default_model()
    assert 0 < model.weight("id_number", "weak") < model.weight("id_number", "partial") / 2
    assert not identifying_agreement(
        id_number="weak", phone="disagree", address="partial", birth_date="missing", gender="exact"
    )
    weak = compare_id(normalise_id(MEILAN), normalise_id("*" * 16 + MEILAN[16:]))
    assert "last 2 characters" in weak.detail_en and "末2位" in weak.detail_zh
    assert "id_masked_tail" in normalise_id("*" * 16 + MEILAN[16:]).flags


def _sequence_other(value: str, positions: tuple[int, ...]) -> str:
    body = list(value[:17])
    for i in positions:
        body[i] = str((int(body[i]) + 2) % 10)  # +2 keeps the gender digit's parity
    return _valid("".join(body))


def test_two_valid_ids_with_other_sequence_digits_are_two_people() -> None:
    other = _sequence_other(MEILAN, (14, 15))
    comparison = compare_id(normalise_id(MEILAN), normalise_id(other))
    assert comparison.level == "disagree"
    assert "another person" in comparison.detail_en
    assert MEILAN not in comparison.detail_en + comparison.detail_zh


_SUBSTITUTED = MEILAN[:15] + str((int(MEILAN[15]) + 1) % 10) + MEILAN[16:]
_OTHER_CHECK = MEILAN[:17] + ("0" if MEILAN[17] != "0" else "1")
DAMAGED = [
    ("one digit substituted (breaks the check)", _SUBSTITUTED, "typo"),
    ("adjacent digits swapped", MEILAN[:10] + MEILAN[11] + MEILAN[10] + MEILAN[12:], "typo"),
    (
        "legacy 15-digit number, one date digit off",
        QIONGHAI[:6] + "630711" + QIONGHAI[14:17],
        "typo",
    ),
    ("same body, other check character", _OTHER_CHECK, "partial"),
]


@pytest.mark.parametrize(("description", "other", "level"), DAMAGED)
def test_a_damaged_number_is_still_a_typo(description: str, other: str, level: str) -> None:
    person = normalise_id(QIONGHAI if "legacy" in description else MEILAN)
    assert compare_id(person, normalise_id(other)).level == level, description


# A clerk's slip on MEILAN (..0101 081 + check) and where blocking must still find it.
SLIPS = [
    ("sequence digits 0 and 8 swapped (the tail changes)", MEILAN[:14] + "801" + MEILAN[17]),
    ("gender digit swapped with its neighbour (M read as F)", MEILAN[:15] + "18" + MEILAN[17]),
    ("last sequence digit and check character swapped", MEILAN[:16] + MEILAN[17] + "1"),
    ("a region digit mistyped", "46" + "2" + MEILAN[3:]),
    ("a birth-year digit mistyped", MEILAN[:8] + "8" + MEILAN[9:]),
    ("a sequence digit mistyped", MEILAN[:15] + "3" + MEILAN[16:]),
]


@pytest.mark.parametrize(("description", "damaged"), SLIPS)
def test_a_slipped_number_names_the_body_it_was_made_on(description: str, damaged: str) -> None:
    assert normalise_id(damaged).valid is False, description
    bodies = one_slip_bodies(damaged)
    assert MEILAN[:17] in bodies, description
    assert len(bodies) <= 34 and len(set(bodies)) == len(bodies)
    assert all(check_char(b) == damaged[17] for b in bodies if b[16] != damaged[17])


def test_a_valid_number_or_another_shape_has_no_slip_bodies() -> None:
    assert one_slip_bodies(MEILAN) == ()
    assert one_slip_bodies(MEILAN[:17]) == ()
    assert one_slip_bodies("460108********0815") == ()


@settings(max_examples=50, deadline=None)
@given(st.text("0123456789", min_size=11, max_size=11), st.integers(0, 16), st.integers(1, 9))
def test_any_one_substitution_or_swap_is_undone(tail: str, where: int, shift: int) -> None:
    a = _valid("460108" + tail)
    typed = a[:where] + str((int(a[where]) + shift) % 10) + a[where + 1 :]
    swapped = a[:where] + a[where + 1 : where + 2] + a[where] + a[where + 2 :]
    for damaged in (typed, swapped):
        if damaged[:17] != a[:17] and damaged[:17].isdigit() and check_char(damaged) != damaged[17]:
            assert a[:17] in one_slip_bodies(damaged)


@settings(max_examples=200, deadline=None)
@given(
    st.text("0123456789", min_size=11, max_size=11),
    st.sampled_from([(14, 15), (14, 16), (15, 16), (14, 15, 16)]),
)
def test_checksum_consistent_body_differences_disagree(
    tail: str, positions: tuple[int, ...]
) -> None:
    body = "460108" + tail
    if not body[6:14].isdigit():
        return
    a = _valid(body)
    b = _sequence_other(a, positions)
    level, _ = id_level(normalise_id(a), normalise_id(b))
    assert level == "disagree"
    assert compare_id(normalise_id(a), normalise_id(b)).level == level


@settings(max_examples=200, deadline=None)
@given(st.text("0123456789", min_size=11, max_size=11), st.integers(0, 16), st.integers(1, 9))
def test_every_single_substitution_stays_a_typo(tail: str, where: int, shift: int) -> None:
    a = _valid("460108" + tail)
    digit = str((int(a[where]) + shift) % 10)
    b = a[:where] + digit + a[where + 1 :]
    assert id_level(normalise_id(a), normalise_id(b))[0] == "typo"


# A legacy 15-digit number (no check character of its own) and a valid 18-digit one: 琼海,
# born 1987-05-21, sequence 461 on the old card.
LEGACY = "469002870521461"
LEGACY_CASES = [
    ("the upgraded number itself", _valid("46900219870521461"), "exact"),
    # Without a check character on the old card, one slip in the sequence digits is also what
    # a namesake born the same day in the same county shows (a day's numbers are close).
    ("sequence digits 4 and 6 swapped", _valid("46900219870521641"), "weak"),
    ("one sequence digit off", _valid("46900219870521481"), "weak"),
    ("one sequence digit off, the 18-digit copy failing its check", "469002198705214812", "typo"),
    ("one birth-date digit off", _valid("46900219870531461"), "typo"),
    # 461 vs 941: the 4 moved but the 6 did not; two substitutions, a namesake's number.
    (
        "two sequence digits changed, one of them landing where the other was",
        _valid("46900219870521941"),
        "disagree",
    ),
    ("two sequence digits changed", _valid("46900219870521971"), "disagree"),
]


@pytest.mark.parametrize(("description", "other", "level"), LEGACY_CASES)
def test_a_legacy_number_against_a_valid_one(description: str, other: str, level: str) -> None:
    person, event = normalise_id(LEGACY), normalise_id(other)
    comparison = compare_id(person, event)
    assert comparison.level == level, description
    assert id_level(person, event)[0] == level, description
    if level == "weak":
        assert "namesake" in comparison.detail_en and "同名" in comparison.detail_zh
