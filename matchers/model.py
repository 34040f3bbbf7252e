"""The match model: Fellegi-Sunter m/u probabilities per field and level, prior, tiers, TF.

A :class:`MatchModel` is a frozen dataclass that round-trips to JSON and checks its bounds when
built, reporting every problem at once (like splink's ``settings_creator``)::

    {
      "format": 1,
      "version": "default-1",
      "prior": 0.02,
      "fields": {"name": {"exact": {"m": 0.6, "u": 0.002}, "disagree": {"m": 0.05, "u": 0.95}}},
      "thresholds": {"high": 6.63, "medium": 3.17, "low": 0.0},
      "tf": {"mode": "events", "fields": ["name"], "weight": 1.0, "pseudo_count": 10.0,
             "min_u": 1e-08, "common_name_margin": 2.0,
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
from importlib import resources
from pathlib import Path
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
    "default_model",
    "load_model",
    "logit2",
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
        common_name_margin: a pair whose only support beside the name is the birth date (and
            gender) is no lead when the TF adjustment took at least this many bits off the
            name: a name ``2**margin`` times as common as the average agreeing one does not
            identify with a birthday (:func:`matchers.gate.has_uncommon_name_support`).
    """

    mode: TfMode = "watchlist"
    fields: tuple[FieldName, ...] = ("name",)
    weight: float = 1.0
    pseudo_count: float = 10.0
    min_u: float = 1e-8
    table: Mapping[str, int] = field(default_factory=dict, hash=False)
    table_total: int = 0
    table_unlisted: int = 0
    common_name_margin: float = 2.0

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
            raise ModelFileError(_summary(problems))
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
                "common_name_margin": self.tf.common_name_margin,
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

    @classmethod
    def from_dict(cls, data: object) -> MatchModel:
        """Build from the JSON-ready form, reporting every structural or bound problem at once.

        Raises:
            ModelFileError: listing each problem (``fields.name.exact.m: must be in (0, 1]``).
        """
        return _Parser().model(data)

    @classmethod
    def from_json(cls, text: str | bytes) -> MatchModel:
        """Parse JSON text; see :meth:`from_dict`.

        Raises:
            ModelFileError: the text is not JSON or the model is invalid.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ModelFileError(f"model file is not JSON: {exc}") from exc
        return cls.from_dict(data)


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


def load_model(path: str | Path) -> MatchModel:
    """Read a model file.

    Raises:
        ModelFileError: the file is missing, unreadable, not JSON or invalid.
    """
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    return MatchModel.from_json(text)


def default_model() -> MatchModel:
    """The model shipped in ``matchers/models/default.json``."""
    text = resources.files("matchers").joinpath("models/default.json").read_bytes()
    return MatchModel.from_json(text)


def _table_dict(tf: TermFrequencyParams) -> dict[str, Any]:
    if not tf.table:
        return {}
    # Most frequent first, then by key: a stable, readable file.
    ordered = sorted(tf.table.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "table": {"total": tf.table_total, "unlisted": tf.table_unlisted, "counts": dict(ordered)}
    }


def _summary(problems: list[str]) -> str:
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
    if not (math.isfinite(tf.common_name_margin) and tf.common_name_margin >= 0):
        out.append(f"tf.common_name_margin: must be >= 0, got {tf.common_name_margin!r}")
    if tf.table and not 0 <= tf.table_unlisted <= min(tf.table.values()):
        out.append(f"tf.table.unlisted: must be in [0, smallest count], got {tf.table_unlisted}")
    if tf.table and tf.table_total < max(tf.table.values()):
        out.append(f"tf.table.total: must be >= every count, got {tf.table_total}")
    if any(n < 1 for n in tf.table.values()):
        out.append("tf.table.counts: must be positive integers")
    return out


class _Parser:
    """Reads the JSON form leniently, noting every structural problem, then checks bounds."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def model(self, data: object) -> MatchModel:
        if not isinstance(data, dict):
            raise ModelFileError(_summary(["model: must be a JSON object"]))
        if data.get("format", FORMAT) != FORMAT:
            self.problems.append(f"format: unsupported {data.get('format')!r} (want {FORMAT})")
        version = data.get("version")
        if not isinstance(version, str):
            self.problems.append("version: required string")
            version = "?"
        prior = self.number(data, "prior", "prior")
        fields = self.fields(data.get("fields"))
        th = self.section(data, "thresholds", required=True)
        thresholds = Thresholds(
            high=self.number(th, "high", "thresholds.high"),
            medium=self.number(th, "medium", "thresholds.medium"),
            low=self.number(th, "low", "thresholds.low"),
        )
        tf = self.tf(self.section(data, "tf", required=False))
        bl = self.section(data, "blocking", required=False)
        d = BlockingParams()
        blocking = BlockingParams(
            max_block_size=self.integer(bl, "max_block_size", d.max_block_size),
            max_candidates=self.integer(bl, "max_candidates", d.max_candidates),
        )
        training = self.section(data, "training", required=False)
        try:
            built = MatchModel(version, prior, fields, thresholds, tf, blocking, training)
        except ModelFileError as exc:
            detail = str(exc).split(": ", 1)[1]
            self.problems.extend(p for p in detail.split("; ") if p not in self.problems)
        if self.problems:
            raise ModelFileError(_summary(self.problems))
        return built

    def section(self, data: Mapping[str, Any], key: str, *, required: bool) -> dict[str, Any]:
        value = data.get(key)
        if isinstance(value, dict):
            return value
        if value is not None or required:
            self.problems.append(f"{key}: required object" if required else f"{key}: not an object")
        return {}

    def number(self, data: Mapping[str, Any], key: str, where: str) -> float:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.append(f"{where}: required number")
            return 0.5
        return float(value)

    def integer(self, data: Mapping[str, Any], key: str, default: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(f"blocking.{key}: must be an integer")
            return default
        return value

    def fields(self, data: object) -> dict[FieldName, dict[Level, LevelParams]]:
        if not isinstance(data, dict) or not data:
            self.problems.append("fields: required non-empty object")
            return {}
        out: dict[FieldName, dict[Level, LevelParams]] = {}
        for name, levels in data.items():
            if not isinstance(levels, dict):
                self.problems.append(f"fields.{name}: must be an object of levels")
                continue
            parsed: dict[Level, LevelParams] = {}
            for level, mu in levels.items():
                where = f"fields.{name}.{level}"
                if not isinstance(mu, dict):
                    self.problems.append(f"{where}: must be an object with m and u")
                    continue
                parsed[level] = LevelParams(
                    self.number(mu, "m", f"{where}.m"), self.number(mu, "u", f"{where}.u")
                )
            out[name] = parsed
        return out

    def tf(self, data: Mapping[str, Any]) -> TermFrequencyParams:
        d = TermFrequencyParams()
        table, total, unlisted = self.tf_table(data.get("table"))
        fields = data.get("fields", list(d.fields))
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            self.problems.append("tf.fields: must be a list of field names")
            fields = list(d.fields)
        return TermFrequencyParams(
            mode=data.get("mode", d.mode),
            fields=tuple(fields),
            weight=self.number(data, "weight", "tf.weight") if "weight" in data else d.weight,
            pseudo_count=(
                self.number(data, "pseudo_count", "tf.pseudo_count")
                if "pseudo_count" in data
                else d.pseudo_count
            ),
            min_u=self.number(data, "min_u", "tf.min_u") if "min_u" in data else d.min_u,
            table=table,
            table_total=total,
            table_unlisted=unlisted,
            common_name_margin=(
                self.number(data, "common_name_margin", "tf.common_name_margin")
                if "common_name_margin" in data
                else d.common_name_margin
            ),
        )

    def tf_table(self, data: object) -> tuple[dict[str, int], int, int]:
        if data is None:
            return {}, 0, 0
        counts = data.get("counts") if isinstance(data, dict) else None
        total = data.get("total") if isinstance(data, dict) else None
        unlisted = data.get("unlisted", 0) if isinstance(data, dict) else 0
        if (
            isinstance(unlisted, bool)
            or not isinstance(unlisted, int)
            or not isinstance(counts, dict)
            or isinstance(total, bool)
            or not isinstance(total, int)
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in counts.values())
        ):
            self.problems.append(
                "tf.table: must be {total: int, unlisted: int, counts: {key: int}}"
            )
            return {}, 0, 0
        return {str(k): n for k, n in counts.items()}, total, unlisted
