"""Birth dates: parsing messy forms, flagging impossible ones, and classifying differences.

Accepted forms: ``1990-01-02``, ``1990/1/2``, ``1990.1.2``, ``19900102``, ``1990年1月2日``,
``一九九〇年一月二日``, ISO timestamps (the date part), full-width digits, and ``2/1/1990`` (day
first, flagged ``date_ambiguous`` when the day could be a month).

Worked comparisons:

    1990-01-02 vs 1990-01-02   exact
    1990-01-02 vs 1990-01-07   typo (one digit off in the day)
    1990-01-12 vs 1990-12-01   typo (day and month swapped)
    1990-01-02 vs 1989-01-02   typo (year off by one)
    1990-01-02 vs 1990-01-28   partial (same year and month)
    1990-01-02 vs 1990-06-15   partial (same year)
    1990-01-02 vs 1975-08-30   disagree

``DateForms.valid`` is strict (an impossible or implausible date is not valid) while
``comparable`` keeps such a date in play, since ``1990-02-30`` is often a typo of ``1990-02-03``.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from rapidfuzz.distance import Hamming

from matchers.frozen import builder
from matchers.levels import FieldComparison, Level
from matchers.masking import as_text

__all__ = [
    "DateForms",
    "compare_date",
    "date_block_keys",
    "date_level",
    "date_year",
    "normalise_date",
]

_YMD = re.compile(r"(?<!\d)(\d{4})\s*[-/.年\s]\s*(\d{1,2})\s*[-/.月\s]\s*(\d{1,2})(?!\d)")
_COMPACT = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)")
_DMY = re.compile(r"(?<!\d)(\d{1,2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{4})(?!\d)")
_MIN_YEAR = 1900
_CN_DIGITS = str.maketrans("〇零○Ｏ一二三四五六七八九", "0000123456789")
_CN_TENS = re.compile(r"([1-3]?)十([1-9]?)")


@dataclass(frozen=True, slots=True)
class DateForms:
    """A normalised date.

    Attributes:
        value: ``YYYY-MM-DD`` (zero padded; may name an impossible date) or ``""``.
        valid: a real calendar date between 1900 and today.
        comparable: year, month and day were read, even if the date is impossible.
        flags: ``date_empty``, ``date_unparseable``, ``date_impossible``, ``date_implausible``,
            ``date_future``, ``date_too_old``, ``date_ambiguous``.
        year: the year, or 0.
        month: the month, or 0.
        day: the day, or 0.
    """

    value: str
    valid: bool
    comparable: bool
    flags: tuple[str, ...] = ()
    year: int = 0
    month: int = 0
    day: int = 0

    @property
    def digits(self) -> str:
        """The date as ``YYYYMMDD`` (``""`` when not comparable)."""
        return f"{self.year:04d}{self.month:02d}{self.day:02d}" if self.comparable else ""


def _parts(text: str) -> tuple[int, int, int, bool] | None:
    match = _YMD.search(text) or _COMPACT.search(text)
    if match:
        return int(match[1]), int(match[2]), int(match[3]), False
    match = _DMY.search(text)
    if match:
        first, second, year = int(match[1]), int(match[2]), int(match[3])
        if second > 12 >= first:
            return year, first, second, False  # month first, unambiguous
        return year, second, first, first <= 12 and first != second
    return None


def normalise_date(raw: object, *, today: dt.date | None = None) -> DateForms:
    """Parse a date in any common form; never raises.

    Args:
        raw: the date as sent (``str``, ``datetime.date``, or anything else).
        today: the reference for "in the future" (default: the system date).

    Returns:
        The parsed forms; see :class:`DateForms`.
    """
    if type(raw) is str and len(raw) <= 64 and raw.isascii():  # as_text would keep it as is
        return _normalise(raw, today or _today())
    if raw is None:
        return DateForms("", valid=False, comparable=False, flags=("date_empty",))
    if isinstance(raw, dt.date):
        raw = raw.isoformat()
    return _normalise(as_text(raw, 64), today or _today())


class _Today:
    """The local date, and the span of ``time.time()`` it holds for."""

    # ClassVar: the compiled build (matchers.native) keeps class attributes apart from slots.
    day: ClassVar[dt.date] = dt.date.min
    start: ClassVar[float] = 0.0
    end: ClassVar[float] = 0.0


def _today() -> dt.date:
    """``datetime.date.today()`` without asking for a calendar date every time."""
    now = time.time()
    if _Today.start <= now < _Today.end:
        return _Today.day
    day = dt.date.fromtimestamp(now)  # what date.today() does
    _Today.start = dt.datetime.combine(day, dt.time()).timestamp()
    _Today.end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time()).timestamp()
    _Today.day = day
    return day


# Birth dates repeat: about 40,000 real ones in a watchlist of a million. Values are interned:
# one string per date for every holder (and for the ids' embedded dates, matchers.ids).
@lru_cache(maxsize=16384)
def _normalise(text: str, today: dt.date) -> DateForms:
    if len(text) == 10 and text[4] == "-" == text[7] and text.isascii():
        # YYYY-MM-DD, the common shape, is already the value: no parsing to do.
        yyyy, mm, dd = text[:4], text[5:7], text[8:]
        if yyyy.isdigit() and mm.isdigit() and dd.isdigit():
            value = sys.intern(text)
            return _forms(value, int(yyyy), int(mm), int(dd), ambiguous=False, today=today)
    return _parse(text, today)


def _parse(text: str, today: dt.date) -> DateForms:
    """Any accepted form (the general path)."""
    text = unicodedata.normalize("NFKC", text).strip()
    if "年" in text:  # 一九九〇年十二月二十一日 -> 1990年12月21日
        text = _CN_TENS.sub(_tens, text.translate(_CN_DIGITS))
    if not text:
        return DateForms("", valid=False, comparable=False, flags=("date_empty",))
    parts = _parts(text)
    if parts is None:
        return DateForms("", valid=False, comparable=False, flags=("date_unparseable",))
    year, month, day, ambiguous = parts
    value = sys.intern(f"{year:04d}-{month:02d}-{day:02d}")
    return _forms(value, year, month, day, ambiguous=ambiguous, today=today)


_make = builder(DateForms)  # every field, in order: DateForms without its frozen __init__


def _forms(
    value: str, year: int, month: int, day: int, *, ambiguous: bool, today: dt.date
) -> DateForms:
    problems = _problems(year, month, day, today)
    return _make(
        value,
        not problems,
        True,
        ("date_ambiguous", *problems) if ambiguous else problems,
        year,
        month,
        day,
    )


def _tens(match: re.Match[str]) -> str:
    return (match[1] or "1") + (match[2] or "0")


_NO_PROBLEM: tuple[str, ...] = ()
_IMPOSSIBLE = ("date_impossible",)
_FUTURE = ("date_implausible", "date_future")
_TOO_OLD = ("date_implausible", "date_too_old")


def _problems(year: int, month: int, day: int, today: dt.date) -> tuple[str, ...]:
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return _IMPOSSIBLE
    if date > today:
        return _FUTURE
    if year < _MIN_YEAR:
        return _TOO_OLD
    return _NO_PROBLEM


def date_year(forms: DateForms) -> int | None:
    """The year of a parsed date, or ``None`` when it was not readable.

    Args:
        forms: a normalised date.

    Returns:
        The year or ``None``.
    """
    return forms.year if forms.comparable else None


def _cmp(level: Level, zh: str, en: str, key: str = "") -> FieldComparison:
    return FieldComparison("birth_date", level, zh, en, key)


def date_level(left: DateForms, right: DateForms) -> Level:
    """The agreement level of two dates (the rules of :func:`compare_date`, without its words).

    ``exact``; ``typo`` (one digit off in one component, two adjacent digits swapped, day and
    month swapped, or the year off by one); ``partial`` (same year, whether or not the month
    agrees); ``missing`` when a side is unreadable, or when a side is an impossible date and
    the two are not near (a damaged date is no evidence); else ``disagree``.
    """
    if not (left.comparable and right.comparable):
        return "missing"
    if left.value == right.value:
        return "exact"
    if _typo_kind(left, right):
        return "typo"
    if left.year == right.year:
        return "partial"
    if not (left.valid and right.valid):
        return "missing"
    return "disagree"


def compare_date(left: DateForms, right: DateForms) -> FieldComparison:
    """Compare two dates; symmetric in level (:func:`date_level`), with the words for officers.

    Args:
        left: one side (usually the watchlist person).
        right: the other side (usually the event).

    Returns:
        The comparison; ``value_key`` is the date when ``exact``.
    """
    level = date_level(left, right)
    a, b = left.value, right.value
    if level == "exact":
        return _cmp("exact", f"出生日期一致（{a}）", f"birth date identical ({a})", a)
    if level == "typo":
        zh, en = _typo_kind(left, right) or ("", "")
        return _cmp("typo", f"出生日期{zh}（{a} / {b}）", f"birth dates: {en} ({a} / {b})")
    if level in ("partial", "disagree"):
        return _cmp(level, *_not_near_words(level, left, right))
    if not (left.comparable and right.comparable):
        return _cmp("missing", "出生日期缺失或无法识别", "birth date missing or unreadable")
    # A damaged date (13th month, 31 February) that is not a near miss of the other one
    # says nothing about the person either way: no evidence rather than a disagreement.
    return _cmp(
        "missing",
        f"出生日期有误，未比较（{a} / {b}）",
        f"a birth date is impossible; not compared ({a} / {b})",
    )


def _not_near_words(level: Level, left: DateForms, right: DateForms) -> tuple[str, str]:
    a, b = left.value, right.value
    if level == "disagree":
        return f"出生日期不同（{a} / {b}）", f"birth dates differ ({a} / {b})"
    if left.month == right.month:
        return f"出生年月相同（{a} / {b}）", f"same birth year and month ({a} / {b})"
    return f"出生年份相同（{a} / {b}）", f"same birth year ({a} / {b})"


def _typo_kind(left: DateForms, right: DateForms) -> tuple[str, str] | None:
    if left.year == right.year and (left.month, left.day) == (right.day, right.month):
        return "月日颠倒", "day and month swapped"
    if abs(left.year - right.year) == 1 and (left.month, left.day) == (right.month, right.day):
        return "年份相差一年", "year off by one"  # 1989 / 1990 differ in three digits
    # ``YYYY-MM-DD``: the dashes never differ, so two neighbouring differing characters are
    # always inside one component (a swap across year and month is not one slip).
    a, b = left.value, right.value
    if len(a) != 10 or len(b) != 10 or Hamming.distance(a, b, score_cutoff=2) > 2:
        return None
    diffs = [i for i in range(10) if a[i] != b[i]]
    if len(diffs) == 1:
        return "有一位数字不同", "one digit differs"
    if (
        len(diffs) == 2
        and diffs[1] == diffs[0] + 1
        and a[diffs[0]] == b[diffs[1]]
        and a[diffs[1]] == b[diffs[0]]
    ):
        return "相邻两位颠倒", "two adjacent digits swapped"
    return None


def date_block_keys(forms: DateForms, gender: str | None = None) -> frozenset[str]:
    """Keys for the blocking index: ``bd:YYYYMMDD`` and, with a gender, ``bdg:YYYYMMDD<M|F>``.

    Args:
        forms: a normalised date.
        gender: ``M`` or ``F`` when known.

    Returns:
        The keys; empty when the date is not readable.
    """
    if not forms.comparable:
        return frozenset()
    keys = {f"bd:{forms.digits}"}
    if gender in ("M", "F"):
        keys.add(f"bdg:{forms.digits}{gender}")
    return frozenset(keys)
