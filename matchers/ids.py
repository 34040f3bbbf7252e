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
damaged resident id differs from another is classified in :mod:`matchers.id_damage`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sys
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from rapidfuzz.distance import OSA

from matchers.frozen import builder
from matchers.id_damage import (
    MIN_VISIBLE,
    compare_masked,
    compare_resident,
    id_comparison,
    masked_level,
    resident_level,
)
from matchers.levels import FieldComparison, Level
from matchers.masking import as_text, mask_id

__all__ = [
    "IdForms",
    "IdType",
    "check_char",
    "compare_id",
    "id_block_keys",
    "id_level",
    "normalise_id",
]

IdType = Literal["cn_resident", "passport", "other"]
Gender = Literal["M", "F"]

_CHECK = "10X98765432"
# The common shape: 18 ASCII characters that cleaning (NFKC, separators, upper case) leaves as
# they are, but for a lower-case check character x.
_PLAIN_18 = re.compile(r"[0-9]{17}[0-9Xx]")
_PROBLEMS = {
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
_SEPARATORS = frozenset(" -_.,/\\|:;'\"\t\r\n\u3000\u00a0\u2010\u2011\u2012\u2013\u2014\u2212")
_DELETE = dict.fromkeys(map(ord, _SEPARATORS))
_TO_STAR = dict.fromkeys(map(ord, "×•●·#?"), "*")
# Visible prefix/suffix lengths under which a person is filed so that masked events find it.
_MASK_PATTERNS = ((6, 4), (4, 4), (3, 4))
_PROVINCES = {
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

    @property
    def body(self) -> str:
        """The first 17 characters of a full resident id (``""`` otherwise).

        Computed, not stored: a million watchlist ids would carry a million copies.
        """
        if self.id_type != "cn_resident" or self.masked or not self.comparable:
            return ""
        return self.value[:17] if len(self.value) == 18 else ""


def check_char(body17: str) -> str:
    """Compute the ISO 7064 MOD 11-2 check character of a 17-digit body.

    Args:
        body17: exactly 17 ASCII digits.

    Returns:
        ``0``-``9`` or ``X``.
    """
    # The weights are 2**17 ... 2**1 mod 11, and 13 is 2 mod 11: the weighted sum is, mod 11,
    # twice the body read as a base-13 number (one C call instead of 17 multiplications).
    return _CHECK[2 * int(body17[:17], 13) % 11]


def _clean(raw: object) -> str:
    text = as_text(raw, 64)
    if text.isascii() and text.replace("*", "").isalnum():
        return text.upper()  # no separator to drop, nothing for NFKC to fold
    return unicodedata.normalize("NFKC", text).translate(_DELETE).upper()


# Birth dates repeat (about 40,000 real ones). The string is interned, as dates.py interns a
# date's value, so that an id and its birth date share one (matchers.compact). A per-value
# cache: named "_normalise..." so that the speed benchmark empties it between runs.
@lru_cache(maxsize=65536)
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
    if kind == "cn_resident" and type(raw) is str and len(raw) == 18 and _PLAIN_18.match(raw):
        return _full(raw if raw[17] != "x" else raw.upper(), ())
    return _normalise(_clean(raw), kind)


# Numbers rarely repeat across events: a small cache catches re-deliveries and bursts.
@lru_cache(maxsize=8192)
def _normalise(text: str, kind: IdType) -> IdForms:
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


_make = builder(IdForms)  # every field, in order: IdForms without its frozen __init__


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
    # Fewer than 8 visible characters (a region code and little else) identify nobody.
    wide = len(chars) - chars.count("*") < MIN_VISIBLE
    flags: tuple[str, ...] = (
        "id_masked",
        *(() if shape_ok else ("id_wrong_length",)),
        *(("id_mask_too_wide",) if wide else ()),
    )
    if not shape_ok or wide:
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


def _key(value: str) -> str:
    # Ids are unique, so term frequencies are moot; a digest keeps numbers out of lead documents.
    return "id#" + hashlib.blake2b(value.encode(), digest_size=8).hexdigest()


def compare_id(left: IdForms, right: IdForms) -> FieldComparison:
    """Compare two identity numbers and say how they differ; symmetric in level.

    Args:
        left: one side (usually the watchlist person).
        right: the other side (usually the event).

    Returns:
        ``exact``, ``typo`` (one digit substituted, two adjacent digits swapped, or one digit
        dropped / doubled), ``partial`` (same body with another check character, or masked with
        the visible digits agreeing), ``disagree`` or ``missing``.
    """
    if not (left.comparable and right.comparable):
        return id_comparison("missing", "证件号缺失或无法比较", "ID number missing or unusable")
    if left.id_type != right.id_type:
        return _compare_types(left, right)
    if left.masked or right.masked:  # even two equal masked numbers may hide different digits
        return compare_masked(left.value, right.value, shown=(left if left.masked else right).value)
    if left.value == right.value:
        m = mask_id(left.value)
        return id_comparison(
            "exact", f"证件号一致（{m}）", f"ID number identical ({m})", _key(left.value)
        )
    if left.id_type != "cn_resident":
        return _compare_plain(left, right)
    legacy = "id_legacy_15" in left.flags or "id_legacy_15" in right.flags
    invalid = next((f.value for f in (left, right) if not f.valid), None)
    return compare_resident(left.value, right.value, legacy=legacy, invalid=invalid)


def id_level(left: IdForms, right: IdForms) -> tuple[Level, str]:
    """:func:`compare_id`'s level and value key without its details (the matcher's fast path).

    Most compared pairs never become leads; their masked, readable details are built only for
    the pairs that do. Same rules as :func:`compare_id`, in the same order.

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
        return "exact", _key(a)
    if left.id_type != "cn_resident":
        return ("typo" if OSA.distance(a, b) == 1 else "disagree"), ""
    legacy = "id_legacy_15" in left.flags or "id_legacy_15" in right.flags
    return resident_level(a, b, legacy=legacy), ""


def _compare_types(left: IdForms, right: IdForms) -> FieldComparison:
    if left.value == right.value:
        m = mask_id(left.value)
        zh, en = f"证件号一致（{m}，证件类型不同）", f"ID numbers identical ({m}; types differ)"
        return id_comparison("exact", zh, en, _key(left.value))
    return id_comparison("missing", "证件类型不同，无法比较", "ID types differ; not compared")


def _compare_plain(left: IdForms, right: IdForms) -> FieldComparison:
    if OSA.distance(left.value, right.value) == 1:
        ml, mr = mask_id(left.value), mask_id(right.value)
        return id_comparison(
            "typo",
            f"证件号相差一个字符（{ml} / {mr}）",
            f"ID numbers differ by one character ({ml} / {mr})",
        )
    return id_comparison("disagree", "证件号不同", "ID numbers differ")


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
