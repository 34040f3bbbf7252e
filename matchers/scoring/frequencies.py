"""Term-frequency adjustment: an agreeing name weighs less the more common it is.

An ``exact`` or ``sound`` name agreement is adjusted by how common the
agreeing value is (splink's TF adjustment): the model's ``u`` is replaced by the value's
frequency, smoothed towards ``u`` so that a small table hardly moves it::

    tf    = max(min_u, (count + k) / (total + k / u))      # k virtual occurrences at u
    w_adj = log2(m / u) + weight * log2(u / tf)

so 张伟 (hundreds of holders) weighs less than a rare name agreeing at the same level.

With a table trained over an event stream (``tf.mode == "events"`` and ``tf.table``, what
``tracer train`` writes) the frequency is the name's share of those events, unsmoothed (tens of
thousands of events, not a 2,000-person watchlist), and it only ever *lowers* a weight::

    tf    = (count + k) / (total + k / u_exact)
    w_adj = log2(m / u) + weight * min(0, log2(u_exact / tf))

(``u_exact`` for ``sound`` too: how many times more common than the average agreeing name;
``k`` is ``tf.pseudo_count``, 1 in a trained model: with 50,000 events it barely moves 张芳,
with FEBRL's 5,000 it keeps a name seen twice from counting as common).

A name outside the table counts as seen ``tf.table_unlisted`` times (the most a left-out key
was seen), which is below ``u``: it keeps ``log2(m / u)``. Raising rare names would let the
sampling noise of a day's events make leads.

Two more families of keys live in the same trained table (:func:`trained_count` reads them):

- **Birth dates** (``birth_date:1965-01-01``): where older rural registrations recorded an
  estimate, thousands share 1 January or 1 July of a year, and a date shared by many is weaker
  evidence than a rare one. ``birth_date`` in ``tf.fields`` adjusts an exact date's weight by
  the same formula (``u_exact`` of the birth date); only dates seen more often than twice an
  average date are listed, since no other date would be lowered.
- **Name parts** (``surname:林``, ``given:明宇``): a full name seen at most once in the
  training events may still be common where a few surnames and given names dominate (Hainan:
  王 陈 李 林 吴 符; 亚 妹 文 明), because the next population is not the one the table was
  counted on. An unlisted hanzi name counts as seen ``count(surname) * count(given) / total``
  times (the surname drawn independently of the given name) when that is more than
  ``tf.table_unlisted``: 王亚妹 is common whether or not the training day met one.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from matchers.fields.pinyin import split_surname
from matchers.levels import FieldComparison, Level
from matchers.scoring.model import MatchModel, TermFrequencyParams

__all__ = [
    "TF_LEVELS",
    "TermFrequencies",
    "commonness",
    "name_part_keys",
    "tf_key",
    "tf_weight",
    "trained_count",
]

# The levels whose weight is adjusted by how common the agreeing value is.
TF_LEVELS: frozenset[Level] = frozenset({"exact", "sound"})


class TermFrequencies:
    """Counts of agreeing values (``FieldComparison.value_key``) for TF adjustment.

    Keys are namespaced by field (:func:`tf_key`, e.g. ``name:张伟``); counts may be added and
    removed in place as the watchlist changes.
    """

    __slots__ = ("_counts", "_total")

    def __init__(self, counts: Iterable[tuple[str, int]] = ()) -> None:
        self._counts: Counter[str] = Counter()
        self._total = 0
        for key, n in counts:
            self._counts[key] += n
            self._total += n

    @property
    def total(self) -> int:
        """How many values were counted."""
        return self._total

    def count(self, key: str) -> int:
        """How often ``key`` was counted."""
        return self._counts.get(key, 0)

    def add(self, keys: Iterable[str]) -> None:
        """Count each key once more."""
        for key in keys:
            self._counts[key] += 1
            self._total += 1

    def remove(self, keys: Iterable[str]) -> None:
        """Undo :meth:`add` of the same keys (never below zero)."""
        for key in keys:
            n = self._counts.get(key, 0)
            if n <= 1:
                self._counts.pop(key, None)
            else:
                self._counts[key] = n - 1
            if n:
                self._total -= 1

    def frequency(self, key: str, *, u: float, pseudo_count: float, min_u: float) -> float:
        """Smoothed frequency of ``key``: ``(count + k) / (total + k / u)``, floored at ``min_u``.

        ``k`` virtual occurrences at the model's ``u`` pull a small table towards ``u``.
        """
        if pseudo_count <= 0:
            return max(min_u, self._counts.get(key, 0) / self._total) if self._total else u
        return max(
            min_u, (self._counts.get(key, 0) + pseudo_count) / (self._total + pseudo_count / u)
        )


def tf_key(field: str, value_key: str) -> str:
    """The namespaced TF key of a value (``name:张伟``).

    ``compare_name`` reports the watchlist side's ``value_key`` for ``exact`` and ``sound``
    alike, so both levels are adjusted by how common the person's own name is.
    """
    return f"{field}:{value_key}"


def name_part_keys(hanzi: str) -> tuple[str, str] | None:
    """The surname and given-name keys of a hanzi name (``surname:林``, ``given:明宇``).

    ``None`` for a name that is not hanzi (romanised value keys hold spaces or Latin letters)
    or has no given name.

    Example:
        >>> name_part_keys("欧阳明宇"), name_part_keys("li wen jie")
        (('surname:欧阳', 'given:明宇'), None)
    """
    if not hanzi or hanzi.isascii() or " " in hanzi:
        return None
    surname, given = split_surname(hanzi)
    if not given:
        return None
    return tf_key("surname", surname), tf_key("given", given)


def trained_count(settings: TermFrequencyParams, field: str, value_key: str) -> float:
    """How often a value was seen in the trained events, its parts' estimate for a hanzi name.

    A listed key gives its count. An unlisted hanzi name gives the larger of
    ``table_unlisted`` and ``count(surname) * count(given) / total`` (module docstring); any
    other unlisted key gives ``table_unlisted``.
    """
    key = tf_key(field, value_key)
    listed = settings.table.get(key)
    if listed is not None:
        return float(listed)
    unlisted = float(settings.table_unlisted)
    parts = name_part_keys(value_key) if field == "name" else None
    if parts is None or settings.table_total <= 0:
        return unlisted
    surname, given = (settings.table.get(k, 0) for k in parts)
    return max(unlisted, surname * given / settings.table_total)


def commonness(model: MatchModel, field: str, value_key: str) -> float | None:
    """How many times more common than the average agreeing value, in bits (trained table).

    ``log2(share / u_exact)`` with the raw share ``trained_count / table_total``: +4.8 for a
    1 January seen a hundred times in 50,000 events, about -2 for a name seen once. ``None``
    without a trained table or an ``exact`` level for the field.
    """
    settings = model.tf
    exact = model.params(field, "exact")
    if settings.mode != "events" or not settings.table or exact is None or not value_key:
        return None
    share = trained_count(settings, field, value_key) / max(settings.table_total, 1)
    return math.log2(max(share, settings.min_u) / exact.u)


def tf_weight(model: MatchModel, c: FieldComparison, tf: TermFrequencies | None) -> float:
    """The match weight of a comparison's level, TF-adjusted for ``exact`` and ``sound`` names.

    Args:
        model: the m/u parameters and the TF settings (``model.tf``).
        c: the field comparison (its ``value_key`` is looked up).
        tf: the counted table (watchlist mode); ``None`` for none.

    Returns:
        ``log2(m / u)`` of the level, adjusted as the module docstring says; always finite.
    """
    base = model.weight(c.field, c.level)
    settings = model.tf
    params = model.params(c.field, c.level)
    if (
        c.level not in TF_LEVELS
        or not c.value_key
        or settings.mode == "off"
        or c.field not in settings.fields
        or params is None
    ):
        return base
    key = tf_key(c.field, c.value_key)
    if settings.mode == "events" and settings.table:
        # How many times more common than the average agreeing name (u of ``exact``): a
        # homophone of 张芳 is as much more likely among strangers as 张芳 itself is. The
        # count is shrunk towards u by ``pseudo_count`` virtual occurrences, so a table of a
        # few thousand events (FEBRL) cannot call a name seen twice common.
        reference = (model.params(c.field, "exact") or params).u
        k = settings.pseudo_count
        count = trained_count(settings, c.field, c.value_key)
        trained = (count + k) / (settings.table_total + k / reference)
        lowered = min(0.0, math.log2(reference / max(settings.min_u, trained)))
        return base + settings.weight * lowered
    if tf is None:
        return base
    freq = tf.frequency(key, u=params.u, pseudo_count=settings.pseudo_count, min_u=settings.min_u)
    adjusted = base + settings.weight * math.log2(params.u / freq)
    return adjusted if math.isfinite(adjusted) else base
