"""Personal names in hanzi (simplified or traditional), pinyin in any order, or any Latin script.

Every name becomes a set of *parses*: surname-first readings, toneless, each a surname and the
given-name syllables. Hanzi names get every reading of a polyphone surname (单 shan/dan/chan,
曾 zeng/ceng, 区 ou/qu...) and a few readings of each given-name character; romanised names get
their order as written and with the last word moved to the front (``WEI ZHANG``); joined pinyin
is cut into syllables (``Zhangwei`` -> zhang wei).

Worked comparisons:

    张伟 vs 張偉            exact    (same simplified characters)
    ZHANG WEI vs Wei Zhang   exact    (same syllables, surname last)
    张伟 vs 张玮            sound    (homophones: weaker than identical characters)
    单伟 vs SHAN WEI         sound    (bank romanisation of the surname reading)
    张德斌 vs 张德武          typo     (one character differs, not a homophone)
    ZHANG WEI vs ZHANG WIE   typo     (one edit in the joined pinyin)
    张德斌 vs 张德华          typo     (three characters, one differs; siblings look like this too)
    张伟 vs 李伟            partial  (same given name, other surname)
    ZHANG DEBIN vs ZHANG D B partial  (initials)
    张伟 vs 王芳            disagree

Characters are compared as characters and sounds, never with Jaro-Winkler (badly calibrated on
two or three characters); rapidfuzz only measures edits on romanised strings.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pypinyin import Style, lazy_pinyin
from rapidfuzz.distance import OSA, JaroWinkler

from matchers.frozen import builder
from matchers.levels import FieldComparison, Level
from matchers.masking import as_text, redact_numbers
from matchers.pinyin import (
    given_readings,
    segment_pinyin,
    simplified,
    split_surname,
    surname_readings,
)
from matchers.readings import NameParse, name_parse, partial_agreement, roman_parses, unumlaut

__all__ = [
    "NameForms",
    "Script",
    "compare_name",
    "compare_name_sets",
    "name_block_keys",
    "normalise_name",
    "segment_pinyin",
]

Script = Literal["hanzi", "pinyin", "latin", "empty"]

_HANZI_CLASS = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]"
_HANZI = re.compile(_HANZI_CLASS)
_ONLY_HANZI = re.compile(_HANZI_CLASS + "+")
# Letters of any script: Latin mostly, but a Cyrillic or kana name still compares word by word.
_WORD = re.compile(r"[^\W\d_]+")
_MAX_LEN = 64
_MAX_PARSES = 16


@dataclass(frozen=True, slots=True)
class NameForms:
    """A normalised personal name.

    Attributes:
        display: the cleaned name for details (simplified hanzi, or the romanised name).
        script: ``hanzi``, ``pinyin``, ``latin`` or ``empty``.
        valid: something usable was found.
        flags: ``name_empty``, ``name_no_letters``, ``name_too_long``, ``name_mixed_script``.
        hanzi: the simplified characters without spaces or dots (``""`` when not hanzi).
        surname_hanzi: the detected surname (compound surnames included).
        parses: surname-first readings (capped).
        keys: the joined parse keys (toneless pinyin, or Latin words).
        roman_keys: ``keys`` plus spellings a romaniser may use (``lv`` written ``lu``).
        tokens: the romanised words as written, case-folded, accents stripped.
        value_key: the simplified hanzi, else the sorted syllables or words (term frequencies).
    """

    display: str
    script: Script
    valid: bool
    flags: tuple[str, ...] = ()
    hanzi: str = ""
    surname_hanzi: str = ""
    parses: tuple[NameParse, ...] = ()
    keys: frozenset[str] = frozenset()
    roman_keys: frozenset[str] = frozenset()
    tokens: tuple[str, ...] = ()
    value_key: str = ""


def _hanzi_forms(hanzi: str, flags: tuple[str, ...]) -> NameForms:
    surname, given = split_surname(hanzi)
    readings = itertools.product(surname_readings(surname), given_readings(given))
    pairs = list(itertools.islice(readings, _MAX_PARSES))
    parses = tuple([name_parse(s, g) for s, g in pairs])
    keys = frozenset([s + "".join(g) for s, g in pairs])  # each parse's key
    # unumlaut(p).key is p.key with v as u; most readings have no v, and keep the keys as is.
    roman = keys | {k.replace("v", "u") for k in keys} if "v" in "".join(keys) else keys
    return _make(hanzi, "hanzi", True, flags, hanzi, surname, parses, keys, roman, (), hanzi)


_make = builder(NameForms)  # every field, in order: NameForms without its frozen __init__


def _roman_forms(text: str, flags: tuple[str, ...]) -> NameForms:
    if text.isascii():  # nothing to decompose
        folded = text.casefold().replace("'", "").replace("-", "")
    else:
        folded = "".join(
            c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
        )
        folded = folded.casefold().replace("'", "").replace("’", "").replace("-", "")
    head, _, tail = folded.partition(",")
    head_words = _WORD.findall(head)
    tokens = head_words + _WORD.findall(tail) if tail else head_words
    comma = len(head_words) if tail.strip() else 0
    if not tokens:
        return NameForms(
            display=redact_numbers(text),
            script="empty",
            valid=False,
            flags=(*flags, "name_no_letters"),
        )
    segmented: list[tuple[str, ...] | None] = [
        segment_pinyin(t) if len(t) > 1 else (t,) for t in tokens
    ]
    is_pinyin = all(s is not None for s in segmented) and any(len(t) > 1 for t in tokens)
    words: list[tuple[str, ...]] = (
        [s for s in segmented if s is not None] if is_pinyin else [(t,) for t in tokens]
    )
    parses = roman_parses(words, comma)
    units = sorted(itertools.chain(*words))
    keys = frozenset(p.key for p in parses)
    return _make(
        redact_numbers(" ".join(text.split())),
        "pinyin" if is_pinyin else "latin",
        True,
        flags,
        "",
        "",
        tuple(parses),
        keys,
        keys,
        tuple(tokens),
        " ".join(units),
    )


def normalise_name(raw: object) -> NameForms:
    """Normalise a personal name in any script; never raises.

    Args:
        raw: the name as sent (any type; ``None`` for none).

    Returns:
        The parsed forms; see :class:`NameForms`.
    """
    if raw is None:
        return NameForms(display="", script="empty", valid=False, flags=("name_empty",))
    return _normalise(as_text(raw, _MAX_LEN * 2))


# Names repeat across events (张伟, 王芳); about 1 KB an entry keeps this near 30 MB at most.
@lru_cache(maxsize=32768)
def _normalise(text: str) -> NameForms:
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        return NameForms(display="", script="empty", valid=False, flags=("name_empty",))
    flags: tuple[str, ...] = ("name_too_long",) if len(text) > _MAX_LEN else ()
    text = text[:_MAX_LEN]
    if _ONLY_HANZI.fullmatch(text):  # the common case: characters only
        hanzi = simplified(text)
        if not _ONLY_HANZI.fullmatch(hanzi):
            hanzi = "".join(_HANZI.findall(hanzi))
        if hanzi:
            return _hanzi_forms(hanzi, flags)
    return _read(text, flags)


def _read(text: str, flags: tuple[str, ...]) -> NameForms:
    """A cleaned name of any script (the general path)."""
    hanzi = "" if text.isascii() else "".join(_HANZI.findall(text))
    if not hanzi:
        return _roman_forms(text, flags)
    hanzi = "".join(_HANZI.findall(simplified(hanzi)))
    has_latin = any("a" <= c <= "z" for c in text.casefold())
    if hanzi and has_latin:
        flags = (*flags, "name_mixed_script")
    if len(hanzi) >= 2 or (hanzi and not has_latin):
        return _hanzi_forms(hanzi, flags)
    if hanzi:  # one character among Latin words ("张 Wei"): read it and go on as pinyin
        text = " ".join(lazy_pinyin(text, style=Style.NORMAL))
    return _roman_forms(text, flags)


def _cmp(level: Level, zh: str, en: str, key: str = "") -> FieldComparison:
    return FieldComparison("name", level, zh, en, key)


def compare_name(left: NameForms, right: NameForms) -> FieldComparison:
    """Compare two names; symmetric in level.

    Args:
        left: one side (usually the watchlist person; its ``value_key`` is reported).
        right: the other side (usually the event).

    Returns:
        ``exact``, ``typo``, ``sound``, ``partial``, ``disagree`` or ``missing`` (see the
        module docstring for worked cases).
    """
    if not (left.valid and right.valid):
        return _cmp("missing", "姓名缺失或无法识别", "name missing or unreadable")
    a, b = left.display, right.display
    if left.script == right.script == "hanzi":
        result = _compare_hanzi(left, right)
    elif "hanzi" in (left.script, right.script):
        result = _compare_hanzi_roman(left, right)
    else:
        result = _compare_roman(left, right)
    if result is not None:
        level, zh, en = result
        return _cmp(level, zh, en, left.value_key if level != "partial" else "")
    why = partial_agreement(left.parses, right.parses)
    if why:
        zh, en = why
        return _cmp("partial", f"{zh}：{a} / {b}", f"{en}: {a} / {b}")
    return _cmp("disagree", f"姓名不同：{a} / {b}", f"names differ: {a} / {b}")


_Verdict = tuple[Level, str, str] | None


def _compare_hanzi(left: NameForms, right: NameForms) -> _Verdict:
    a, b = left.hanzi, right.hanzi
    if a == b:
        return "exact", f"姓名一致（{a}）", f"name identical ({a})"
    if len(a) != len(b):
        return None
    shared = left.keys & right.keys
    if shared:
        reading = _spaced(left, min(shared))
        return "sound", f"同音不同字：{a} / {b}（{reading}）", f"homophones: {a} / {b} ({reading})"
    # Two-character names differing in one character are a different given name or surname,
    # not a slip of the pen: they fall through to partial / disagree.
    if len(a) >= 3 and sum(x != y for x, y in zip(a, b, strict=True)) == 1:
        return "typo", f"姓名有一个字不同：{a} / {b}", f"one character differs: {a} / {b}"
    return None


def _compare_hanzi_roman(left: NameForms, right: NameForms) -> _Verdict:
    hanzi, roman = (left, right) if left.script == "hanzi" else (right, left)
    shared = hanzi.roman_keys & roman.keys
    a, b = left.display, right.display
    if shared:
        reading = _spaced(hanzi, min(shared))
        return (
            "sound",
            f"拼音与汉字读音一致：{a} / {b}（{reading}）",
            f"romanised name matches the reading of the characters: {a} / {b} ({reading})",
        )
    if _one_edit(hanzi.roman_keys, roman.keys):
        return (
            "typo",
            f"拼音与汉字读音相差一个字母：{a} / {b}",
            f"romanised name is one letter off the reading: {a} / {b}",
        )
    return None


def _compare_roman(left: NameForms, right: NameForms) -> _Verdict:
    a, b = left.display, right.display
    if left.keys & right.keys or (left.value_key == right.value_key and left.value_key):
        return "exact", f"姓名拼写一致：{a} / {b}", f"same name as spelled: {a} / {b}"
    if _one_edit(left.keys, right.keys):
        return "typo", f"姓名拼写相差一个字母：{a} / {b}", f"names one letter apart: {a} / {b}"
    if left.script == right.script == "latin":
        return _latin_words(left.tokens, right.tokens, a, b)
    return None


# Jaro-Winkler similarity at which two Latin words are one word mistyped (FEBRL-style slips:
# rachel/rachle, hingston/hingsyton), and at which one shared word makes a partial agreement.
_JW_TYPO = 0.88
_JW_WORD = 0.92


def _latin_words(left: Sequence[str], right: Sequence[str], a: str, b: str) -> _Verdict:
    """Latin names word by word (FEBRL-style slips in several words, or words swapped).

    Every word a near miss (in either order) is a typo; one word agreeing while another
    differs is partial. Pinyin never comes here (its syllables are short and shared).
    """
    if len(left) == len(right) <= 4:
        for order in (tuple(right), tuple(reversed(right))):
            if all(
                JaroWinkler.similarity(x, y) >= _JW_TYPO for x, y in zip(left, order, strict=True)
            ):
                return "typo", f"姓名拼写相近：{a} / {b}", f"names spelled alike: {a} / {b}"
    if any(
        min(len(x), len(y)) >= 3 and JaroWinkler.similarity(x, y) >= _JW_WORD
        for x in left[:4]
        for y in right[:4]
    ):
        return "partial", f"姓名有一个词相同：{a} / {b}", f"one name word agrees: {a} / {b}"
    return None


def _one_edit(lefts: Iterable[str], rights: Iterable[str]) -> bool:
    rights = tuple(rights)
    return any(
        min(len(x), len(y)) >= 4 and OSA.distance(x, y, score_cutoff=1) <= 1
        for x in lefts
        for y in rights
    )


def _spaced(forms: NameForms, key: str) -> str:
    for parse in forms.parses:
        if parse.key == key or unumlaut(parse).key == key:
            return " ".join((parse.surname, *parse.given)).strip()
    return key


_RANK: dict[str, int] = {
    "exact": 0,
    "sound": 1,
    "typo": 2,
    "partial": 3,
    "disagree": 4,
    "missing": 5,
}


def compare_name_sets(
    left: Sequence[NameForms] | NameForms, right: Sequence[NameForms] | NameForms
) -> FieldComparison:
    """Compare every name form of one side (name and aliases) with every one of the other.

    Args:
        left: the person's name and aliases (or one name).
        right: the event's name(s).

    Returns:
        The strongest comparison (exact, then sound, typo, partial, disagree, missing).
    """
    lefts = [left] if isinstance(left, NameForms) else list(left)
    rights = [right] if isinstance(right, NameForms) else list(right)
    results = [compare_name(a, b) for a in lefts for b in rights]
    if not results:
        return _cmp("missing", "姓名缺失", "name missing")
    return min(results, key=lambda c: _RANK[c.level])


def name_block_keys(forms: NameForms) -> frozenset[str]:
    """Keys for the blocking index: ``nm:<toneless pinyin, surname first>`` per reading.

    Latin-script names also get ``nms:<sorted words>``. The surname alone is never a key
    (far too coarse: hundreds of thousands of 张).

    Args:
        forms: a normalised name.

    Returns:
        The keys; empty when the name is unusable.
    """
    if not forms.valid:
        return frozenset()
    keys = {f"nm:{k}" for k in forms.roman_keys}
    if forms.script == "latin" and len(forms.tokens) > 1:
        keys.add("nms:" + "".join(sorted(forms.tokens)))
    return frozenset(keys)
