"""The match model: Fellegi-Sunter m/u probabilities per field and level, prior, tiers, TF.

A :class:`MatchModel` is a frozen dataclass that checks its bounds when built, reporting every
problem at once (like splink's ``settings_creator``), and writes the JSON form that
:mod:`matchers.scoring.modelfile` reads back::

    {
      "format": 1,
      "version": "default-1",
      "prior": 0.02,
      "fields": {"name": {"exact": {"m": 0.6, "u": 0.002}, "disagree": {"m": 0.05, "u": 0.95}}},
      "thresholds": {"high": 6.63, "medium": 3.17, "low": 0.0},
      "tf": {"mode": "events", "fields": ["name"], "weight": 1.0, "pseudo_count": 10.0,
             "min_u": 1e-08, "population": 10081232, "namesake_bound": 0.01,
             "table": {"total": 49750, "unlisted": 1, "counts": {"name:张伟": 31}}},
      "blocking": {"max_block_size": 100, "max_candidates": 20},
      "training": {}
    }

The weight of a level is ``log2(m / u)``; ``missing`` (and any level the model does not list)
weighs 0. Thresholds are on the total score (prior log-odds plus the weights) and are chosen
without labels, from posterior probabilities (:func:`thresholds_from_probabilities`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from matchers.errors import ModelFileError
from matchers.levels import LEVELS, FieldName, Level

__all__ = [
    "FIELDS",
    "FORMAT",
    "SCORED_LEVELS",
    "TIER_PROBABILITIES",
    "BlockingParams",
    "LevelParams",
    "MatchModel",
    "TermFrequencyParams",
    "TfMode",
    "Thresholds",
    "logit2",
    "summarise_problems",
    "thresholds_from_probabilities",
]

FORMAT = 1
TfMode = Literal["watchlist", "events", "off"]
FIELDS: tuple[FieldName, ...] = ("name", "id_number", "birth_date", "gender", "phone", "address")
SCORED_LEVELS: tuple[Level, ...] = tuple(lv for lv in LEVELS if lv != "missing")
_TF_MODES: tuple[TfMode, ...] = ("watchlist", "events", "off")


def logit2(probability: float) -> float:
    """Return the log2-odds of a probability in (0, 1): ``0.99 -> 6.63``, ``0.5 -> 0``."""
    return math.log2(probability / (1.0 - probability))


@dataclass(frozen=True, slots=True)
class LevelParams:
    """The m and u probabilities of one agreement level of one field.

    Attributes:
        m: P(level | the pair is the same person).
        u: P(level | the pair is two different people).
    """

    m: float
    u: float

    @property
    def weight(self) -> float:
        """The match weight ``log2(m / u)``."""
        return math.log2(self.m / self.u)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Minimum total scores of the lead tiers (``low`` is the minimum for any lead)."""

    high: float
    medium: float
    low: float


@dataclass(frozen=True, slots=True)
class TermFrequencyParams:
    """Term-frequency adjustment of exact/sound agreements (splink's TF adjustment).

    Attributes:
        mode: count values over the ``watchlist`` (default), over ``events`` (with a
            ``table`` trained from an event stream by ``tracer train``; without one, counted
            over the events seen, which depends on event order), or ``off``.
        fields: the fields adjusted.
        weight: how much of the adjustment applies (0..1, splink's ``tf_adjustment_weight``).
        pseudo_count: smoothing: this many virtual occurrences at the model's u, so a small
            table barely moves the weight (10 for a counted watchlist; 1 in a trained table).
        min_u: floor of an adjusted u (splink's ``tf_minimum_u_value``).
        table: the most frequent TF keys (``name:张伟``) over a training event stream and how
            often each occurred; a key not in it keeps the model's weight.
        table_total: how many events the table was counted over.
        table_unlisted: the count a key not in the table is taken to have: the largest count
            left out (``min_count - 1`` when the table holds every key seen that often).
        population: how many people the feed covers (the region's registered population:
            Hainan's 10,081,232 in the 2020 census by default): with the table's name and
            birth-date shares, how many others are expected to share a name, birth date and
            gender (:func:`matchers.scoring.gate.expected_namesakes`).
        namesake_bound: a pair whose only support beside the name is the birth date and gender
            is a lead only when fewer than this many such others are expected: 0.01, a
            namesake born the same day less likely than 1 in 100, the ``low`` tier's own
            posterior floor of 0.99 (:func:`matchers.scoring.gate.uncommon_name_support`).
    """

    mode: TfMode = "watchlist"
    fields: tuple[FieldName, ...] = ("name",)
    weight: float = 1.0
    pseudo_count: float = 10.0
    min_u: float = 1e-8
    table: Mapping[str, int] = field(default_factory=dict, hash=False)
    table_total: int = 0
    table_unlisted: int = 0
    population: int = 10_081_232
    namesake_bound: float = 0.01

    def table_count(self, key: str) -> int:
        """How often ``key`` was seen in the trained events (``table_unlisted`` if not listed)."""
        return self.table.get(key, self.table_unlisted)


