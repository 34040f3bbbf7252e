r"""One sanitiser for every text a record brings: control, bidirectional and zero-width out.

    clean_text("张\u202e伟")   -> ("张伟", True)     # RIGHT-TO-LEFT OVERRIDE removed
    clean_text("ZHANG\tWEI")  -> ("ZHANG WEI", True) # a control that separates: a space
    clean_text("张伟")         -> ("张伟", False)    # clean text: the same object, untouched

A lead is read by an officer: a RIGHT-TO-LEFT OVERRIDE (U+202E) in a name or an id would show
them the characters in another order than the one that was matched, and a zero-width space
makes two different strings look the same. So every text field of a roster record or an event
passes through :func:`clean_text` in ``matchers.records`` before its normaliser sees it (one
place, not a copy per field); the record carries :data:`CONTROL_CHARS_FLAG` when anything was
taken out, and the flag travels on the lead.

What goes: the Unicode categories Cc (C0 and C1 controls), Cf (format characters: the bidi
embeddings, overrides and isolates U+202A-202E and U+2066-2069, the marks U+200E/U+200F and
U+061C, the zero-width characters U+200B-200D and U+2060, U+FEFF, soft hyphens, tags) and Cs
(lone surrogates, which cannot be encoded in UTF-8 at all). Controls that separate words (tab,
line breaks, U+0085, U+2028/U+2029) become a space. What stays: every printable character,
non-ASCII spaces such as U+3000 (the normalisers fold them), private-use characters (registries
encode rare hanzi there) and code points newer than this Python's Unicode tables.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["CONTROL_CHARS_FLAG", "clean_text"]

#: The flag a record carries when :func:`clean_text` took something out of one of its fields.
CONTROL_CHARS_FLAG: Final = "text_control_chars_removed"

# Controls that separate words: replaced by a space, so "ZHANG\tWEI" stays two words.
_SEPARATORS: Final = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x1f\x85\u2028\u2029")
_REMOVED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs"})


def clean_text(value: str) -> tuple[str, bool]:
    """Remove control, format (bidi, zero-width) and surrogate characters from ``value``.

    Linear in the length of ``value``; clean text (the common case: every ASCII or CJK name,
    id, phone and address) costs one ``str.isprintable`` scan and is returned as it is.

    Args:
        value: any text.

    Returns:
        The cleaned text, and whether anything was removed or replaced.
    """
    if value.isprintable():
        return value, False
    out = []
    changed = False
    for char in value:
        if char in _SEPARATORS:
            out.append(" ")
            changed = True
        elif unicodedata.category(char) in _REMOVED_CATEGORIES:
            changed = True
        else:
            out.append(char)  # printable after all: a non-ASCII space, private use, unassigned
    return ("".join(out), True) if changed else (value, False)
