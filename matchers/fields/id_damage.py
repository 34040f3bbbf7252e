"""How two resident ids differ: a typo, a changed check character, a mask, or another person.

A one-digit typo always fails the checksum, so a damaged number still compares: the body
digits are read position by position, a masked number by its visible characters::

    460105199001017129 vs 460105199001017139   typo (digit 17 differs)
    460105199001017129 vs 460105199001011729   typo (digits 15 and 16 swapped)
    460105199001017129 vs 46010519900101712X   partial (same 17-digit body)
    460105199001017129 vs 460105********7129   partial (the 10 visible characters agree)
    460105199001017129 vs 460105199001017234   disagree (both pass the check: another person)

The MOD 11-2 check character catches every single-digit substitution and every adjacent
transposition, and a two-digit error keeps a valid check only about one time in eleven: two
valid numbers whose bodies differ belong, almost always, to two people (namesakes born the same
day in the same county differ only in the sequence digits). Only a damaged number (one that
fails its check, or a legacy 15-digit number whose check character is ours) is read as a typo.

The functions take the normalised values (``IdForms.value``), so :mod:`matchers.fields.ids` can call
them without a cycle; the levels and words are those of :func:`matchers.fields.ids.compare_id`.
"""

from __future__ import annotations

from typing import Final, Literal

from rapidfuzz.distance import Hamming, Levenshtein

from matchers.fields.masking import mask_id
from matchers.levels import FieldComparison, Level

__all__ = [
    "MIN_TAIL",
    "MIN_VISIBLE",
    "Damage",
    "check_char",
    "id_comparison",
    "masked_level",
    "masked_words",
    "one_slip_bodies",
    "resident_damage",
    "resident_level",
    "resident_words",
]

# Fewer visible characters than this (a region code and little else) identify nobody.
MIN_VISIBLE = 8
# A mask showing only the last characters (banks print ``****************29``) still says
# something: the sequence digit's parity and the check character agree for a stranger of the
# same gender about one time in 55 (1/5 x 1/11), so agreeing there is ``weak`` evidence.
MIN_TAIL = 2


def id_comparison(level: Level, zh: str, en: str, key: str = "") -> FieldComparison:
    """An ``id_number`` comparison at ``level`` with its details and value key."""
    return FieldComparison("id_number", level, zh, en, key)


Damage = Literal["body", "digit", "swap", "length", "valid_other", "sequence", "none"]

_CHECK = "10X98765432"


def check_char(body17: str) -> str:
    """Compute the ISO 7064 MOD 11-2 check character of a 17-digit body.

    Args:
        body17: exactly 17 ASCII digits (more are ignored).

    Returns:
        ``0``-``9`` or ``X``.

    Example:
        >>> check_char("11010519491231002")
        'X'
    """
    # The weights are 2**17 ... 2**1 mod 11, and 13 is 2 mod 11: the weighted sum is, mod 11,
    # twice the body read as a base-13 number (one C call instead of 17 multiplications).
    return _CHECK[2 * int(body17[:17], 13) % 11]


# The first sequence digit (0-based): region 0-5, birth date 6-13, sequence 14-16, check 17.
_SEQUENCE: Final = 14


def _checks(value: str) -> bool:
    return value[:17].isdigit() and check_char(value) == value[17]


# Position i's MOD 11-2 weight (2 ** (17 - i) mod 11) and its inverse mod 11.
_WEIGHTS: Final = tuple(pow(2, 17 - i, 11) for i in range(17))
_INVERSES: Final = tuple(pow(w, -1, 11) for w in _WEIGHTS)


def one_slip_bodies(value: str) -> tuple[str, ...]:
    """The 17-digit bodies of the valid numbers one slip away from a number failing its check.

    A clerk's slip is one digit typed wrong or two adjacent digits swapped, anywhere in the
    18 characters; the check character catches both, and the number they were made on is
    the one that passes the check it still carries. So each body position has at most one
    digit that makes it pass (the weighted sum mod 11 decides), each swap is undone and kept
    if it passes, and a swap of the last body digit with the check character is read back too.
    A slip of the check character itself leaves the body as it was (``idbody:`` finds it).
    At most 34 bodies, most strangers' numbers: the scorer's id comparison then tells them
    apart (:func:`resident_damage`).

    Args:
        value: a normalised 18-character resident number (17 digits and a digit or ``X``).

    Returns:
        The bodies, without ``value``'s own; empty when ``value`` passes its check or has
        another shape.

    Example:
        >>> "46010519900101712" in one_slip_bodies("460105199001011724")  # 71 read as 17
        True
    """
    if len(value) != 18 or not value[:17].isdigit() or value[17] not in _CHECK:
        return ()
    body = value[:17]
    total = 2 * int(body, 13) % 11  # the weighted sum mod 11, as check_char reads it
    gap = (_CHECK.index(value[17]) - total) % 11
    if not gap:
        return ()  # passes its check (the damage, if any, is elsewhere: a date, a length)
    out = []
    for i, digit in enumerate(map(int, body)):
        wanted = (digit + gap * _INVERSES[i]) % 11
        if wanted < 10:
            out.append(f"{body[:i]}{wanted}{body[i + 1 :]}")
    for i in range(16):
        a, b = int(body[i]), int(body[i + 1])
        if (_WEIGHTS[i] - _WEIGHTS[i + 1]) * (b - a) % 11 == gap:
            out.append(f"{body[:i]}{body[i + 1]}{body[i]}{body[i + 2 :]}")
    swapped = body[:16] + value[17]
    if value[17] != "X" and check_char(swapped) == body[16]:
        out.append(swapped)
    return tuple(out)


