"""The model file: JSON round-trip, bounds checked at build time, every problem reported."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matchers.errors import ModelFileError
from matchers.scoring.model import (
    LevelParams,
    MatchModel,
    Thresholds,
    logit2,
    thresholds_from_probabilities,
)
from matchers.scoring.modelfile import default_model, load_model, model_from_dict, model_from_json


def _model(**changes: object) -> MatchModel:
    data = default_model().to_dict()
    data.update(changes)
    return model_from_dict(data)


def test_default_model_loads_and_lists_every_field() -> None:
    model = default_model()
    assert set(model.fields) == {"name", "id_number", "birth_date", "gender", "phone", "address"}
    assert model.thresholds.high >= model.thresholds.medium >= model.thresholds.low


def test_weight_is_log2_m_over_u_and_missing_is_zero() -> None:
    model = default_model()
    p = model.fields["id_number"]["exact"]
    assert model.weight("id_number", "exact") == pytest.approx(math.log2(p.m / p.u))
    assert model.weight("id_number", "missing") == 0.0
    assert model.weight("gender", "sound") == 0.0  # a level the model does not list


def test_json_round_trip_is_identity(tmp_path: Path) -> None:
    model = default_model()
    path = tmp_path / "m.json"
    path.write_text(model.to_json())
    assert load_model(path) == model
    assert model_from_json(model.to_json()).to_json() == model.to_json()


@given(
    prior=st.floats(1e-6, 1 - 1e-6),
    m=st.floats(1e-6, 0.999),
    u=st.floats(1e-9, 0.999),
    probs=st.tuples(st.floats(0.5, 0.999), st.floats(0.5, 0.999), st.floats(0.5, 0.999)),
    tf_weight=st.floats(0, 1),
)
def test_round_trip_property(
    prior: float, m: float, u: float, probs: tuple[float, float, float], tf_weight: float
) -> None:
    high, medium, low = sorted(probs, reverse=True)
    data = default_model().to_dict()
    data["prior"] = prior
    data["fields"]["gender"] = {
        "exact": {"m": m, "u": u},
        "disagree": {"m": 1 - m, "u": 1 - u},
    }
    data["thresholds"] = {"high": logit2(high), "medium": logit2(medium), "low": logit2(low)}
    data["tf"]["weight"] = tf_weight
    model = model_from_dict(data)
    assert model_from_json(model.to_json()) == model


@pytest.mark.parametrize(
    ("description", "change", "expected"),
    [
        ("prior of one", {"prior": 1.0}, "prior: must be in (0, 1)"),
        ("prior not a number", {"prior": "high"}, "prior: required number"),
        ("no version", {"version": None}, "version: required string"),
        ("thresholds upside down", {"thresholds": {"high": 0, "medium": 1, "low": 2}}, "high >="),
        ("fields missing", {"fields": {}}, "fields: required non-empty object"),
        ("unknown tf mode", {"tf": {"mode": "sometimes"}}, "tf.mode"),
        ("bad block size", {"blocking": {"max_block_size": 0}}, "blocking.max_block_size"),
        ("wrong format", {"format": 99}, "format: unsupported"),
    ],
)
def test_invalid_model_names_the_problem(
    description: str, change: dict[str, object], expected: str
) -> None:
    with pytest.raises(ModelFileError, match=None) as raised:
        _model(**change)
    assert expected in str(raised.value), description


def test_every_problem_is_reported_at_once() -> None:
    data = default_model().to_dict()
    data["prior"] = 0
    data["fields"]["name"]["exact"] = {"m": 1.5, "u": 0}
    data["fields"]["phone"]["typo"] = {"m": "x"}
    data["fields"]["shoe_size"] = {"exact": {"m": 0.5, "u": 0.5}}
    data["thresholds"]["low"] = 100
    with pytest.raises(ModelFileError) as raised:
        model_from_dict(data)
    text = str(raised.value)
    for expected in (
        "prior: must be in (0, 1)",
        "fields.name.exact.m: must be in (0, 1]",
        "fields.name.exact.u: must be in (0, 1]",
        "fields.phone.typo.m: required number",
        "fields.phone.typo.u: required number",
        "fields.shoe_size: unknown field",
        "thresholds: need high >= medium >= low",
    ):
        assert expected in text
    assert "7 problems" in text or "problems" in text


def test_m_over_levels_must_not_exceed_one() -> None:
    fields = dict(default_model().fields)
    fields["gender"] = {"exact": LevelParams(0.9, 0.5), "disagree": LevelParams(0.9, 0.5)}
    with pytest.raises(ModelFileError, match=r"fields\.gender: m over the levels sums to 1\.8"):
        MatchModel("v", 0.1, fields, Thresholds(1, 0, 0))


def test_built_in_python_is_checked_too() -> None:
    with pytest.raises(ModelFileError, match="prior"):
        MatchModel("v", -1.0, default_model().fields, Thresholds(1, 0, 0))


@pytest.mark.parametrize("text", [b"", b"{", b"[]", b"null"])
def test_garbage_file_is_a_model_file_error(text: bytes) -> None:
    with pytest.raises(ModelFileError):
        model_from_json(text)


def test_missing_file_is_a_model_file_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot read model file"):
        load_model(tmp_path / "absent.json")


def test_thresholds_from_probabilities() -> None:
    t = thresholds_from_probabilities(0.99, 0.9, 0.5)
    assert t.high == pytest.approx(math.log2(99))
    assert t.medium == pytest.approx(math.log2(9))
    assert t.low == 0.0


def test_model_file_is_sorted_json() -> None:
    text = default_model().to_json()
    assert json.loads(text) == default_model().to_dict()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- the trained name table ---------------------------------------------------------------------


def test_the_shipped_model_carries_a_trained_name_table() -> None:
    tf = default_model().tf
    assert tf.mode == "events"
    assert tf.table and tf.table_total >= max(tf.table.values())
    assert 0 <= tf.table_unlisted <= min(tf.table.values())
    assert tf.table_count("name:no such name") == tf.table_unlisted


def test_a_table_round_trips_most_frequent_first() -> None:
    data = default_model().to_dict()
    data["tf"]["table"] = {"total": 100, "unlisted": 1, "counts": {"name:b": 2, "name:a": 9}}
    model = model_from_dict(data)
    assert model.tf.table == {"name:a": 9, "name:b": 2}
    assert list(model.to_dict()["tf"]["table"]["counts"]) == ["name:a", "name:b"]
    assert model_from_json(model.to_json()) == model


def test_a_model_without_a_table_writes_none() -> None:
    data = default_model().to_dict()
    del data["tf"]["table"]
    data["tf"]["mode"] = "watchlist"
    model = model_from_dict(data)
    assert "table" not in model.to_dict()["tf"]
    assert model.tf.table == {} and model.tf.namesake_bound == 0.01


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"total": 10, "counts": {"name:a": 11}}, "tf.table.total"),
        ({"total": 10, "unlisted": 5, "counts": {"name:a": 3}}, "tf.table.unlisted"),
        ({"total": 10, "counts": {"name:a": 0}}, "tf.table.counts"),
        ({"total": "many", "counts": {}}, "tf.table: must be"),
        ({"total": 10, "counts": {"name:a": 1.5}}, "tf.table: must be"),
    ],
)
def test_a_broken_table_names_the_problem(table: dict[str, object], expected: str) -> None:
    data = default_model().to_dict()
    data["tf"]["table"] = table
    with pytest.raises(ModelFileError) as raised:
        model_from_dict(data)
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("namesake_bound", -1), ("namesake_bound", 0), ("population", 0), ("population", 1.5)],
)
def test_a_bound_or_population_out_of_range_is_refused(key: str, value: float) -> None:
    data = default_model().to_dict()
    data["tf"][key] = value
    with pytest.raises(ModelFileError, match=f"tf.{key}"):
        model_from_dict(data)


def test_an_older_file_with_the_common_name_margin_still_loads() -> None:
    data = default_model().to_dict()
    data["tf"]["common_name_margin"] = 2.0
    del data["tf"]["population"], data["tf"]["namesake_bound"]
    model = model_from_dict(data)
    assert (model.tf.population, model.tf.namesake_bound) == (10_081_232, 0.01)
