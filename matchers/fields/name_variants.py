"""How one name is written differently without being another name: dialects, Wade-Giles, shapes.

Three tables, read once from ``matchers/data``:

- surname romanisations by dialect (``romanisations.json``, sources in its header): overseas
  Chinese carry passport names in Hokkien, Teochew, Cantonese, Hainanese or Wade-Giles, so
  王 may be ONG, HENG or WONG, 符 FOO or PHU;
- Wade-Giles spellings of pinyin syllables, derived by rule (:func:`wade_giles`): given names
  on Taiwanese and older passports (志豪 zhi hao -> CHIH-HAO), apostrophes dropped as
  passports drop them;
- shape-alike characters (``confusables.txt``): 王/玉, 己/已, 未/末, characters clerks and OCR
  take for one another.

Example:
    >>> wade_giles("zhi"), wade_giles("xiong"), wade_giles("hao")
    ('chih', 'hsiung', 'hao')
    >>> sorted(dialect_surnames("ong"))
    ['王']
    >>> shape_alike("王", "玉")
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Literal

from matchers.fields.cache_sizes import CACHE_SIZES
from matchers.fields.pinyin import surname_readings
from matchers.fields.readings import NameParse

__all__ = [
    "DIALECTS",
    "DIALECT_NAMES",
    "Dialect",
    "dialect_initials",
    "dialect_names",
    "dialect_reading",
    "dialect_surnames",
    "dropped_character",
    "shape_alike",
    "shape_alike_pair",
    "shape_alikes",
    "surname_romanisations",
    "wade_giles",
]

Dialect = Literal["hokkien", "teochew", "cantonese", "hainanese", "hakka", "wade_giles"]
DIALECTS: tuple[Dialect, ...] = (
    "hokkien",
    "teochew",
    "cantonese",
    "hainanese",
    "hakka",
    "wade_giles",
)

# How an explanation names each system (Chinese, English).
DIALECT_NAMES: dict[Dialect, tuple[str, str]] = {
    "hokkien": ("闽南话", "Hokkien"),
    "teochew": ("潮州话", "Teochew"),
    "cantonese": ("粤语", "Cantonese"),
    "hainanese": ("海南话", "Hainanese"),
    "hakka": ("客家话", "Hakka"),
    "wade_giles": ("威妥玛拼音", "Wade-Giles"),
}

# Initials in Wade-Giles with the aspiration apostrophe dropped (passports drop it), longest
# first so that zh/ch/sh are taken before z/c/s.
_INITIALS: tuple[tuple[str, str], ...] = (
    ("zh", "ch"),
    ("ch", "ch"),
    ("sh", "sh"),
    ("b", "p"),
    ("p", "p"),
    ("m", "m"),
    ("f", "f"),
    ("d", "t"),
    ("t", "t"),
    ("n", "n"),
    ("l", "l"),
    ("g", "k"),
    ("k", "k"),
    ("h", "h"),
    ("j", "ch"),
    ("q", "ch"),
    ("x", "hs"),
    ("r", "j"),
    ("z", "ts"),
    ("c", "ts"),
    ("s", "s"),
    ("y", "y"),
    ("w", "w"),
)
# Whole syllables whose Wade-Giles spelling is not initial + final.
_WHOLE: dict[str, str] = {
    "zhi": "chih",
    "chi": "chih",
    "shi": "shih",
    "ri": "jih",
    "zi": "tzu",
    "ci": "tzu",
    "si": "ssu",
    "er": "erh",
    "e": "o",
    "ge": "ko",
    "ke": "ko",
    "he": "ho",
    "you": "yu",
    "yan": "yen",
    "ye": "yeh",
    "yue": "yueh",
    "yong": "yung",
    "yuan": "yuan",
    "yun": "yun",
    "guo": "kuo",
    "kuo": "kuo",
    "huo": "huo",
    "shuo": "shuo",
    "zhuo": "cho",
    "ruo": "jo",
}
# Finals, longest first; what is not listed is written as in pinyin.
_FINALS: tuple[tuple[str, str], ...] = (
    ("iong", "iung"),
    ("ong", "ung"),
    ("ian", "ien"),
    ("uo", "o"),
    ("ie", "ieh"),
    ("ue", "ueh"),
    ("ve", "ueh"),
    ("v", "u"),
)


@lru_cache(maxsize=CACHE_SIZES["wade_giles"])
def wade_giles(syllable: str) -> str:
    """The Wade-Giles spelling of a toneless pinyin syllable, apostrophes and umlauts dropped.

    Example:
        >>> [wade_giles(s) for s in ("zhang", "qing", "xue", "jun", "de")]
        ['chang', 'ching', 'hsueh', 'chun', 'te']
    """
    whole = _WHOLE.get(syllable)
    if whole is not None:
        return whole
    for pinyin, wg in _INITIALS:
        if syllable.startswith(pinyin):
            head, rest = wg, syllable[len(pinyin) :]
            break
    else:
        head, rest = "", syllable
    if head == "t" and rest == "e":
        return "te"
    for pinyin, wg in _FINALS:
        if rest.endswith(pinyin):
            rest = rest[: -len(pinyin)] + wg
            break
    return head + rest


@lru_cache(maxsize=1)
def _romanisations() -> dict[str, dict[str, tuple[str, ...]]]:
    text = resources.files("matchers.data").joinpath("romanisations.json").read_text("utf-8")
    table = json.loads(text)["surnames"]
    return {s: {d: tuple(v) for d, v in by.items()} for s, by in table.items()}


@lru_cache(maxsize=1)
def _by_spelling() -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for surname, by_dialect in _romanisations().items():
        for spellings in by_dialect.values():
            for spelling in spellings:
                out.setdefault(spelling, set()).add(surname)
    return {k: frozenset(v) for k, v in out.items()}


def surname_romanisations(surname: str) -> dict[str, tuple[str, ...]]:
    """The spellings of a hanzi surname by dialect (empty when the table does not list it)."""
    return _romanisations().get(surname, {})


def dialect_surnames(spelling: str) -> frozenset[str]:
    """The hanzi surnames a dialect or Wade-Giles ``spelling`` (lower case) may stand for."""
    return _by_spelling().get(spelling, frozenset())


def dialect_names(surname: str, spelling: str) -> tuple[Dialect, ...]:
    """The dialects in which ``surname`` is written ``spelling`` (``()`` when in none)."""
    by = _romanisations().get(surname, {})
    return tuple(d for d in DIALECTS if spelling in by.get(d, ()))


@lru_cache(maxsize=1)
def _confusables() -> frozenset[tuple[str, str]]:
    text = resources.files("matchers.data").joinpath("confusables.txt").read_text("utf-8")
    pairs: set[tuple[str, str]] = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#"):
            pairs.add((parts[0], parts[1]))
            pairs.add((parts[1], parts[0]))
    return frozenset(pairs)


def shape_alike(a: str, b: str) -> bool:
    """Whether two different characters are a known shape-alike pair (王/玉, 己/已)."""
    return (a, b) in _confusables()


def shape_alikes(char: str) -> tuple[str, ...]:
    """The characters listed as shape-alike to ``char``, in a fixed order."""
    return tuple(sorted(b for a, b in _confusables() if a == char))


def shape_alike_pair(a: str, b: str) -> tuple[str, str] | None:
    """The one differing character pair of two same-length names if it is shape-alike.

    Example:
        >>> shape_alike_pair("王志豪", "玉志豪")
        ('王', '玉')
        >>> shape_alike_pair("王志豪", "李志豪") is None
        True
    """
    if len(a) != len(b):
        return None
    diffs = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
    if len(diffs) == 1 and shape_alike(*diffs[0]):
        return diffs[0]
    return None


def dropped_character(a: str, b: str, surname: str) -> bool:
    """Whether one name is the other with one given-name character dropped (surname kept).

    Example:
        >>> dropped_character("陈玲春", "陈玲", "陈"), dropped_character("陈玲", "李玲", "陈")
        (True, False)
    """
    long, short = (a, b) if len(a) > len(b) else (b, a)
    if len(long) != len(short) + 1 or len(short) < 2 or not surname:
        return False
    if not (long.startswith(surname) and short.startswith(surname)):
        return False
    return any(long[:i] + long[i + 1 :] == short for i in range(len(surname), len(long)))


def dialect_reading(
    surname: str, hanzi_parses: Iterable[NameParse], roman: Iterable[NameParse]
) -> tuple[tuple[Dialect, ...], str, bool] | None:
    """How a romanised name reads a hanzi name in a dialect, or ``None``.

    The romanised surname must be a listed spelling of the hanzi surname, and the given name
    the pinyin or the Wade-Giles of one of the hanzi name's readings (syllables joined, so
    ``CHIH-HAO`` and ``Chih Hao`` both count).

    Returns:
        The dialects that spell the surname so, the romanised surname as written, and whether
        the given name is in Wade-Giles rather than pinyin.

    Example:
        >>> hanzi = [NameParse("wang", ("zhi", "hao"))]
        >>> dialect_reading("王", hanzi, [NameParse("ong", ("chihhao",))])
        (('hokkien', 'hainanese'), 'ong', True)
    """
    if not _romanisations().get(surname):
        return None
    pinyin = {"".join(p.given) for p in hanzi_parses}
    wade = {"".join(wade_giles(g) for g in p.given) for p in hanzi_parses}
    for parse in roman:
        dialects = dialect_names(surname, parse.surname)
        given = "".join(parse.given)
        if dialects and given and (given in pinyin or given in wade):
            return dialects, parse.surname, given not in pinyin
    return None


@lru_cache(maxsize=CACHE_SIZES["dialect_initials"])
def dialect_initials(spelling: str) -> frozenset[str]:
    """Pinyin initials of the surnames a dialect ``spelling`` may stand for (``tay`` -> z).

    The blocking index files people under their birthday and the initial of their pinyin
    surname; an event whose passport name spells the surname in a dialect looks there too.

    Example:
        >>> sorted(dialect_initials("tay")), sorted(dialect_initials("wong"))
        (['z'], ['h', 'w'])
    """
    return frozenset(r[0] for s in dialect_surnames(spelling) for r in surname_readings(s) if r)
