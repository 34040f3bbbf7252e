"""The one sanitiser: control, bidirectional and zero-width characters out, clean text untouched."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from matchers.fields.text import clean_text

# Every character the issue names, and their neighbours in the same categories.
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
ZERO_WIDTH = ["\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\u2060", "\ufeff", "\u061c"]
C0_C1 = ["\x00", "\x07", "\x1b", "\x7f", "\x80", "\x9b", "\x9f"]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
SEPARATING = ["\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize(
    ("description", "raw", "expected"),
    [
        ("hanzi", "张伟", "张伟"),
        ("pinyin", "ZHANG Wei", "ZHANG Wei"),
        ("right-to-left override inside a name", "张\u202e伟", "张伟"),
        ("an isolate around an id", "\u2066460105199001017124\u2069", "460105199001017124"),
        ("zero-width space in a phone", "138\u200b1234\u200b5678", "13812345678"),
        ("a byte-order mark first", "\ufeff王芳", "王芳"),
        ("a tab between words", "ZHANG\tWEI", "ZHANG WEI"),
        ("a line break between words", "ZHANG\r\nWEI", "ZHANG  WEI"),
        ("C0 and C1 controls", "a\x00b\x1bc\x9bd", "abcd"),
        ("a lone surrogate", "张\ud800伟", "张伟"),
        ("ideographic space stays", "张\u3000伟", "张\u3000伟"),
        ("no-break space stays", "Zhang\u00a0Wei", "Zhang\u00a0Wei"),
        ("private use (rare hanzi) stays", "张\ue000", "张\ue000"),
        ("only controls", "\u202e\u200b", ""),
    ],
)
def test_clean_text_table(description: str, raw: str, expected: str) -> None:
    cleaned, changed = clean_text(raw)
    assert cleaned == expected, description
    assert changed == (raw != expected), description


@pytest.mark.parametrize("char", BIDI + ZERO_WIDTH + C0_C1 + SURROGATES + SEPARATING)
def test_every_named_character_is_taken_out_and_flagged(char: str) -> None:
    cleaned, changed = clean_text(f"a{char}b")
    assert changed
    assert char not in cleaned
    assert cleaned in ("ab", "a b")


def test_clean_text_returns_clean_text_itself() -> None:
    text = "海南省海口市美兰区海府路12号"
    assert clean_text(text)[0] is text


_HOSTILE = st.text(
    alphabet=st.sampled_from([*BIDI, *ZERO_WIDTH, *C0_C1, *SURROGATES, *SEPARATING])
    | st.characters(),
    max_size=60,
)


@settings(max_examples=300)
@given(_HOSTILE)
def test_cleaned_text_holds_no_control_format_or_surrogate(text: str) -> None:
    cleaned, changed = clean_text(text)
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs") for c in cleaned)
    assert changed == (cleaned != text)
    cleaned.encode("utf-8")  # no lone surrogate left: every cleaned text can be sent


@settings(max_examples=300)
@given(_HOSTILE)
@example("a\u2028b\u2029c\td")  # separators of other categories (Zl, Zp) become spaces too
def test_clean_text_is_idempotent_and_only_removes_or_spaces(text: str) -> None:
    cleaned, _ = clean_text(text)
    assert clean_text(cleaned) == (cleaned, False)
    assert len(cleaned) <= len(text)
    # What is kept keeps its order: the printable characters of the input (separating
    # controls and the line and paragraph separators became spaces).
    kept = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    assert cleaned.replace(" ", "") == kept.replace(" ", "")
