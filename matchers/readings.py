"""Surname-first readings of a name, and how two readings share a part of a name.

A name is compared through its *parses*: each a surname and the given-name syllables (or Latin
words), surname first, toneless. :mod:`matchers.names` builds them; this module reads
romanised words into parses and says when two parses agree in part::

    roman_parses([("zhang",), ("de", "bin")], comma=0)
        # [NameParse("zhang", ("de", "bin")), NameParse("debin", ("zhang",))]
    partial_agreement([NameParse("zhang", ("de", "bin"))], [NameParse("zhang", ("d", "b"))])
        # ("姓相同且名的首字母一致", "same surname, given-name initials agree")
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from matchers.frozen import builder
from matchers.pinyin import COMPOUND_READINGS

__all__ = ["NameParse", "name_parse", "partial_agreement", "roman_parses", "unumlaut"]


@dataclass(frozen=True, slots=True)
class NameParse:
    """One surname-first reading of a name.

    Attributes:
        surname: the surname's syllables joined (``zhang``, ``ouyang``), or a Latin word.
        given: the given-name syllables (or Latin words); a single letter is an initial.
    """

    surname: str
    given: tuple[str, ...]

    @property
    def key(self) -> str:
        """The parse joined into one toneless key, surname first (``zhangwei``)."""
        return self.surname + "".join(self.given)


# NameParse(surname, given) without the frozen __init__ (matchers.frozen): a name has up to 16.
name_parse = builder(NameParse)


def unumlaut(parse: NameParse) -> NameParse:
    """The parse with ``ü`` (written ``v``) as ``u``, as romanisers often spell it (``lu``)."""
    return NameParse(
        parse.surname.replace("v", "u"), tuple(g.replace("v", "u") for g in parse.given)
    )


def roman_parses(words: list[tuple[str, ...]], comma: int) -> list[NameParse]:
    """Surname-first parses of romanised words (each a tuple of syllables or one Latin word)."""
    if comma > 0:  # "ZHANG, Wei" / "MULLER, Hans": the surname is explicitly first
        return [
            name_parse(
                "".join(itertools.chain(*words[:comma])), tuple(itertools.chain(*words[comma:]))
            )
        ]
    if len(words) == 1:
        s = words[0]
        parses = [name_parse(s[0], s[1:])]
        if len(s) > 1:
            parses.append(name_parse(s[-1], s[:-1]))
        if len(s) > 2 and s[0] + s[1] in COMPOUND_READINGS:
            parses.append(name_parse(s[0] + s[1], s[2:]))
        return parses
    first = name_parse("".join(words[0]), tuple(itertools.chain(*words[1:])))
    last = name_parse("".join(words[-1]), tuple(itertools.chain(*words[:-1])))
    return [first, last]


def partial_agreement(
    lefts: Sequence[NameParse], rights: Sequence[NameParse]
) -> tuple[str, str] | None:
    """Why two names agree in part (Chinese, English), or ``None``.

    The same surname with a given-name syllable or the given-name initials in common, or the
    same given name under another (non-initial) surname.
    """
    for p, q in itertools.product(lefts, rights):
        if p.surname == q.surname:
            if {g for g in p.given if len(g) > 1} & {g for g in q.given if len(g) > 1}:
                return "姓相同且名有一字相同", "same surname and one given-name syllable"
            if _initials(p.given, q.given) or _initials(q.given, p.given):
                return "姓相同且名的首字母一致", "same surname, given-name initials agree"
        elif p.given and p.given == q.given and len(p.surname) > 1 and len(q.surname) > 1:
            return "名相同，姓不同", "same given name, different surname"
    return None


def _initials(short: tuple[str, ...], full: tuple[str, ...]) -> bool:
    """``('d', 'b')`` or ``('db',)`` against ``('de', 'bin')``: initials of the given name."""
    if not short or not full:
        return False
    letters = "".join(short)
    if not all(len(s) == 1 for s in short) and not (len(short) == 1 and len(letters) <= 3):
        return False
    return len(letters) == len(full) and all(g[0] == c for g, c in zip(full, letters, strict=True))
