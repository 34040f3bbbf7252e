"""Pinyin: the syllable inventory, surname tables, and the readings of hanzi names.

    segment_pinyin("zhangdebin")   # ('zhang', 'de', 'bin')
    surname_readings("单")          # ('shan', 'dan', 'chan')
    given_readings("德斌")          # (('de', 'bin'), ...), likely readings first
    split_surname("欧阳娜娜")       # ('欧阳', '娜娜')

``matchers.fields.names`` builds a name's parses from these; every function is cached, since a
roster of a million people asks for the same few thousand characters again and again.
"""

from __future__ import annotations

import itertools
import json
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Final

import opencc
from pypinyin import Style, lazy_pinyin, pinyin
from pypinyin.constants import PHRASES_DICT, PINYIN_DICT, RE_HANS

from matchers.fields.cache_sizes import CACHE_SIZES

__all__ = [
    "COMPOUND_READINGS",
    "given_keys",
    "given_readings",
    "segment_pinyin",
    "simplified",
    "split_surname",
    "surname_readings",
]

_MAX_CHAR_READINGS: Final = 3
_ROMAN_ALIASES: Final = {"lyu": "lv", "nyu": "nv", "lue": "lve", "nue": "nve"}


def _load() -> tuple[frozenset[str], dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    data = resources.files("matchers.data")
    lines = data.joinpath("pinyin_syllables.txt").read_text("utf-8").splitlines()
    syllables = frozenset(s.strip() for s in lines if s.strip() and not s.startswith("#"))
    table: dict[str, Any] = json.loads(data.joinpath("surnames.json").read_text("utf-8"))
    compound = {k: tuple(v) for k, v in table["compound"].items()}
    single = {k: tuple(v) for k, v in table["single"].items()}
    return syllables, compound, single


_TABLES = _load()
_SYLLABLES: Final = _TABLES[0]
_COMPOUND: Final = _TABLES[1]
_SINGLE: Final = _TABLES[2]
COMPOUND_READINGS = frozenset(r for rs in _COMPOUND.values() for r in rs)
# Passport (lyu) and loose (lue) spellings of u-umlaut syllables are cut too, then canonicalised.
_VOCABULARY: Final = _SYLLABLES | frozenset(_ROMAN_ALIASES)
_LONGEST_SYLLABLE: Final = max(map(len, _VOCABULARY))
# No run of characters longer than pypinyin's longest phrase can be one of its phrases: bounds
# the search for phrases in a name (all runs: cubic in a long hostile name) to linear.
_LONGEST_PHRASE: Final = max(map(len, PHRASES_DICT))


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=CACHE_SIZES["hanzi_simplified"])
def simplified(text: str) -> str:
    """Fold traditional characters to simplified (OpenCC ``t2s``): ``張偉`` -> ``张伟``."""
    try:
        return str(_t2s().convert(text))
    except UnicodeEncodeError:  # a lone surrogate (OpenCC takes UTF-8): fold the rest
        kept = "".join([c for c in text if not 0xD800 <= ord(c) <= 0xDFFF])  # mypyc: no literal
        return str(_t2s().convert(kept))


@lru_cache(maxsize=CACHE_SIZES["pinyin_segments"])
def segment_pinyin(word: str) -> tuple[str, ...] | None:
    """Cut a joined, lower-case pinyin word into syllables (longest first, backtracking).

    Args:
        word: letters only, lower case (``zhangdebin``).

    Returns:
        The syllables (``('zhang', 'de', 'bin')``), or ``None`` when the word is not pinyin.
    """
    # Right to left, so each start's cut is known when a shorter start looks it up: no
    # recursion (a long hostile word would exhaust the stack) and linear in the word's length.
    # Each start keeps the end of its first syllable, the longest that leaves a cuttable rest:
    # the cut the longest-first backtracking search finds.
    size = len(word)
    ends = [-1] * size + [size]  # -1: no cut from here
    for start in range(size - 1, -1, -1):
        for end in range(min(size, start + _LONGEST_SYLLABLE), start, -1):
            if ends[end] >= 0 and word[start:end] in _VOCABULARY:
                ends[start] = end
                break
    if not word or ends[0] < 0:
        return None
    pieces, start = [], 0
    while start < size:
        pieces.append(word[start : ends[start]])
        start = ends[start]
    return tuple([_ROMAN_ALIASES.get(p, p) for p in pieces])