@dataclass(frozen=True, slots=True)
class BlockingParams:
    """Guards of the blocking index.

    Attributes:
        max_block_size: a key filing more people than this finds nobody on its own.
        max_candidates: at most this many candidates are scored per event.
    """

    max_block_size: int = 100
    max_candidates: int = 20


@dataclass(frozen=True)
class MatchModel:
    """A Fellegi-Sunter model; raises :class:`ModelFileError` listing every bound violated.

    Attributes:
        version: names the model on every lead.
        prior: P(match) of a blocked candidate pair, from EM.
        fields: per field, per level, the m/u probabilities.
        thresholds: tier boundaries on the total score.
        tf: term-frequency adjustment settings.
        blocking: blocking guards.
        training: free-form notes on how the model was trained.
    """

    version: str
    prior: float
    fields: Mapping[FieldName, Mapping[Level, LevelParams]]
    thresholds: Thresholds
    tf: TermFrequencyParams = TermFrequencyParams()
    blocking: BlockingParams = BlockingParams()
    training: Mapping[str, Any] = field(default_factory=dict)
    _weights: dict[tuple[str, str], float] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        problems = _bounds_problems(self)
        if problems:
            raise ModelFileError(summarise_problems(problems))
        for name, levels in self.fields.items():
            for level, params in levels.items():
                self._weights[(name, level)] = params.weight

    @property
    def prior_weight(self) -> float:
        """The prior log2-odds that every total score starts from."""
        return logit2(self.prior)

    def weight(self, field_name: str, level: str) -> float:
        """The match weight of a level; 0 for ``missing`` or a level the model does not list."""
        return self._weights.get((field_name, level), 0.0)

    def params(self, field_name: str, level: str) -> LevelParams | None:
        """The m/u probabilities of a level, or ``None`` when the model does not list it."""
        levels = self.fields.get(cast(FieldName, field_name))
        return None if levels is None else levels.get(cast(Level, level))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (see the module docstring)."""
        return {
            "format": FORMAT,
            "version": self.version,
            "prior": self.prior,
            "fields": {
                f: {lv: {"m": p.m, "u": p.u} for lv, p in levels.items()}
                for f, levels in self.fields.items()
            },
            "thresholds": {
                "high": self.thresholds.high,
                "medium": self.thresholds.medium,
                "low": self.thresholds.low,
            },
            "tf": {
                "mode": self.tf.mode,
                "fields": list(self.tf.fields),
                "weight": self.tf.weight,
                "pseudo_count": self.tf.pseudo_count,
                "min_u": self.tf.min_u,
                "population": self.tf.population,
                "namesake_bound": self.tf.namesake_bound,
                **_table_dict(self.tf),
            },
            "blocking": {
                "max_block_size": self.blocking.max_block_size,
                "max_candidates": self.blocking.max_candidates,
            },
            "training": dict(self.training),
        }

    def to_json(self) -> str:
        """Serialise to indented, key-sorted JSON (stable diffs)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# Posterior match probabilities of the tier floors. Every tier is indexed and shown to
# officers, so even ``low`` must be precise: its floor says "the model expects at most one
# wrong lead in a hundred" (0.5 would knowingly index coin flips).
TIER_PROBABILITIES: dict[str, float] = {"high": 0.999, "medium": 0.995, "low": 0.99}


def thresholds_from_probabilities(
    high: float = TIER_PROBABILITIES["high"],
    medium: float = TIER_PROBABILITIES["medium"],
    low: float = TIER_PROBABILITIES["low"],
) -> Thresholds:
    """Tier thresholds on the score from posterior probabilities (no labels needed)."""
    return Thresholds(high=logit2(high), medium=logit2(medium), low=logit2(low))


