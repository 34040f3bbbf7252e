"""Postal addresses: Chinese addresses cut into administrative and street tokens, Latin by words.

A Chinese address is read left to right into province (省 / 自治区 / 北京市...), city
(市 / 州 / 地区 / 盟), district (区 / 县 / 县级市 / 旗), street (街道 / 镇 / 乡), road
(路 / 街 / 巷 / 大道...), number (号) and building (栋 / 单元 / 室); traditional characters are
folded to simplified and full-width digits to ASCII. A missing level is fine; a level present
on both sides must agree.

Worked comparisons (person's address vs the event's):

    person: 海南省海口市美兰区海甸五西路28号
    海口市美兰区海甸五西路28号3栋   exact (same road and number)
    美兰区海甸五西路30号            typo (same road, other number)
    海口市美兰区人民大道58号         partial (same district)
    海口市龙华区滨海大道1号          partial (same city)
    三亚市吉阳区迎宾路1号            disagree

Pinyin or Latin addresses compare by words. ``exact``: the same words; the same house number
with the street alike ("9 tunney crescent" in both: the Latin twin of "same road and number");
or the same letters give or take a few slips (spaces ignored, Indel similarity >= 0.9) with
the same numbers. ``typo``: alike letters, other numbers. ``partial``: half the words shared.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import opencc
from rapidfuzz.distance import Indel

from matchers.frozen import builder
from matchers.levels import FieldComparison, Level
from matchers.masking import as_text, redact_numbers

__all__ = [
    "AddressForms",
    "address_block_keys",
    "address_level",
    "compare_address",
    "normalise_address",
]

_PROVINCE = re.compile(
    r"(北京|天津|上海|重庆)市?|(.{2,3}?)省|(内蒙古|广西|西藏|宁夏|新疆).{0,6}?自治区|(香港|澳门)(?:特别行政区)?"
)
_PROVINCE_BARE = re.compile(r"(海南|广东|广西|福建|湖南|湖北|四川|云南|贵州|浙江|江苏)(?!省)")


def _hanzi_except(chars: str) -> str:
    """A character class: the hanzi U+4E00-U+9FFF less ``chars`` (no lookahead per character)."""
    ranges, start = [], 0x4E00
    for code in sorted(map(ord, set(chars))):
        if start < code:
            ranges.append(f"\\u{start:04x}-\\u{code - 1:04x}")
        start = code + 1
    ranges.append(f"\\u{start:04x}-\\u9fff")
    return "[" + "".join(ranges) + "]"


# A level's name is hanzi only and never runs across a road, number or building word.
_NAME = "(" + _hanzi_except("路街巷道号栋幢室") + "{1,%d}?)"
_CITY = _NAME % 8 + r"(?:市|自治州|地区|盟)(?!场)"
_DISTRICT = _NAME % 10 + r"(?:自治县|区|县|市|旗)(?!域)"
_STREET = _NAME % 10 + r"(?:街道|镇|乡)"
_ROAD = r"([\u4e00-\u9fff\d]{1,12}?(?:大道|大街|路|街|巷|胡同|弄|道))"
_NUMBER = r"(\d+(?:-\d+)?)号(?!楼)"
# After the province, in one match: each level if it follows the one before (the first way it
# does: the rest of the pattern cannot fail), then the first number anywhere after (``.*?``
# finds where ``re.search`` would). A municipality is its own city.
_LEVELS = "(?:{})?" * 3 + "(?:.*?{})?"
_AFTER_PROVINCE = re.compile(
    ("(?:{})?" + _LEVELS).format(_CITY, _DISTRICT, _STREET, _ROAD, _NUMBER), re.DOTALL
)
_AFTER_CITY = re.compile(_LEVELS.format(_DISTRICT, _STREET, _ROAD, _NUMBER), re.DOTALL)
_BUILDING = re.compile(r"(\w{1,4}?)(?:栋|幢|座|号楼)|(\d+)单元|(\d+)(?:室|房)")
_WORD = re.compile(r"[a-z0-9]+")
_HANZI = re.compile(r"[\u4e00-\u9fff]")
_NOISE = re.compile(r"[\s,，。、;；:：()（）\[\]【】\"'“”-]+")


@dataclass(frozen=True, slots=True)
class AddressForms:
    """A normalised address.

    Attributes:
        display: the cleaned address (simplified characters, no spaces).
        valid: something usable was found.
        flags: ``address_empty``, ``address_unparsed`` (Chinese text without any known level).
        latin: written in Latin script (compared by word overlap).
        province: the province core (``海南``), or ``""``.
        city: the city core (``海口``).
        district: the district / county core (``美兰``).
        street: the street / town core (``海甸``).
        road: the road with its suffix (``海甸五西路``).
        number: the house number (``28``).
        building: building / unit / room, joined (``3栋2单元501室``).
        words: the Latin words (or all Chinese levels) for overlap.
    """

    display: str
    valid: bool
    flags: tuple[str, ...] = ()
    latin: bool = False
    province: str = ""
    city: str = ""
    district: str = ""
    street: str = ""
    road: str = ""
    number: str = ""
    building: str = ""
    words: frozenset[str] = frozenset()


_make = builder(AddressForms)  # every field, in order: AddressForms without its frozen __init__


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def normalise_address(raw: object, *, compact: bool = False) -> AddressForms:
    """Normalise an address; never raises.

    Args:
        raw: the address as sent (any type; ``None`` for none).
        compact: the form a watchlist of a million keeps: place names interned, and for a
            Chinese address no ``building`` (shown, never compared) nor ``words`` (read for
            Latin addresses only).

    Returns:
        The parsed forms; see :class:`AddressForms`.
    """
    if raw is None:
        return AddressForms("", valid=False, flags=("address_empty",))
    return _normalise(as_text(raw, 200), compact)


# Addresses rarely repeat across events: a small cache catches re-deliveries and bursts.
@lru_cache(maxsize=8192)
def _normalise(text: str, compact: bool) -> AddressForms:
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        return AddressForms("", valid=False, flags=("address_empty",))
    if not _HANZI.search(text):
        words = frozenset(_WORD.findall(_fold_latin(text)))
        flags = () if words else ("address_empty",)
        return AddressForms(
            " ".join(text.split()), valid=bool(words), flags=flags, latin=True, words=words
        )
    text = _NOISE.sub("", str(_t2s().convert(text)))
    parts, end = _cut(text)
    flags = () if any(parts) else ("address_unparsed",)
    province, city, district, street, road, number = parts
    if compact:
        intern = sys.intern
        return _make(
            text,
            True,
            flags,
            False,
            intern(province),
            intern(city),
            intern(district),
            intern(street),
            intern(road),
            number,
            "",
            frozenset(),
        )
    return _make(
        text,
        True,
        flags,
        False,
        province,
        city,
        district,
        street,
        road,
        number,
        "".join(m.group(0) for m in _BUILDING.finditer(text, end)),
        frozenset(v for v in parts if v) or frozenset({text}),
    )


def _fold_latin(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _cut(text: str) -> tuple[list[str], int]:
    """Province, city, district, street, road and number, and where the rest begins."""
    province = city = ""
    end = 0
    match = _PROVINCE.match(text) or _PROVINCE_BARE.match(text)
    if match:
        province = next(g for g in match.groups() if g)
        city = match.group(1) or ""  # a municipality is its own city
        end = match.end()
    if city:
        levels = _AFTER_CITY.match(text, end)
        assert levels is not None  # every part of the pattern is optional
        district, street, road, number = levels.groups("")
    else:
        levels = _AFTER_PROVINCE.match(text, end)
        assert levels is not None
        city, district, street, road, number = levels.groups("")
    return [province, city, district, street, road, number], levels.end()


def _cmp(level: Level, zh: str, en: str, key: str = "") -> FieldComparison:
    return FieldComparison("address", level, zh, en, key)


_RANK: dict[str, int] = {"exact": 0, "typo": 1, "partial": 2, "disagree": 3, "missing": 4}


def compare_address(
    person: Sequence[AddressForms] | AddressForms, event: AddressForms
) -> FieldComparison:
    """Compare a person's known address(es) with an event's address; the best agreement wins.

    Args:
        person: one address or the person's list of addresses.
        event: the event's address.

    Returns:
        ``exact`` (same road and number), ``typo`` (same road, other number), ``partial`` (same
        district or same city), ``disagree`` or ``missing``.
    """
    known = [person] if isinstance(person, AddressForms) else list(person)
    results = [_compare_one(p, event) for p in known if p.valid]
    if not results or not event.valid:
        return _cmp("missing", "地址缺失", "address missing")
    return min(results, key=lambda c: _RANK[c.level])


def address_level(
    person: Sequence[AddressForms] | AddressForms, event: AddressForms
) -> tuple[Level, str]:
    """:func:`compare_address`'s level and value key without its words (the matcher's fast path).

    Most compared pairs never become leads; redacting and quoting both addresses for them
    would be wasted. Same rules (``_chinese_level``, ``_compare_words``) and the same winner.
    """
    if not event.valid:
        return "missing", ""
    best: Level = "missing"
    key = ""
    found = False
    for p in (person,) if isinstance(person, AddressForms) else person:
        if not p.valid:
            continue
        if p.latin or event.latin:
            level, level_key = _compare_words(p, event).level, ""
        else:
            level = _chinese_level(p, event)[0]
            level_key = _address_key(p) if level == "exact" else ""
        if not found or _RANK[level] < _RANK[best]:
            best, key, found = level, level_key, True
    return best, key


def _compare_one(p: AddressForms, e: AddressForms) -> FieldComparison:
    if p.latin or e.latin:
        return _compare_words(p, e)
    a, b = redact_numbers(p.display), redact_numbers(e.display)
    level, zh, en = _chinese_level(p, e)
    key = _address_key(p) if level == "exact" else ""
    return _cmp(level, f"{zh}：{a} / {b}", f"{en}: {a} / {b}", key)


def _chinese_level(p: AddressForms, e: AddressForms) -> tuple[Level, str, str]:
    if p.display == e.display:
        return "exact", "地址一致", "same address"
    if _differ(p, e, "province") or _differ(p, e, "city"):
        return "disagree", "地址不同", "addresses differ"
    house = _same_road(p, e)
    if house:
        return house
    if p.district and p.district == e.district:
        return "partial", f"同一区县（{p.district}）", f"same district ({p.district})"
    if p.city and p.city == e.city:
        return "partial", f"同一城市（{p.city}）", f"same city ({p.city})"
    return "disagree", "地址不同", "addresses differ"


def _same_road(p: AddressForms, e: AddressForms) -> tuple[Level, str, str] | None:
    same_place = not _differ(p, e, "district") and not _differ(p, e, "street")
    if not (same_place and p.road and p.road == e.road):
        return None
    if p.number and p.number == e.number:
        return "exact", "同一门牌", "same road and number"
    if p.number and e.number:
        return "typo", "同一道路，门牌号不同", "same road, other number"
    return "partial", f"同一道路（{p.road}）", f"same road ({p.road})"


def _differ(p: AddressForms, e: AddressForms, level: str) -> bool:
    x, y = getattr(p, level), getattr(e, level)
    return bool(x and y and x != y and not x.endswith(y) and not y.endswith(x))


def _compare_words(p: AddressForms, e: AddressForms) -> FieldComparison:
    a, b = redact_numbers(p.display), redact_numbers(e.display)
    if p.latin != e.latin:
        return _cmp("missing", "地址书写方式不同，无法比较", "addresses in different scripts")
    level, zh, en = _words_level(p, e)
    return _cmp(level, f"{zh}：{a} / {b}", f"{en}: {a} / {b}")


def _words_level(p: AddressForms, e: AddressForms) -> tuple[Level, str, str]:
    shared = len(p.words & e.words)
    union = len(p.words | e.words) or 1
    if shared == union:
        return "exact", "地址一致", "same address words"
    if _same_house(p.display, e.display):
        return "exact", "同一门牌", "same house number and street"
    if _letters_alike(p.display, e.display):
        if _numbers(p.words) == _numbers(e.words):  # same house and postcode, words mistyped
            return "exact", "地址一致（拼写略有出入）", "same address, spelled alike"
        return "typo", "地址拼写相近，号码不同", "addresses alike, other numbers"
    if shared / union >= 0.5:
        return "partial", "地址大部分相同", "addresses mostly agree"
    return "disagree", "地址不同", "addresses differ"


# Share of letters two Latin addresses keep in common (Indel similarity, spaces and punctuation
# ignored) for a typo: "9 mearesoplace, tuar thill" is "9 meares place, tuart hill" mistyped.
_ALIKE = 0.9


def _letters_alike(a: str, b: str) -> bool:
    x = "".join(_WORD.findall(_fold_latin(a)))
    y = "".join(_WORD.findall(_fold_latin(b)))
    return bool(x and y) and Indel.normalized_similarity(x, y) >= _ALIKE


# Street names alike enough to be one street mistyped ("verbrugghen street" /
# "verbrugghens treet"): Indel similarity of the letters, spaces ignored.
_STREET_ALIKE = 0.85


def _house(display: str) -> tuple[str, str] | None:
    """(house number, street letters) of the first part that starts with a number.

    ``("9", "tunneycrescent")`` for "9 tunney crescent, argyle, toorak, 5031 vic".
    """
    for part in _fold_latin(display).split(","):
        words = _WORD.findall(part)
        if len(words) > 1 and words[0].isdigit():
            street = "".join(w for w in words[1:] if not w.isdigit())
            return (words[0], street) if street else None
    return None


def _same_house(a: str, b: str) -> bool:
    """The Latin twin of "same road and number": same house number, street alike."""
    x, y = _house(a), _house(b)
    return bool(
        x and y and x[0] == y[0] and Indel.normalized_similarity(x[1], y[1]) >= _STREET_ALIKE
    )


def _numbers(words: frozenset[str]) -> frozenset[str]:
    return frozenset(w for w in words if w.isdigit())


def _address_key(forms: AddressForms) -> str:
    if forms.road and forms.number:
        return redact_numbers(f"{forms.district or forms.city}|{forms.road}{forms.number}")
    return redact_numbers(forms.display)


def address_block_keys(forms: AddressForms) -> frozenset[str]:
    """Keys for the blocking index: ``adr:<road><number>`` when both are known (Latin: below).

    Districts alone would make blocks of whole towns, so only a house-level key is given.

    Args:
        forms: a normalised address.

    Returns:
        Zero or one key.
    """
    if not forms.valid:
        return frozenset()
    if forms.latin:
        return _latin_block_keys(forms.display)
    if not (forms.road and forms.number):
        return frozenset()
    return frozenset({f"adr:{forms.road}{forms.number}"})


def _latin_block_keys(display: str) -> frozenset[str]:
    """Pairs of house number, first street word and postcode of a Latin address.

    ``adr:<house>|<street word>``, ``adr:<house>|<postcode>`` and ``adr:<street word>|<postcode>``:
    any one survives a slip in the third part, as in FEBRL's "9 mearesoplace ... 6008" for
    "9 meares place ... 6008", or a house number left out.
    """
    parts = [_WORD.findall(p) for p in _fold_latin(display).split(",")]
    parts = [p for p in parts if p]
    if not parts:
        return frozenset()
    first = parts[0]
    house = first[0] if first[0].isdigit() else ""
    if house and len(first) == 1 and len(parts) > 2:  # "7, canberra hse, ...": street next
        first = parts[1]
    street = next((w for w in first if not w.isdigit() and len(w) > 2), "")
    tail = [w for w in parts[-1] if w.isdigit()] if len(parts) > 1 else []
    postcode = tail[-1] if tail else ""
    pairs = ((house, street), (house, postcode), (street, postcode))
    return frozenset(f"adr:{a}|{b}" for a, b in pairs if a and b)