@lru_cache(maxsize=CACHE_SIZES["char_readings"])
def _char_readings(char: str) -> tuple[str, ...]:
    readings = pinyin(char, style=Style.NORMAL, heteronym=True)[0]
    return tuple(readings[:_MAX_CHAR_READINGS])


@lru_cache(maxsize=CACHE_SIZES["surname_readings"])
def surname_readings(surname: str) -> tuple[str, ...]:
    """Every reading of a surname: the table's (单 shan/dan/chan), then pypinyin's own."""
    table = _COMPOUND.get(surname) or _SINGLE.get(surname, ())
    common = "".join(lazy_pinyin(surname, style=Style.NORMAL))
    return tuple(dict.fromkeys((*table, common)))


@lru_cache(maxsize=CACHE_SIZES["given_readings"])
def given_readings(given: str) -> tuple[tuple[str, ...], ...]:
    """Readings of a given name, one tuple of syllables each, fewest departures first.

    The phrase reading first, then up to three readings per character (two- and
    three-character names); a longer name gets its phrase reading only.
    """
    if len(given) == 1:
        return tuple((r,) for r in _char_readings(given))
    default = _phrase_reading(given)
    if len(default) != len(given):  # characters pypinyin cannot read come back glued together
        default = [(_char_readings(c) or (c,))[0] for c in given]
    if len(given) > 3:  # long (often minority) names: the phrase reading only
        return (tuple(default),)
    options = [
        tuple(dict.fromkeys((d, *_char_readings(c))))[:_MAX_CHAR_READINGS]
        for d, c in zip(default, given, strict=True)
    ]
    # Fewest departures from the phrase reading first, so the cap keeps the likely readings.
    return tuple(
        tuple([o[i] for o, i in zip(options, combo, strict=True)])
        for combo in _ranked_combos(tuple(map(len, options)))
    )


@lru_cache(maxsize=CACHE_SIZES["given_readings"])
def given_keys(given: str) -> tuple[tuple[tuple[str, ...], str], ...]:
    """:func:`given_readings`, each reading beside its syllables joined.

    A hanzi name's parse keys are a surname reading followed by a given reading joined
    (``zhang`` + ``debin``); joined here once per given name, not once per name and parse.
    """
    return tuple([(reading, "".join(reading)) for reading in given_readings(given)])


@cache
def _ranked_combos(sizes: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Index combinations of options of these sizes, by their sum (stable: product order)."""
    return tuple(sorted(itertools.product(*map(range, sizes)), key=sum))


def _phrase_reading(given: str) -> list[str]:
    """``lazy_pinyin(given, style=Style.NORMAL)``, read character by character when it can be.

    pypinyin cuts the text into words and reads a word of its phrase table as a phrase, any
    other character by its first reading; when no character and no run of characters of the
    name is in that table, the name is its characters' first readings (pypinyin's cutting and
    styling cost about 20 us a name).
    """
    defaults = [_char_default(c) for c in given]
    if None in defaults or any(
        given[i:j] in PHRASES_DICT
        for i in range(len(given))
        for j in range(i + 2, min(len(given), i + _LONGEST_PHRASE) + 1)
    ):
        return lazy_pinyin(given, style=Style.NORMAL)
    return defaults  # type: ignore[return-value]


@lru_cache(maxsize=CACHE_SIZES["char_default"])
def _char_default(char: str) -> str | None:
    """The reading pypinyin gives a character outside any phrase; ``None`` unless a plain one."""
    if char in PHRASES_DICT or not RE_HANS.match(char) or ord(char) not in PINYIN_DICT:
        return None
    reading = lazy_pinyin(char, style=Style.NORMAL)
    return reading[0] if len(reading) == 1 and reading[0] else None


def split_surname(hanzi: str) -> tuple[str, str]:
    """Cut a hanzi name into surname and given name (compound surnames such as 欧阳 first)."""
    if len(hanzi) > 2 and hanzi[:2] in _COMPOUND:
        return hanzi[:2], hanzi[2:]
    return hanzi[:1], hanzi[1:]
