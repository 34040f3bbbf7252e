"""Bank card numbers: Luhn check, length, BIN prefix, masked forms.

The roster carries no cards, so nothing is compared; an event's card is validated (its flags
travel on the lead) and shown masked (``622202*********0123``).

    >>> normalise_card("6222 0212 3456 7890 128").valid
    True
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from matchers.fields.masking import as_text, mask_card

__all__ = ["CardForms", "card_block_keys", "luhn_ok", "normalise_card"]

_SEPARATORS = frozenset(" -_.\t\u3000")
_MASKS = frozenset("*×•●#xX")
_CLEAN = str.maketrans(dict.fromkeys(_SEPARATORS) | dict.fromkeys(_MASKS, "*"))
# A doubled Luhn digit's digit sum (2d, less 9 from 10 on), as an ASCII code.
_DOUBLED = bytes.maketrans(b"0123456789", b"0246813579")
_MIN_LEN, _MAX_LEN = 16, 19
_MIN_MASKED_LEN = 12


@dataclass(frozen=True, slots=True)
class CardForms:
    """A normalised bank card number.

    Attributes:
        value: the digits (masked positions as ``*``), or ``""``.
        valid: 16-19 digits passing the Luhn check.
        flags: ``card_empty``, ``card_bad_chars``, ``card_wrong_length``, ``card_luhn_failed``,
            ``card_masked``.
        bin: the six-digit issuer prefix (bank identification number) when visible.
        last4: the last four digits when visible.
        masked: the number shown masked, safe for details.
    """

    value: str
    valid: bool
    flags: tuple[str, ...] = ()
    bin: str = ""
    last4: str = ""
    masked: str = ""


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn (mod 10) check.

    Args:
        digits: ASCII digits only.

    Returns:
        ``True`` when the check digit is right.
    """
    backwards = digits.encode()[::-1]
    # Sums of ASCII codes: each digit counts its code, ord("0") too many.
    total = sum(backwards[0::2]) + sum(backwards[1::2].translate(_DOUBLED))
    return (total - ord("0") * len(digits)) % 10 == 0


def normalise_card(raw: object) -> CardForms:
    """Normalise a bank card number; never raises.

    Args:
        raw: the number as sent (any type; ``None`` for none).

    Returns:
        The parsed forms; see :class:`CardForms`.
    """
    if type(raw) is str and raw.isdigit() and raw.isascii():
        chars = raw[:64]  # nothing to fold, strip or mask
    else:
        chars = unicodedata.normalize("NFKC", as_text(raw, 64)).translate(_CLEAN)
    if not chars:
        return CardForms("", valid=False, flags=("card_empty",))
    digits = chars.replace("*", "")
    if digits and not (digits.isascii() and digits.isdigit()):
        return CardForms("", valid=False, flags=("card_bad_chars",))
    head = len(chars) - len(chars.lstrip("0123456789"))
    bin_ = chars[:6] if head >= 6 else ""
    last4 = chars[-4:] if "*" not in chars[-4:] else ""
    if "*" in chars:
        ok_len = _MIN_MASKED_LEN <= len(chars) <= _MAX_LEN
        flags = ("card_masked",) if ok_len else ("card_masked", "card_wrong_length")
        return CardForms(chars, False, flags, bin_, last4, mask_card(chars))
    flags_list = []
    if not _MIN_LEN <= len(chars) <= _MAX_LEN:
        flags_list.append("card_wrong_length")
    if not luhn_ok(chars):
        flags_list.append("card_luhn_failed")
    return CardForms(chars, not flags_list, tuple(flags_list), bin_, last4, mask_card(chars))


def card_block_keys(forms: CardForms) -> frozenset[str]:
    """Cards are not on the roster, so they file nothing in the blocking index.

    Args:
        forms: a normalised card.

    Returns:
        An empty set (kept for the uniform field-module surface).
    """
    del forms
    return frozenset()
