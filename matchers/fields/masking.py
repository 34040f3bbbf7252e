"""Masking of identifying numbers so that details and explanations stay readable but safe.

An officer needs enough of a number to recognise it (the province and city of an id, the
carrier prefix of a mobile, the BIN of a card) and never the whole of it:

    >>> mask_id("460105199001017129")
    '4601**************'
    >>> mask_phone("13812345678")
    '138****5678'
    >>> mask_card("6222021234567890123")
    '622202*********0123'

:func:`redact_numbers` is the last line of defence for free text: it masks every run of seven
or more digits (ids, phones, cards) that a detail might still carry.

Why a resident id shows no tail (issue 15.5): an 18-digit id is region code (6, public: the
district's), birth date (8, shown in full beside it in every explanation), three sequence digits
(the last one's parity is the gender, also shown) and a check character computed from the rest.
Showing its last four gave the whole number back from the district's region code and the shown
birth date. With only the province and city shown, what a lead shows leaves at least the 500
sequence numbers of the person's gender open, and the check character, hidden too, cannot prune
them. The whole number is shown only by the review service's audited "reveal".

:func:`as_text` is how every field module turns whatever a feed sent into text it can safely
work on.
"""

from __future__ import annotations

import re

__all__ = ["as_text", "mask_card", "mask_digits", "mask_id", "mask_phone", "redact_numbers"]

_LONG_NUMBER = re.compile(r"\d[\dXx*]{6,}")
# An 18-character (or legacy 15-digit) resident id: digits or masks, then a final check X
# perhaps. Masks count too: a sender's own mask (4601**********3432) shows the tail the
# attack needs. Free text is masked by this shape, since its field type is unknown there.
_RESIDENT_ID = re.compile(r"[\d*]{17}[\dXx*]|[\d*]{15}")
_ID_REGION_SHOWN = 4


def mask_digits(value: str, *, head: int, tail: int, star: str = "*") -> str:
    """Keep ``head`` leading and ``tail`` trailing characters and star the rest.

    Short values keep proportionally less: at least four characters, and at least a third of
    the value, stay hidden.

    Args:
        value: the (already normalised) number.
        head: how many leading characters to keep.
        tail: how many trailing characters to keep.
        star: the masking character.

    Returns:
        The masked value, same length as ``value``.
    """
    n = len(value)
    if n == 0:
        return ""
    visible = max(0, n - max(4, n // 3))
    if head + tail > visible:
        # Keep the tail first: officers recognise numbers by their last digits.
        tail = min(tail, visible)
        head = min(head, visible - tail)
    return value[:head] + star * (n - head - tail) + (value[n - tail :] if tail else "")


def mask_id(value: str) -> str:
    """Mask an identity number so that nothing else a lead shows can complete it.

    A resident id (18 characters, or the legacy 15 digits) keeps its province and city (the
    first four digits) only: its birth date is shown elsewhere and its region is public, so any
    visible sequence digit or check character would narrow it to a handful of numbers (see the
    module docstring). Other ids (passports) keep their first and last characters as before.

    Args:
        value: a normalised id number (any id type); masked characters may already be ``*``.

    Returns:
        For example ``4601**************`` or ``E****5678``.
    """
    if _RESIDENT_ID.fullmatch(value):
        return value[:_ID_REGION_SHOWN] + "*" * (len(value) - _ID_REGION_SHOWN)
    return mask_digits(value, head=4, tail=4)


def mask_phone(value: str) -> str:
    """Mask a phone number: first three and last four digits visible (``138****5678``).

    Args:
        value: a national significant number or any digit string.

    Returns:
        The masked number.
    """
    return mask_digits(value, head=3, tail=4)


def mask_card(value: str) -> str:
    """Mask a bank card number: the six-digit BIN and the last four visible (PCI DSS style).

    Args:
        value: the card number, digits only.

    Returns:
        For example ``622202*********0123``.
    """
    return mask_digits(value, head=6, tail=4)


def redact_numbers(text: str) -> str:
    """Mask every run of seven or more digits in free text (a safety net for details).

    Args:
        text: any text.

    Returns:
        The text with long numbers masked: what has a resident id's shape as :func:`mask_id`
        does, any other to its first three and last four characters.
    """
    return _LONG_NUMBER.sub(_redact_one, text)


def _redact_one(match: re.Match[str]) -> str:
    number = match.group(0)
    if _RESIDENT_ID.fullmatch(number):
        return mask_id(number)
    return mask_digits(number, head=3, tail=4)


def as_text(raw: object, limit: int) -> str:
    """Turn any input into clean text, never raising (the field modules' common entry).

    Lone surrogates are dropped (C libraries such as OpenCC refuse them), the text is cut to
    ``limit`` characters, and objects that cannot be printed (a 5,000-digit integer) give ``""``.

    Args:
        raw: what the feed sent; ``None`` gives ``""``.
        limit: the longest text worth keeping.

    Returns:
        The text.
    """
    if raw is None:
        return ""
    try:
        text = raw if isinstance(raw, str) else str(raw)
    except Exception:  # str() of a huge int, or a broken __str__
        return ""
    text = text[:limit]
    if text.isascii():
        return text
    try:
        text.encode("utf-8")  # strict: fails on lone surrogates only
    except UnicodeEncodeError:
        return text.encode("utf-8", "ignore").decode("utf-8")
    return text
