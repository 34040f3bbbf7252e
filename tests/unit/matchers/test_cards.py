"""Bank cards: Luhn, length, BIN, masking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.fields.cards import card_block_keys, luhn_ok, normalise_card

SETTINGS = settings(max_examples=200, deadline=None)
CARD = "6222021234567890128"  # synthetic, Luhn-valid


@pytest.mark.parametrize(
    ("description", "raw", "valid", "flag"),
    [
        ("19 digits", CARD, True, None),
        ("spaces", "6222 0212 3456 7890 128", True, None),
        ("full-width", "６２２２０２１２３４５６７８９０１２８", True, None),
        ("16 digits", "4111111111111111", True, None),
        ("luhn failure", "4111111111111112", False, "card_luhn_failed"),
        ("too short", "411111111111", False, "card_wrong_length"),
        ("masked", "622202******0128", False, "card_masked"),
        ("letters", "card 1234", False, "card_bad_chars"),
        ("empty", "", False, "card_empty"),
        ("none", None, False, "card_empty"),
    ],
)
def test_normalise_card(description: str, raw: object, valid: bool, flag: str | None) -> None:
    forms = normalise_card(raw)
    assert forms.valid is valid, description
    if flag:
        assert flag in forms.flags, description


def test_bin_last4_and_mask() -> None:
    forms = normalise_card(CARD)
    assert (forms.bin, forms.last4, forms.masked) == ("622202", "0128", "622202*********0128")
    assert normalise_card("622202******0128").bin == "622202"
    assert card_block_keys(forms) == frozenset()


def _with_check_digit(body: str) -> str:
    return next(body + d for d in "0123456789" if luhn_ok(body + d))


@SETTINGS
@given(
    st.builds(
        lambda first, rest, size: str(first) + str(rest).zfill(17)[:size],
        st.integers(3, 6),
        st.integers(0, 10**17 - 1),
        st.integers(14, 17),
    )
)
def test_luhn_catches_single_substitutions(body: str) -> None:
    card = _with_check_digit(body)
    assert normalise_card(card).valid
    damaged = card[:3] + str((int(card[3]) + 1) % 10) + card[4:]
    assert not luhn_ok(damaged)
    assert card not in normalise_card(card).masked


@SETTINGS
@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("utf-8", "replace"))))
def test_normalise_never_raises(raw: str) -> None:
    assert isinstance(normalise_card(raw).flags, tuple)