def resident_damage(a: str, b: str, *, legacy: bool) -> tuple[Damage, int]:
    """How one of two different, unmasked resident ids could be a damaged copy of the other.

    Returns:
        ``("body", 17)`` same 17-digit body; ``("digit", i)`` only digit ``i`` (0-based)
        differs; ``("swap", i)`` digits ``i`` and ``i + 1`` are swapped; ``("length", -1)``
        one digit dropped or doubled; ``("valid_other", -1)`` both pass the check, so the
        difference is no typo; ``("sequence", i)`` a legacy number and one passing its check
        differ by such a slip in the sequence digits only, which no check character can tell
        from a namesake's number; ``("none", -1)`` none of these.
    """
    if len(a) == len(b) == 18:
        return _full_damage(a, b, legacy=legacy)
    if Levenshtein.distance(a, b, score_cutoff=1) == 1:
        return "length", -1
    return "none", -1


def _full_damage(a: str, b: str, *, legacy: bool) -> tuple[Damage, int]:
    if a[:17] == b[:17]:
        return "body", 17
    # A legacy number's check character was computed by us from a possibly damaged body, so
    # only its 17 body digits are evidence. For full numbers the check character counts: twins
    # differ in one sequence digit and, both being valid, in the check character too.
    end = 17 if legacy else 18
    if Hamming.distance(a[:end], b[:end], score_cutoff=2) > 2:
        return "none", -1  # most pairs: strangers' numbers differ almost everywhere
    if not legacy and _checks(a) and _checks(b):
        return "valid_other", -1  # the check would have caught a typo: another person
    diffs = [i for i in range(end) if a[i] != b[i]]
    damage, i = _slip(a, b, diffs)
    if damage != "none" and legacy and i >= _SEQUENCE and _checks(a) and _checks(b):
        # A legacy number's check character is ours, so neither side shows damage: a slip
        # in the sequence digits is as much a clerk's on the old card as the number of a
        # namesake born the same day in the same county (the county hands out a day's
        # sequence numbers close together). Only the region and the date, which the birth
        # date already counts, then agree.
        return "sequence", i
    return damage, i


def _slip(a: str, b: str, diffs: list[int]) -> tuple[Damage, int]:
    if len(diffs) == 1:
        return "digit", diffs[0]
    if len(diffs) == 2 and diffs[1] == diffs[0] + 1 and _crossed(a, b, diffs[0]):
        return "swap", diffs[0]
    return "none", -1


def _crossed(a: str, b: str, i: int) -> bool:
    # A transposition moves both digits: 46 read as 64. One digit landing where the other was
    # (46 vs 94) is two substitutions, the sequence digits of another person (a legacy number
    # has no check character to tell them apart, so only a true swap is read as a slip).
    return a[i] == b[i + 1] and a[i + 1] == b[i]


_DAMAGE_LEVEL: dict[Damage, Level] = {
    "body": "partial",
    "digit": "typo",
    "swap": "typo",
    "length": "typo",
    "valid_other": "disagree",
    "sequence": "weak",
    "none": "disagree",
}


def resident_level(a: str, b: str, *, legacy: bool) -> Level:
    """The level of two different, unmasked resident ids (:func:`resident_damage`'s kind)."""
    return _DAMAGE_LEVEL[resident_damage(a, b, legacy=legacy)[0]]


def masked_level(a: str, b: str) -> Level:
    """The level of two resident ids of which one or both are masked, by their visible characters.

    ``partial`` (at least :data:`MIN_VISIBLE` visible characters, all agreeing), ``weak``
    (fewer, but at least :data:`MIN_TAIL` of the last characters, the check character among
    them, all agreeing), ``disagree`` or ``missing``.
    """
    if len(a) != len(b):
        return "missing"
    both = [(x, y) for x, y in zip(a, b, strict=True) if x != "*" and y != "*"]
    if any(x != y for x, y in both):
        return "disagree"
    if len(both) >= MIN_VISIBLE:
        return "partial"
    # The last characters alone: the check character among them, so a typo shows.
    return "weak" if len(both) >= MIN_TAIL and a[17] != "*" and b[17] != "*" else "missing"


