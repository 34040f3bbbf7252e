"""Identity numbers: the Chinese resident id (GB 11643) and plain passport / other numbers.

A resident id is 6 region digits, 8 birth-date digits, 3 sequence digits (odd = male) and an
ISO 7064 MOD 11-2 check character. The check character is what validates a number; the region is
read out but never a reason to reject one (new districts such as 460108 are missing from many
tables). Legacy 15-digit numbers are upgraded to 18 digits.

Worked comparisons:

    460105199001017129 vs 460105199001017129   exact
    460105199001017129 vs 460105199001017139   typo (one digit, checksum-detected)
    460105199001017129 vs 460105199001011729   typo (adjacent digits swapped)
    460105199001017129 vs 46010519900101712X   partial (same 17-digit body, other check char)
    460105199001017129 vs 460105********7129   partial (masked, visible digits agree)
    460105199001017129 vs 110101198502021234   disagree

``IdForms.valid`` is strict (a checksum failure makes it ``False``); ``IdForms.comparable`` says
whether the number still has a shape worth comparing, since a one-digit typo always fails the
checksum. ``compare_id`` returns ``missing`` by itself when either side is not comparable; how a
damaged resident id differs from another is classified in :mod:`matchers.fields.id_damage`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sys
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Final, Literal

from rapidfuzz.distance import OSA

from matchers.fields.cache_sizes import CACHE_SIZES
from matchers.fields.id_damage import (
    MIN_TAIL,
    MIN_VISIBLE,
    check_char,
    id_comparison,
    masked_level,
    masked_words,
    resident_level,
    resident_words,
)
from matchers.fields.masking import as_text, mask_id
from matchers.frozen import builder
from matchers.levels import FieldComparison, Level

__all__ = [
    "CHECKED_ID_KEY",
    "IdForms",
    "IdType",
    "check_char",
    "compare_id",
    "id_block_keys",
    "id_level",
    "id_words",
    "normalise_id",
]

IdType = Literal["cn_resident", "passport", "other"]
# The value-key prefix of an exact agreement of two checksum-valid resident ids.
CHECKED_ID_KEY = "idv#"
Gender = Literal["M", "F"]

# The common shape: 18 ASCII characters that cleaning (NFKC, separators, upper case) leaves as
# they are, but for a lower-case check character x.
_PLAIN_18: Final = re.compile(r"[0-9]{17}[0-9Xx]")
_PROBLEMS: Final = {
    (checksum, date, region): tuple(
        flag
        for flag, on in (
            ("id_checksum_failed", checksum),
            ("id_birth_date_impossible", date),
            ("id_region_unknown", region),
        )
        if on
    )
    for checksum in (False, True)
    for date in (False, True)
    for region in (False, True)
}
_SEPARATORS: Final = frozenset(
    " -_.,/\\|:;'\"\t\r\n\u3000\u00a0\u2010\u2011\u2012\u2013\u2014\u2212"
)
_DELETE: Final = dict.fromkeys(map(ord, _SEPARATORS))
_TO_STAR: Final = dict.fromkeys(map(ord, "×•●·#?"), "*")
# Letters read or typed for digits (upper case, after cleaning): O/Q/D for 0, I/L for 1, Z for
# 2, S for 5, G for 6, B for 8.
_OCR_DIGITS: Final = str.maketrans("OQDILZSGB", "000112568")
# Visible prefix/suffix lengths under which a person is filed so that masked events find it.
_MASK_PATTERNS: Final = ((6, 4), (4, 4), (3, 4))
_PROVINCES: Final = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古", "21": "辽宁",
    "22": "吉林", "23": "黑龙江", "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽",
    "35": "福建", "36": "江西", "37": "山东", "41": "河南", "42": "湖北", "43": "湖南",
    "44": "广东", "45": "广西", "46": "海南", "50": "重庆", "51": "四川", "52": "贵州",
    "53": "云南", "54": "西藏", "61": "陕西", "62": "甘肃", "63": "青海", "64": "宁夏",
    "65": "新疆", "71": "台湾", "81": "香港", "82": "澳门", "83": "台湾",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class IdForms:
    """A normalised identity number.

    Attributes:
        id_type: ``cn_resident``, ``passport`` or ``other``.
        value: the normalised number (18 characters for a resident id, upper-case ``X``; masked
            positions as ``*``); ``""`` when nothing usable was given.
        valid: the number passed every check (length, characters, check character, date).
        comparable: the number has a shape worth comparing even if not valid (e.g. a typo).
        flags: machine words saying what was wrong or special.
        masked: the sender hid some digits.
        birth_date: the embedded birth date ``YYYY-MM-DD`` when readable and possible.
        gender: the embedded gender when readable.
        region: the 6-digit region code when visible.
        province: the 2-digit province prefix when visible.
    """

    id_type: IdType
    value: str
    valid: bool
    comparable: bool
    flags: tuple[str, ...] = ()
    masked: bool = False
    birth_date: str = ""
    gender: Gender | None = None
    region: str = ""
    province: str = ""

    # Written out, not generated by dataclass, so that the compiled build constructs natively
    # (matchers.frozen); tests/unit/matchers/test_frozen.py holds it to the fields above.
    def __init__(  # noqa: PLR0917 - positional, as the generated one is
        self,
        id_type: IdType,
        value: str,
        valid: bool,
        comparable: bool,
        flags: tuple[str, ...] = (),
        masked: bool = False,
        birth_date: str = "",
        gender: Gender | None = None,
        region: str = "",
        province: str = "",
    ) -> None:
        object.__setattr__(self, "id_type", id_type)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "valid", valid)
        object.__setattr__(self, "comparable", comparable)
        object.__setattr__(self, "flags", flags)
        object.__setattr__(self, "masked", masked)
        object.__setattr__(self, "birth_date", birth_date)
        object.__setattr__(self, "gender", gender)
        object.__setattr__(self, "region", region)
        object.__setattr__(self, "province", province)

    @property
    def body(self) -> str:
        """The first 17 characters of a full resident id (``""`` otherwise).

        Computed, not stored: a million watchlist ids would carry a million copies.
        """
        if self.id_type != "cn_resident" or self.masked or not self.comparable:
            return ""
        return self.value[:17] if len(self.value) == 18 else ""


def _clean(raw: object) -> str:
    # Full-width digits (NFKC folds them) and separators between the region, date and
    # sequence parts (dropped) are repaired here, as before any reading of the number.
    text = as_text(raw, 64)
    if text.isascii() and text.replace("*", "").isalnum():
        return text.upper()  # no separator to drop, nothing for NFKC to fold
    return unicodedata.normalize("NFKC", text).translate(_DELETE).upper()


def _ocr_repaired(chars: str) -> str:
    """``chars`` with letters OCR and clerks write for digits read back as digits.

    Only a number of resident-id length is repaired, and the check position keeps its ``X``:
    ``4601O5199001O1712X`` becomes ``460105199001017129``'s shape again.
    """
    if len(chars) not in {15, 18} or not chars.isalnum() or not chars.isascii():
        return chars
    body, last = (chars[:17], chars[17]) if len(chars) == 18 else (chars, "")
    repaired = body.translate(_OCR_DIGITS) + (last if last == "X" else last.translate(_OCR_DIGITS))
    return repaired if repaired.isdigit() or repaired[:-1].isdigit() else chars


# Birth dates repeat (about 40,000 real ones). The string is interned, as dates.py interns a
# date's value, so that an id and its birth date share one (matchers.fields.compact). A per-value
# cache: named "_normalise..." so that the speed benchmark empties it between runs.
@lru_cache(maxsize=CACHE_SIZES["id_embedded_date"])
def _normalise_embedded_date(yyyymmdd: str) -> str:
    if not yyyymmdd.isdigit() or not yyyymmdd.isascii():
        return ""
    try:
        day = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return ""
    return sys.intern(day.isoformat()) if day.year >= 1800 else ""


def normalise_id(raw: object, id_type: str | None = "cn_resident") -> IdForms:
    """Normalise an identity number of the given type; never raises.

    Args:
        raw: the number as sent (any type; ``None`` for none).
        id_type: ``cn_resident`` (default, also for ``None``), ``passport`` or anything else
            (treated as ``other``).

    Returns:
        The parsed forms; see :class:`IdForms`.
    """
    kind: IdType = (
        "cn_resident"
        if id_type in (None, "", "cn_resident")
        else "passport"
        if id_type == "passport"
        else "other"
    )
    if type(raw) is str:
        return _normalise(raw, kind)
    return _read(_clean(raw), kind)  # not a string: rare, and not a key a cache could hold


# The id normaliser's one cache, keyed by the number as sent, so that the common plain number
# is cached too (its size and why: matchers.fields.cache_sizes).
@lru_cache(maxsize=CACHE_SIZES["id"])
def _normalise(raw: str, kind: IdType) -> IdForms:
    if kind == "cn_resident" and len(raw) == 18 and _PLAIN_18.match(raw):
        return _full(raw if raw[17] != "x" else raw.upper(), ())
    return _read(_clean(raw), kind)


def _read(text: str, kind: IdType) -> IdForms:
    if not text:
        return IdForms(kind, "", valid=False, comparable=False, flags=("id_empty",))
    if kind != "cn_resident":
        ok = text.isascii() and text.isalnum()
        flags = () if ok else ("id_bad_chars",)
        return IdForms(kind, text, valid=ok, comparable=ok, flags=flags)
    return _resident(text)


def _resident(text: str) -> IdForms:
    ascii_stars = text.isascii() and "#" not in text and "?" not in text
    chars = text if ascii_stars else text.translate(_TO_STAR)
    if len(chars) == 18 and "X" in chars[:17] and chars[:17].count("X") >= 3:
        chars = chars[:17].replace("X", "*") + chars[17]  # 'X' used as a mask character
    if "*" in chars:
        return _masked(chars)
    repaired = _ocr_repaired(chars)
    if repaired != chars:
        forms = _resident(repaired)
        return replace(forms, flags=(*forms.flags, "id_ocr_letters")) if forms.comparable else forms
    if (
        not chars.isascii()
        or not chars[:-1].isdigit()
        or not (chars[-1].isdigit() or chars[-1] == "X")
    ):
        return IdForms("cn_resident", chars, valid=False, comparable=False, flags=("id_bad_chars",))
    if len(chars) == 15 and chars.isdigit():
        body = chars[:6] + "19" + chars[6:]
        return _full(body + check_char(body), ("id_legacy_15",))
    if len(chars) != 18:
        # Kept comparable when it is one digit off in length: a dropped or doubled digit.
        near = 17 <= len(chars) <= 19
        return IdForms(
            "cn_resident", chars, valid=False, comparable=near, flags=("id_wrong_length",)
        )
    return _full(chars, ())


_make: Final = builder(IdForms)  # every field, in order: IdForms without its frozen __init__


def _full(value: str, flags: tuple[str, ...]) -> IdForms:
    """An 18-character number of 17 ASCII digits and a digit or ``X``."""
    bad_check = check_char(value) != value[17]  # check_char reads the first 17 characters
    birth = _normalise_embedded_date(value[6:14])
    province = value[:2]
    return _make(
        "cn_resident",
        value,
        not bad_check and bool(birth),
        True,
        flags + _PROBLEMS[bad_check, not birth, province not in _PROVINCES],
        False,
        birth,
        "M" if ord(value[16]) & 1 else "F",  # the sequence number's parity (ord('0') is even)
        sys.intern(value[:6]),  # a million watchlist ids share a few hundred regions
        sys.intern(province),
    )


def _masked(chars: str) -> IdForms:
    head = chars[: len(chars) - len(chars.lstrip("0123456789"))]
    tail = chars[len(chars.rstrip("0123456789X")) :]
    if (
        len(chars) != 18
        and len(head) + len(tail) < 18
        and not chars[len(head) : -len(tail) or None].strip("*")
    ):
        # One run of stars of another length (460105****7129): stretch it to 18 characters.
        chars = head + "*" * (18 - len(head) - len(tail)) + tail
    rest = chars.replace("*", "").replace("X", "")
    shape_ok = len(chars) == 18 and (not rest or rest.isdigit())  # digits, * and X only
    # Fewer than 8 visible characters (a region code and little else) identify nobody; the
    # last characters alone (****************29) are compared, as weak evidence (id_damage).
    wide = len(chars) - chars.count("*") < MIN_VISIBLE
    tail_only = wide and len(tail) >= MIN_TAIL and len(chars) == 18
    flags: tuple[str, ...] = (
        "id_masked",
        *(() if shape_ok else ("id_wrong_length",)),
        *(("id_masked_tail",) if tail_only else ("id_mask_too_wide",) if wide else ()),
    )
    if not shape_ok or (wide and not tail_only):
        return IdForms(
            "cn_resident", chars, valid=False, comparable=False, flags=flags, masked=True
        )
    date = _normalise_embedded_date(chars[6:14]) if "*" not in chars[6:14] else ""
    gender: Gender | None = None
    if chars[16].isdigit():
        gender = "M" if int(chars[16]) % 2 else "F"
    region = sys.intern(chars[:6]) if "*" not in chars[:6] else ""
    province = sys.intern(chars[:2]) if "*" not in chars[:2] else ""
    return IdForms(
        "cn_resident",
        chars,
        valid=False,
        comparable=True,
        flags=flags,
        masked=True,
        birth_date=date,
        gender=gender,
        region=region,
        province=province,
    )


def _key(value: str, *, checked: bool = False) -> str:
    # Ids are unique, so term frequencies are moot; a digest keeps numbers out of lead documents.
    # The prefix says whether the number passed its check (matchers.scoring.gate.anchored_by_id).
    prefix = CHECKED_ID_KEY if checked else "id#"
    return prefix + hashlib.blake2b(value.encode(), digest_size=8).hexdigest()


def compare_id(left: IdForms, right: IdForms) -> FieldComparison:
    """Compare two identity numbers and say how they differ; symmetric in level.

    Args:
        left: one side (usually the watchlist person).
        right: the other side (usually the event).

    Returns:
        ``exact``, ``typo`` (one digit substituted, two adjacent digits swapped, or one digit
        dropped / doubled), ``partial`` (same body with another check character, or masked with
        the visible digits agreeing), ``disagree`` or ``missing``: :func:`id_level` in words.
    """
    return id_words(left, right, *id_level(left, right))


def id_words(left: IdForms, right: IdForms, level: Level, key: str) -> FieldComparison:
    """The words for two ids compared at ``level`` (:func:`id_level`): it decides nothing.

    Args:
        left: one side (usually the watchlist person).
        right: the other side (usually the event).
        level: their level.
        key: their value key.
    """
    if level == "missing" and not (left.comparable and right.comparable):
        return id_comparison(level, "证件号缺失或无法比较", "ID number missing or unusable")
    if left.id_type != right.id_type:
        return _types_words(left, level, key)
    if left.masked or right.masked:  # even two equal masked numbers may hide different digits
        return masked_words(left.value, right.value, level, shown=_shown(left, right))
    if level == "exact":
        return _exact(left, right, key)
    if left.id_type != "cn_resident":
        return _plain_words(left, right, level)
    invalid = next((f.value for f in (left, right) if not f.valid), None)
    legacy = "id_legacy_15" in left.flags or "id_legacy_15" in right.flags
    return resident_words(left.value, right.value, legacy=legacy, invalid=invalid)


def _shown(left: IdForms, right: IdForms) -> str:
    return (left if left.masked else right).value


def id_level(left: IdForms, right: IdForms) -> tuple[Level, str]:
    """The level and value key of two identity numbers: the id rules, without words.

    Most compared pairs never become leads; their masked, readable words are built only for
    the pairs that do (:func:`id_words`).

    Args:
        left: one side (usually the watchlist person).
        right: the other side (usually the event).

    Returns:
        ``(level, value_key)``.
    """
    if not (left.comparable and right.comparable):
        return "missing", ""
    a, b = left.value, right.value
    if left.id_type != right.id_type:
        return ("exact", _key(a)) if a == b else ("missing", "")
    if left.masked or right.masked:
        return masked_level(a, b), ""
    if a == b:
        return "exact", _key(
            a, checked=left.valid and right.valid and left.id_type == "cn_resident"
        )
    if left.id_type != "cn_resident":
        return ("typo" if OSA.distance(a, b) == 1 else "disagree"), ""
    legacy = "id_legacy_15" in left.flags or "id_legacy_15" in right.flags
    return resident_level(a, b, legacy=legacy), ""


def _exact(left: IdForms, right: IdForms, key: str) -> FieldComparison:
    m = mask_id(left.value)
    read = next((f.flags for f in (left, right) if "id_ocr_letters" in f.flags), ())
    if read:  # say it: an officer should know the number was read back from letters
        zh = f"证件号一致（{m}；字母按数字读取，如O为0、I/l为1、B为8）"
        en = f"ID number identical ({m}; read with letters for digits, e.g. O for 0, I/l for 1)"
        return id_comparison("exact", zh, en, key)
    return id_comparison("exact", f"证件号一致（{m}）", f"ID number identical ({m})", key)


def _types_words(left: IdForms, level: Level, key: str) -> FieldComparison:
    if level == "exact":
        m = mask_id(left.value)
        zh, en = f"证件号一致（{m}，证件类型不同）", f"ID numbers identical ({m}; types differ)"
        return id_comparison("exact", zh, en, key)
    return id_comparison(level, "证件类型不同，无法比较", "ID types differ; not compared")


def _plain_words(left: IdForms, right: IdForms, level: Level) -> FieldComparison:
    if level == "typo":
        ml, mr = mask_id(left.value), mask_id(right.value)
        return id_comparison(
            "typo",
            f"证件号相差一个字符（{ml} / {mr}）",
            f"ID numbers differ by one character ({ml} / {mr})",
        )
    return id_comparison(level, "证件号不同", "ID numbers differ")


def id_block_keys(forms: IdForms) -> frozenset[str]:
    """Keys under which the blocking index files a person or looks up an event.

    ``id:<value>`` and ``idbody:<17 digits>`` for full numbers, ``bdg:<YYYYMMDD><M|F>`` from the
    embedded birth date and gender, and ``idm<h>-<t>:<prefix>|<suffix>`` for masked numbers (a
    full number is filed under every common mask pattern so that a masked event finds it).

    Args:
        forms: a normalised id.

    Returns:
        The keys; empty when nothing usable is present.
    """
    if not forms.comparable or not forms.value:
        return frozenset()
    if forms.id_type != "cn_resident":
        return frozenset({f"id:{forms.id_type}:{forms.value}"})
    keys: set[str] = set()
    v = forms.value
    if forms.birth_date and forms.gender:
        keys.add(f"bdg:{forms.birth_date.replace('-', '')}{forms.gender}")
    if forms.masked:
        head = len(v) - len(v.lstrip("0123456789"))
        tail = len(v) - len(v.rstrip("0123456789X"))
        # Only the most specific pattern the event shows: the person is filed under all of them.
        for h, t in _MASK_PATTERNS:
            if head >= h and tail >= t:
                keys.add(f"idm{h}-{t}:{v[:h]}|{v[18 - t :]}")
                break
        return frozenset(keys)
    if len(v) == 18:
        keys.add(f"id:{v}")
        keys.add(f"idbody:{v[:17]}")
        keys.update(f"idm{h}-{t}:{v[:h]}|{v[18 - t :]}" for h, t in _MASK_PATTERNS)
    return frozenset(keys)
