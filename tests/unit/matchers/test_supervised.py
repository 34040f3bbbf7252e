"""Verdicts re-estimate the model: the fit on synthetic labels, precision/recall, refusals."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random

import pytest

from matchers.levels import FieldName, Level
from matchers.scoring.model import LevelParams, MatchModel, Thresholds
from matchers.scoring.modelfile import default_model, model_from_json
from matchers.training.supervised import (
    Evidence,
    Label,
    TooFewLabels,
    evaluate,
    fit_labels,
    label_from_lead,
    label_score,
    labelled_version,
    split_labels,
)

_FIELDS: tuple[FieldName, ...] = ("name", "id_number", "birth_date", "gender", "phone", "address")


def _draw(rng: random.Random, dist: dict[Level, float]) -> Level:
    levels = list(dist)
    return rng.choices(levels, weights=[dist[lv] for lv in levels])[0]


def _labels(
    truth: MatchModel, scored_by: MatchModel, *, n: int, match: bool, seed: int
) -> list[Label]:
    """Pairs whose levels are drawn from the truth's m (matches) or u (non-matches)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        evidence = []
        for f in _FIELDS:
            levels = truth.fields[f]
            lv = _draw(rng, {k: (p.m if match else p.u) for k, p in levels.items()})
            evidence.append(Evidence(f, lv, scored_by.weight(f, lv), implied=False))
        out.append(Label(f"{'c' if match else 'r'}{seed}-{i}", match, tuple(evidence)))
    return out


def _degraded(truth: MatchModel) -> MatchModel:
    """The truth with the name's m turned around: exact rare, disagree common."""
    fields = {f: dict(levels) for f, levels in truth.fields.items()}
    name = fields["name"]
    name["exact"] = LevelParams(m=0.10, u=name["exact"].u)
    name["sound"] = LevelParams(m=0.05, u=name["sound"].u)
    name["disagree"] = LevelParams(m=0.84, u=name["disagree"].u)
    return dataclasses.replace(truth, fields=fields, version="degraded")


def _distance(a: MatchModel, b: MatchModel, field: FieldName) -> float:
    return sum(abs(a.fields[field][lv].m - p.m) for lv, p in b.fields[field].items())


def test_a_degraded_model_recovers_toward_the_truth() -> None:
    truth = default_model()
    degraded = _degraded(truth)
    labels = _labels(truth, degraded, n=2000, match=True, seed=1)
    labels += _labels(truth, degraded, n=200, match=False, seed=2)
    fitted = fit_labels(degraded, labels, version="v2", strength=200).model
    before, after = _distance(degraded, truth, "name"), _distance(fitted, truth, "name")
    # 2,000 verdicts against 200 pseudo-verdicts: about 91% of the way back.
    assert after < 0.2 * before
    assert fitted.fields["name"]["exact"].m > 0.6
    # The fields that were right stay right (within sampling noise).
    for f in ("id_number", "phone", "address"):
        assert _distance(fitted, truth, f) < 0.05
    # u is never touched.
    assert all(
        fitted.fields[f][lv].u == p.u
        for f, levels in truth.fields.items()
        for lv, p in levels.items()
    )


def test_thirty_verdicts_move_an_m_by_their_share_of_the_strength_only() -> None:
    model = default_model()
    old = model.fields["name"]["exact"].m
    confirmed = [
        Label(f"c{i}", True, (Evidence("name", "exact", model.weight("name", "exact"), False),))
        for i in range(30)
    ]
    rejected = [
        Label(f"r{i}", False, (Evidence("name", "sound", model.weight("name", "sound"), False),))
        for i in range(30)
    ]
    fitted = fit_labels(model, confirmed + rejected, version="v2", strength=200).model
    # (200 * m + 30) / (200 + 30): the 30 verdicts weigh 30/230 against the model.
    assert fitted.fields["name"]["exact"].m == pytest.approx((200 * old + 30) / 230)
    assert fitted.fields["name"]["exact"].m - old < 30 / 230
    # A field no verdict compared keeps its m.
    assert fitted.fields["phone"] == model.fields["phone"]


