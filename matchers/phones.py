"""Phone numbers: mainland mobiles and landlines first, any country through ``phonenumbers``.

A number is kept as its national significant number (``13812345678``, ``89866123456``) for China
and as ``+<country code><number>`` elsewhere. ``+86``, ``0086``, spaces, dashes and parentheses
are stripped; a landline's area code is split from its local number so that a local number sent
without its area code still finds the person.

Worked comparisons (person's phones vs the event's phone):

    [13812345678]            vs 138 1234 5678     exact
    [13812345678]            vs 13812345679       typo (one digit differs)
    [13812345678]            vs 13812346578       typo (adjacent digits swapped)
    [0898-66123456]          vs 66123456          partial (same local number, no area code)
    [13812345678]            vs 13987654321       disagree
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import phonenumbers
from phonenumbers import PhoneNumberType
from rapidfuzz.distance import OSA

from matchers.frozen import builder
from matchers.levels import FieldComparison, Level
from matchers.masking import as_text, mask_phone

__all__ = [
    "PhoneForms",
    "PhoneKind",
    "compare_phone",
    "normalise_phone",
    "phone_block_keys",
    "phone_level",
]

PhoneKind = Literal["mobile", "landline", "service", "other"]

_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
_CN_PREFIX = re.compile(r"^(?:\+|00)?86(?=1[3-9]\d{9}$)")
_MIN_DIGITS = 5
_MIN_COMPARABLE = 7
_KINDS: dict[int, PhoneKind] = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "landline",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "landline",
    PhoneNumberType.TOLL_FREE: "service",
    PhoneNumberType.SHARED_COST: "service",
    PhoneNumberType.PREMIUM_RATE: "service",
    PhoneNumberType.UAN: "service",
}
_NOTHING = ("", False, False)


@dataclass(frozen=True, slots=True)
class PhoneForms:
    """A normalised phone number.

    Attributes:
        value: the comparison key: national significant number for China (``13812345678``),
            ``+<cc><number>`` elsewhere; ``""`` when nothing usable was given.
        valid: ``phonenumbers`` (or the mainland mobile pattern) accepts the number.
        comparable: enough digits to compare, even if not valid.
        flags: ``phone_empty``, ``phone_unparseable``, ``phone_invalid``, ``phone_no_area_code``,
            ``phone_foreign``, ``phone_service_number``.
        kind: ``mobile``, ``landline``, ``service`` or ``other``.
        country_code: the calling code (86 for China).
        area_code: a mainland landline's area code without the trunk 0 (``898``), else ``""``.
        local: a landline's local number (``66123456``), else ``""``.
    """

    value: str
    valid: bool
    comparable: bool
    flags: tuple[str, ...] = ()
    kind: PhoneKind = "other"
    country_code: int = 86
    area_code: str = ""
    local: str = ""


def normalise_phone(raw: object, region: str = "CN") -> PhoneForms:
    """Normalise a phone number; never raises.

    Args:
        raw: the number as sent (any type; ``None`` for none).
        region: the region assumed for numbers without a country code.

    Returns:
        The parsed forms; see :class:`PhoneForms`.
    """
    if raw is None:
        return PhoneForms("", valid=False, comparable=False, flags=("phone_empty",))
    return _normalise(as_text(raw, 64), region)


_make = builder(PhoneForms)  # every field, in order: PhoneForms without its frozen __init__


# Numbers rarely repeat across events: a small cache catches re-deliveries and bursts.
@lru_cache(maxsize=8192)
def _normalise(text: str, region: str) -> PhoneForms:
    mobile = _plain_mobile(text) if region == "CN" else None
    if mobile is not None:
        return _make(mobile, True, True, (), "mobile", 86, "", "")
    return _parse(text, region)


def _parse(text: str, region: str) -> PhoneForms:
    """Any number (the general path)."""
    text = unicodedata.normalize("NFKC", text).strip()
    digits = "".join(c for c in text if "0" <= c <= "9")
    if not digits:
        flag = "phone_empty" if not text else "phone_unparseable"
        return PhoneForms("", valid=False, comparable=False, flags=(flag,))
    plus = "+" if text.startswith("+") else ""
    national = _CN_PREFIX.sub("", plus + digits)
    if _CN_MOBILE.fullmatch(national) and (region == "CN" or national != plus + digits):
        return _make(national, True, True, (), "mobile", 86, "", "")  # fast path
    if len(digits) < _MIN_DIGITS:
        return PhoneForms("", valid=False, comparable=False, flags=("phone_unparseable",))
    try:
        number = phonenumbers.parse(plus + digits, region)
    except Exception:  # phonenumbers raises its own NumberParseException on garbage
        return _unparsed(digits)
    return _classified(number, digits)


def _plain_mobile(text: str) -> str | None:
    """A mainland mobile written plainly (``13812345678``, ``138-1234-5678``, ``+86 138...``).

    The common shapes, read without the general path's NFKC and regular expressions: a ``+``
    or digit first, then ASCII digits, spaces and dashes only. ``None`` for anything else.
    """
    if not text or not text.isascii() or not (text[0] == "+" or "0" <= text[0] <= "9"):
        return None
    digits = text.replace(" ", "").replace("-", "")
    if text[0] == "+":
        digits = digits[1:]
        if len(digits) != 13:  # +86 and a mobile; a bare +138... is not one
            return None
    if not digits.isdigit():
        return None
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    elif len(digits) == 15 and text[0] != "+" and digits.startswith("0086"):
        digits = digits[4:]
    if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789":
        return digits
    return None


def _unparsed(digits: str) -> PhoneForms:
    ok = len(digits) >= _MIN_COMPARABLE
    return PhoneForms(
        digits if ok else "",
        valid=False,
        comparable=ok,
        flags=("phone_invalid",) if ok else ("phone_unparseable",),
    )


def _classified(number: phonenumbers.PhoneNumber, digits: str) -> PhoneForms:
    nsn = phonenumbers.national_significant_number(number)
    cc = number.country_code or 0
    if not phonenumbers.is_valid_number(number):
        if cc == 86 and 7 <= len(digits) <= 8 and not digits.startswith("0"):
            return PhoneForms(
                digits,
                valid=False,
                comparable=True,
                flags=("phone_no_area_code",),
                kind="landline",
                local=digits,
            )
        return _unparsed(nsn if cc == 86 else f"+{cc}{nsn}")
    kind = _KINDS.get(phonenumbers.number_type(number), "other")
    flags = ("phone_service_number",) if kind == "service" else ()
    if cc != 86:
        return PhoneForms(
            f"+{cc}{nsn}",
            valid=True,
            comparable=True,
            flags=(*flags, "phone_foreign"),
            kind=kind,
            country_code=cc,
        )
    area, local = "", ""
    if kind == "landline":
        size = phonenumbers.length_of_geographical_area_code(number)
        area, local = nsn[:size], nsn[size:]
    return PhoneForms(
        nsn, valid=True, comparable=True, flags=flags, kind=kind, area_code=area, local=local
    )


def _key(value: str) -> str:
    # A digest lets scoring count shared numbers without carrying the number itself.
    return "ph#" + hashlib.blake2b(value.encode(), digest_size=8).hexdigest()


def _cmp(level: Level, zh: str, en: str, key: str = "") -> FieldComparison:
    return FieldComparison("phone", level, zh, en, key)


_RANK: dict[str, int] = {"exact": 0, "typo": 1, "partial": 2, "disagree": 3}


def compare_phone(person: Sequence[PhoneForms] | PhoneForms, event: PhoneForms) -> FieldComparison:
    """Compare a person's known phones with an event's phone; the best agreement wins.

    Args:
        person: the person's phones (or a single one).
        event: the event's phone.

    Returns:
        ``exact`` (one of them), ``typo`` (one digit substituted, dropped or doubled, or two
        adjacent digits swapped), ``partial`` (same landline local number with another or no
        area code), ``disagree`` or ``missing``.
    """
    known = [person] if isinstance(person, PhoneForms) else list(person)
    usable = [p for p in known if p.comparable]
    if not usable or not event.comparable:
        return _cmp("missing", "电话号码缺失或无法识别", "phone missing or unreadable")
    best = min((_compare_one(p, event) for p in usable), key=lambda c: _RANK[c.level])
    if best.level == "disagree" and len(usable) > 1:
        e = mask_phone(event.value)
        return _cmp(
            "disagree",
            f"电话号码（{e}）与已知的{len(usable)}个号码都不同",
            f"phone {e} matches none of the {len(usable)} known numbers",
        )
    return best


def phone_level(person: Sequence[PhoneForms] | PhoneForms, event: PhoneForms) -> tuple[Level, str]:
    """:func:`compare_phone`'s level and value key without its details (the fast path).

    Args:
        person: the person's phones (or a single one).
        event: the event's phone.

    Returns:
        ``(level, value_key)``.
    """
    known = (person,) if isinstance(person, PhoneForms) else person
    if not event.comparable:
        return "missing", ""
    best = 4
    for p in known:
        if p.comparable:
            best = min(best, _RANK[_level_one(p, event)])
    if best == 4:
        return "missing", ""
    if best == 0:
        return "exact", _key(event.value)
    return _LEVEL_OF_RANK[best], ""


_LEVEL_OF_RANK: tuple[Level, ...] = ("exact", "typo", "partial", "disagree")


def _level_one(p: PhoneForms, e: PhoneForms) -> Level:
    if p.value == e.value:
        return "exact"
    if p.local and p.local == e.local:
        return "partial"
    if (
        min(len(p.value), len(e.value)) >= _MIN_COMPARABLE
        and OSA.distance(p.value, e.value, score_cutoff=1) <= 1
    ):
        return "typo"
    return "disagree"


def _compare_one(p: PhoneForms, e: PhoneForms) -> FieldComparison:
    level = _level_one(p, e)  # the rules live there; this only says them in words
    mp, me = mask_phone(p.value), mask_phone(e.value)
    if level == "exact":
        return _cmp("exact", f"电话号码一致（{me}）", f"phone identical ({me})", _key(e.value))
    if level == "partial":
        return _cmp(
            "partial",
            f"座机号码相同，区号不同或缺失（{mp} / {me}）",
            f"same landline number, area code differs or missing ({mp} / {me})",
        )
    if level == "typo":
        return _cmp(
            "typo",
            f"电话号码相差一位或相邻两位颠倒（{mp} / {me}）",
            f"phones differ by one digit or an adjacent swap ({mp} / {me})",
        )
    return _cmp("disagree", f"电话号码不同（{mp} / {me}）", f"phones differ ({mp} / {me})")


def phone_block_keys(forms: PhoneForms) -> frozenset[str]:
    """Keys for the blocking index: ``ph:<value>`` and, for landlines, ``phl:<local number>``.

    Args:
        forms: a normalised phone.

    Returns:
        The keys; empty when the number is not comparable.
    """
    if not forms.comparable:
        return frozenset()
    keys = {f"ph:{forms.value}"}
    if forms.local:
        keys.add(f"phl:{forms.local}")
    return frozenset(keys)