def _table_dict(tf: TermFrequencyParams) -> dict[str, Any]:
    if not tf.table:
        return {}
    # Most frequent first, then by key: a stable, readable file.
    ordered = sorted(tf.table.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "table": {"total": tf.table_total, "unlisted": tf.table_unlisted, "counts": dict(ordered)}
    }


def summarise_problems(problems: list[str]) -> str:
    """One message listing every problem: ``invalid match model (2 problems): a; b``."""
    n = len(problems)
    return f"invalid match model ({n} problem{'s' if n != 1 else ''}): " + "; ".join(problems)


def _prob_problem(where: str, value: float, *, zero_ok: bool = False) -> str | None:
    low_ok = value >= 0.0 if zero_ok else value > 0.0
    if not (math.isfinite(value) and low_ok and value <= 1.0):
        bound = "[0, 1]" if zero_ok else "(0, 1]"
        return f"{where}: must be in {bound}, got {value!r}"
    return None


def _bounds_problems(model: MatchModel) -> list[str]:
    out: list[str] = []
    if not isinstance(model.version, str) or not model.version.strip():
        out.append("version: must be a non-empty string")
    if not (math.isfinite(model.prior) and 0.0 < model.prior < 1.0):
        out.append(f"prior: must be in (0, 1), got {model.prior!r}")
    out.extend(_field_problems(model.fields))
    t = model.thresholds
    if not all(math.isfinite(x) for x in (t.high, t.medium, t.low)):
        out.append("thresholds: must be finite numbers")
    elif not t.high >= t.medium >= t.low:
        out.append(f"thresholds: need high >= medium >= low, got {t.high}/{t.medium}/{t.low}")
    out.extend(_tf_problems(model.tf))
    b = model.blocking
    if b.max_block_size < 1:
        out.append(f"blocking.max_block_size: must be >= 1, got {b.max_block_size}")
    if b.max_candidates < 1:
        out.append(f"blocking.max_candidates: must be >= 1, got {b.max_candidates}")
    return out


def _field_problems(fields: Mapping[FieldName, Mapping[Level, LevelParams]]) -> list[str]:
    out: list[str] = []
    for name, levels in fields.items():
        if name not in FIELDS:
            out.append(f"fields.{name}: unknown field (known: {', '.join(FIELDS)})")
        for level, p in levels.items():
            if level not in SCORED_LEVELS:
                out.append(f"fields.{name}.{level}: unknown level (known: {SCORED_LEVELS})")
            for attr in ("m", "u"):
                problem = _prob_problem(f"fields.{name}.{level}.{attr}", getattr(p, attr))
                if problem:
                    out.append(problem)
        for attr in ("m", "u"):
            total = sum(getattr(p, attr) for p in levels.values())
            if math.isfinite(total) and total > 1.0 + 1e-6:
                out.append(f"fields.{name}: {attr} over the levels sums to {total:.6g} > 1")
    return out


def _tf_problems(tf: TermFrequencyParams) -> list[str]:
    out: list[str] = []
    if tf.mode not in _TF_MODES:
        out.append(f"tf.mode: must be one of {', '.join(_TF_MODES)}, got {tf.mode!r}")
    out.extend(f"tf.fields: unknown field {f!r}" for f in tf.fields if f not in FIELDS)
    problem = _prob_problem("tf.weight", tf.weight, zero_ok=True)
    if problem:
        out.append(problem)
    if not (math.isfinite(tf.pseudo_count) and tf.pseudo_count >= 0):
        out.append(f"tf.pseudo_count: must be >= 0, got {tf.pseudo_count!r}")
    problem = _prob_problem("tf.min_u", tf.min_u)
    if problem:
        out.append(problem)
    if isinstance(tf.population, bool) or not isinstance(tf.population, int) or tf.population < 1:
        out.append(f"tf.population: must be a positive integer, got {tf.population!r}")
    if not (math.isfinite(tf.namesake_bound) and tf.namesake_bound > 0):
        out.append(f"tf.namesake_bound: must be > 0, got {tf.namesake_bound!r}")
    if tf.table and not 0 <= tf.table_unlisted <= min(tf.table.values()):
        out.append(f"tf.table.unlisted: must be in [0, smallest count], got {tf.table_unlisted}")
    if tf.table and tf.table_total < max(tf.table.values()):
        out.append(f"tf.table.total: must be >= every count, got {tf.table_total}")
    if any(n < 1 for n in tf.table.values()):
        out.append("tf.table.counts: must be positive integers")
    return out