def _overconfident_labels(model: MatchModel, confirmed: int, rejected: int) -> list[Label]:
    def lead(i: int, match: bool) -> Label:
        fields = (
            Evidence("name", "exact", model.weight("name", "exact"), False),
            Evidence("phone", "exact", model.weight("phone", "exact"), False),
        )
        return Label(f"{match}-{i}", match, fields)

    return [lead(i, True) for i in range(confirmed)] + [lead(i, False) for i in range(rejected)]


def test_many_rejections_of_confident_leads_lower_the_prior_less_with_more_strength() -> None:
    model = default_model()
    labels = _overconfident_labels(model, confirmed=40, rejected=40)
    weak = fit_labels(model, labels, version="v2", strength=10)
    strong = fit_labels(model, labels, version="v2", strength=1000)
    assert weak.prior_shift_bits < strong.prior_shift_bits < 0
    assert weak.model.prior < strong.model.prior < model.prior
    # Half of these leads were wrong: with little strength, they come out near even odds.
    score = label_score(weak.model, labels[0], reference=model)
    assert 0.3 < 1 / (1 + 2**-score) < 0.8


def test_verdicts_that_all_confirm_never_lower_those_leads_scores() -> None:
    model = default_model()
    labels = _overconfident_labels(model, confirmed=40, rejected=0)
    fitted = fit_labels(model, labels, version="v2", min_labels=0).model
    before = label_score(model, labels[0], reference=model)
    assert label_score(fitted, labels[0], reference=model) >= before


def test_no_verdicts_at_all_change_nothing_but_the_version() -> None:
    model = default_model()
    fitted = fit_labels(model, [], version="v2", min_labels=0)
    assert fitted.prior_shift_bits == 0.0
    assert fitted.model.fields == model.fields and fitted.model.version == "v2"
    assert math.isclose(fitted.model.prior, model.prior, rel_tol=1e-9)


def _toy_model() -> MatchModel:
    """Prior 0.5 (0 bits); the name's levels weigh 12, 7, 2 and -3 bits."""
    m: dict[Level, float] = {"exact": 0.4, "typo": 0.3, "partial": 0.2, "disagree": 0.1}
    bits: dict[Level, int] = {"exact": 12, "typo": 7, "partial": 2, "disagree": -3}
    name: dict[Level, LevelParams] = {lv: LevelParams(m=m[lv], u=m[lv] / 2 ** bits[lv]) for lv in m}
    return MatchModel("toy", 0.5, {"name": name}, Thresholds(high=10, medium=5, low=0))


def test_precision_and_recall_on_a_hand_checked_set() -> None:
    model = _toy_model()
    cases = [("exact", True), ("exact", False), ("typo", True)]
    cases += [("partial", True), ("partial", False), ("disagree", True)]
    labels = [
        Label(str(i), match, (Evidence("name", lv, model.weight("name", lv), False),))  # type: ignore[arg-type]
        for i, (lv, match) in enumerate(cases)
    ]
    by_cut = {q.cut: q for q in evaluate(model, labels, reference=model)}
    # high keeps the two exact leads; medium adds typo; low adds the partials.
    assert (by_cut["high"].precision, by_cut["high"].recall) == (0.5, 0.25)
    assert by_cut["medium"].precision == pytest.approx(2 / 3)
    assert by_cut["medium"].recall == 0.5
    assert (by_cut["low"].precision, by_cut["low"].recall) == (0.6, 0.75)
    assert (by_cut["low"].true_positive, by_cut["low"].false_positive) == (3, 2)
    assert by_cut["low"].false_negative == 1


def test_nothing_kept_has_no_precision() -> None:
    model = _toy_model()
    labels = [Label("a", True, (Evidence("name", "disagree", -3.0, False),))]
    high = evaluate(model, labels, reference=model)[0]
    assert high.precision is None
    assert high.recall == 0.0


@pytest.mark.parametrize(("confirmed", "rejected"), [(9, 20), (20, 9), (0, 0)])
def test_too_few_verdicts_of_either_kind_are_refused_with_the_numbers(
    confirmed: int, rejected: int
) -> None:
    model = default_model()
    labels = _overconfident_labels(model, confirmed, rejected)
    with pytest.raises(TooFewLabels) as info:
        fit_labels(model, labels, version="v2", min_labels=10)
    assert f"{confirmed} confirmed and {rejected} rejected" in str(info.value)
    assert "at least 10 of each" in str(info.value)


