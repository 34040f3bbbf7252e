"""The model file: read the JSON form of a :class:`~matchers.scoring.model.MatchModel` leniently.

Every structural problem (a missing section, a string where a number belongs) is noted and
reported together with the model's own bound checks in one :class:`ModelFileError`::

    invalid match model (2 problems): prior: required number; fields.name.exact.m: must be ...
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from matchers.errors import ModelFileError
from matchers.levels import FieldName, Level
from matchers.scoring.model import (
    FORMAT,
    BlockingParams,
    LevelParams,
    MatchModel,
    TermFrequencyParams,
    Thresholds,
    summarise_problems,
)

__all__ = ["default_model", "load_model", "model_from_dict", "model_from_json"]


def model_from_dict(data: object) -> MatchModel:
    """Build from the JSON-ready form, reporting every structural or bound problem at once.

    Raises:
        ModelFileError: listing each problem (``fields.name.exact.m: must be in (0, 1]``).
    """
    return _Parser().model(data)


def model_from_json(text: str | bytes) -> MatchModel:
    """Parse JSON text; see :func:`model_from_dict`.

    Raises:
        ModelFileError: the text is not JSON or the model is invalid.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ModelFileError(f"model file is not JSON: {exc}") from exc
    return model_from_dict(data)


def load_model(path: str | Path) -> MatchModel:
    """Read a model file.

    Raises:
        ModelFileError: the file is missing, unreadable, not JSON or invalid.
    """
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror or exc}") from exc
    return model_from_json(text)


def default_model() -> MatchModel:
    """The model shipped in ``matchers/models/default.json``."""
    text = resources.files("matchers").joinpath("models/default.json").read_bytes()
    return model_from_json(text)


class _Parser:
    """Reads the JSON form leniently, noting every structural problem, then checks bounds."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def model(self, data: object) -> MatchModel:
        if not isinstance(data, dict):
            raise ModelFileError(summarise_problems(["model: must be a JSON object"]))
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
            raise ModelFileError(summarise_problems(self.problems))
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

    def integer(
        self, data: Mapping[str, Any], key: str, default: int, where: str | None = None
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.append(f"{where or 'blocking.' + key}: must be an integer")
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
            # An older file's ``common_name_margin`` (the rule the namesake bound replaced) is
            # read past: the bound and population take their defaults unless given.
            population=self.integer(data, "population", d.population, "tf.population"),
            namesake_bound=(
                self.number(data, "namesake_bound", "tf.namesake_bound")
                if "namesake_bound" in data
                else d.namesake_bound
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