def masked_words(a: str, b: str, level: Level, *, shown: str) -> FieldComparison:
    """The words for two masked ids compared at ``level`` (:func:`masked_level`).

    Args:
        a: one side's value.
        b: the other side's value.
        level: their level.
        shown: the masked value to show in the details.
    """
    if len(a) != len(b):
        return id_comparison(
            "missing", "身份证号被遮盖，长度不符", "masked ID number has another length"
        )
    both = [(x, y) for x, y in zip(a, b, strict=True) if x != "*" and y != "*"]
    masked = mask_id(shown)
    if level == "partial":
        return id_comparison(
            "partial",
            f"身份证号被遮盖（{masked}），可见的{len(both)}位一致",
            f"ID number masked ({masked}); the {len(both)} visible characters agree",
        )
    if level == "weak":
        return id_comparison(
            "weak",
            f"身份证号被遮盖（{masked}），仅末{len(both)}位可比且一致：弱证据",
            f"ID number masked ({masked}); only the last {len(both)} characters compare, and "
            "they agree: weak evidence",
        )
    if level == "missing":
        return id_comparison(
            "missing", "身份证号被遮盖，可见位太少", "masked ID shows too little to compare"
        )
    mismatches = sum(x != y for x, y in both)
    return id_comparison(
        "disagree",
        f"身份证号被遮盖（{masked}），可见位有{mismatches}位不同",
        f"ID number masked ({masked}); {mismatches} visible characters differ",
    )


def resident_words(a: str, b: str, *, legacy: bool, invalid: str | None) -> FieldComparison:
    """Say how one of two different, unmasked resident ids is a damaged other.

    The level is :func:`resident_level`'s (the same :func:`resident_damage` read).

    Args:
        a: one side's value.
        b: the other side's value.
        legacy: either side was upgraded from 15 digits (its check character is ours).
        invalid: the value of the first side that failed its checks, ``None`` if neither did.

    Returns:
        ``partial`` (same body), ``typo`` (one digit substituted, two adjacent digits swapped,
        or one digit dropped / doubled), ``weak`` (a legacy number one slip off in the
        sequence digits) or ``disagree``.
    """
    damage, i = resident_damage(a, b, legacy=legacy)
    if damage == "body":
        return id_comparison(
            "partial",
            "身份证号前17位一致，校验码不同",
            "same 17-digit ID body, different check character",
        )
    if damage == "digit":
        return _typo(a, b, invalid, f"第{i + 1}位", f"digit {i + 1} differs")
    if damage == "swap":
        return _typo(
            a, b, invalid, f"第{i + 1}、{i + 2}位颠倒", f"digits {i + 1} and {i + 2} swapped"
        )
    if damage == "length":
        return _typo(a, b, invalid, "多或少一位", "one digit dropped or doubled")
    return _not_a_slip(a, b, damage, i)


def _not_a_slip(a: str, b: str, damage: Damage, i: int) -> FieldComparison:
    """The words for two numbers that no slip on a checked number explains."""
    if damage == "sequence":
        return id_comparison(
            "weak",
            f"身份证号仅顺序码第{i + 1}位附近不同（{mask_id(a)} / {mask_id(b)}），一方为15位旧号"
            "无校验码：可能是笔误，也可能是同日同县出生的同名者：弱证据",
            f"ID numbers differ only in the sequence digits from digit {i + 1} "
            f"({mask_id(a)} / {mask_id(b)}), one an old 15-digit number without a check "
            "character: a slip or a namesake born the same day in the same county: weak evidence",
        )
    if damage == "valid_other" or (damage == "none" and _checks(a) and _checks(b)):
        return id_comparison(
            "disagree",
            "身份证号不同，且两个号码均通过校验：应为另一人",
            "ID numbers differ and both pass the checksum: another person",
        )
    return id_comparison("disagree", "身份证号不同", "ID numbers differ")


def _typo(a: str, b: str, invalid: str | None, where_zh: str, where_en: str) -> FieldComparison:
    ml, mr = mask_id(a), mask_id(b)
    if invalid is not None:
        which = mask_id(invalid)
        zh = f"身份证号{where_zh}（{ml} / {mr}），校验码显示{which}有误"
        en = f"ID numbers: {where_en} ({ml} / {mr}); checksum-detected: {which} is invalid"
    else:
        zh = f"身份证号{where_zh}（{ml} / {mr}）"
        en = f"ID numbers: {where_en} ({ml} / {mr})"
    return id_comparison("typo", zh, en)