def test_a_lead_document_becomes_a_label() -> None:
    lead = {
        "lead_id": "L1",
        "status": "confirmed",
        "explanation": {
            "fields": [
                {"field": "id_number", "level": "exact", "weight": 18.0},
                {"field": "birth_date", "level": "exact", "weight": 0.0},
                {"field": "gender", "level": "exact", "weight": 0.0},
                {"field": "phone", "level": "exact", "weight": 0.0},
                {"field": "name", "level": "bogus", "weight": 1.0},
                {"field": "shoe_size", "level": "exact", "weight": 1.0},
                "not an object",
            ]
        },
    }
    label = label_from_lead(lead)
    assert label is not None and label.match
    implied = {e.field: e.implied for e in label.fields}
    # Zero-weight agreements beside an exact id are the id's; the phone's is not.
    assert implied == {"id_number": False, "birth_date": True, "gender": True, "phone": False}
    assert label_from_lead({**lead, "status": "new"}) is None
    assert label_from_lead({**lead, "explanation": "?"}) is None
    assert label_from_lead({**lead, "explanation": {"fields": []}}) is None


def test_the_split_is_seeded_stratified_and_order_free() -> None:
    model = default_model()
    labels = _overconfident_labels(model, confirmed=50, rejected=20)
    fit, held = split_labels(labels, holdout=0.3, seed=7)
    assert (sum(lb.match for lb in held), sum(not lb.match for lb in held)) == (15, 6)
    assert len(fit) + len(held) == 70
    again = split_labels(list(reversed(labels)), holdout=0.3, seed=7)
    assert {lb.lead_id for lb in again[1]} == {lb.lead_id for lb in held}
    other = split_labels(labels, holdout=0.3, seed=8)
    assert {lb.lead_id for lb in other[1]} != {lb.lead_id for lb in held}


def test_the_new_model_is_a_valid_file_with_a_new_version() -> None:
    model = default_model()
    labels = _overconfident_labels(model, confirmed=30, rejected=12)
    version = labelled_version(model.version, len(labels), dt.date(2026, 12, 7))
    fitted = fit_labels(model, labels, version=version).model
    again = model_from_json(fitted.to_json())
    assert again.version == f"{model.version}+labels-42-20261207"
    assert again.training["labels"]["confirmed"] == 30
    assert again.training["labels"]["from_version"] == model.version
    assert math.isclose(again.prior, fitted.prior)
    assert again.thresholds == model.thresholds


def test_a_labelled_lead_is_anchored_as_the_matcher_anchors_it() -> None:
    # 王文 / 王雯 beside a damaged copy of the id, a new phone: below ``low``, yet a lead.
    from matchers.training.supervised import label_tier

    model = default_model()

    def tier(id_level: str, name_level: str) -> str | None:
        fields = (
            Evidence("name", name_level, model.weight("name", name_level) - 4.4, False),  # type: ignore[arg-type]
            Evidence("id_number", id_level, model.weight("id_number", id_level), False),  # type: ignore[arg-type]
            Evidence("phone", "disagree", model.weight("phone", "disagree"), False),
        )
        return label_tier(model, Label("x", True, fields), reference=model)

    assert tier("typo", "sound") == "low"
    assert tier("typo", "exact") == "low"
    assert tier("typo", "partial") is None  # a damaged number beside half a name: no anchor
    assert tier("exact", "partial") == "low"  # the exact anchor as before


def test_a_label_is_anchored_by_the_gates_own_rule() -> None:
    from matchers.fields.ids import CHECKED_ID_KEY
    from matchers.levels import LEVELS
    from matchers.scoring.gate import anchored_by_id
    from matchers.training.supervised import label_tier

    model = default_model()
    for id_level in LEVELS:
        for name_level in LEVELS:
            fields = (
                Evidence("name", name_level, -40.0, False),
                Evidence("id_number", id_level, -40.0, False),
            )
            anchored = label_tier(model, Label("x", True, fields), reference=model) == "low"
            rule = anchored_by_id(id_number=id_level, id_key=CHECKED_ID_KEY, name=name_level)
            assert anchored == rule, (id_level, name_level)
