"""Verdicts teach the model: re-estimate a match model from officers' confirmed/rejected leads.

A confirmed lead is a labelled match, a rejected one a labelled non-match; each carries its
per-field agreement levels in ``explanation.fields[].level`` (:func:`label_from_lead`).

How the labels move the model, and by how much (``strength``, the *prior strength*): the
current model counts as ``strength`` verdicts that agree with it, so ``n`` labels weigh
``n / (n + strength)`` against it. With the default 200, thirty verdicts move a parameter at
most 13% of the way to what they alone say; a thousand move it 83% of the way.

1. **m** (P(level | match)) per field: the posterior mean of a Dirichlet whose prior is the
   current m times ``strength``: ``m' = (strength * m + n_level) / (strength + n_field)``,
   counted over the confirmed leads where the field was compared (``missing`` and the
   agreements an exact id implies left out, as EM leaves them out).
2. **prior** (P(match) of a random pair): leads exist only above a score, so the labels are
   a sample *selected on the score*; a count of matches over them says nothing about random
   pairs. What the labels can say, under that selection, is whether the scores are
   calibrated: one shift ``delta`` of the prior log-odds is fitted by the conditional
   likelihood of the verdicts given the scores (valid whatever selected the pairs), against
   ``strength`` pseudo-verdicts drawn from the current model's own probabilities.
3. **u** is kept: rejected leads are the look-alikes that passed the lead gate, not random
   pairs, and their level shares would call every agreement common.
4. Tier thresholds are kept (posterior probabilities,
:data:`matchers.scoring.model.TIER_PROBABILITIES`).

Confirmed leads are a selected sample of matches too (the ones that scored high enough to be
leads), so the m's they give lean towards agreement; the strength keeps that a nudge.

Scores are recomputed from a label's levels (:func:`label_score`): the model's weight of each
compared level, plus what the lead's own name weight said beyond the current model's (its
term-frequency adjustment); fields that weighed 0 on the lead (implied by the id, or counted
once with the household) weigh 0 again.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from contract import TIER_RANK, TIERS, Tier

from matchers.errors import TracerError
from matchers.fields.ids import CHECKED_ID_KEY
from matchers.levels import LEVELS, FieldName, Level
from matchers.scoring.gate import anchored_by_id
from matchers.scoring.model import FIELDS, LevelParams, MatchModel, logit2
from matchers.scoring.score import clamp_score, probability_of, tier_of

__all__ = [
    "CUTS",
    "DEFAULT_STRENGTH",
    "MIN_LABELS",
    "Cut",
    "Evidence",
    "Label",
    "LabelFit",
    "Quality",
    "TooFewLabels",
    "Verdict",
    "evaluate",
    "fit_labels",
    "label_from_lead",
    "label_score",
    "label_tier",
    "labelled_version",
    "split_labels",
]

Verdict = Literal["confirmed", "rejected"]
#: The tier cuts precision and recall are reported at: a lead "says match" at ``medium``
#: when its tier is medium or high.
Cut = Tier
CUTS: tuple[Cut, ...] = TIERS
#: How many verdicts the current model counts as (see the module docstring).
DEFAULT_STRENGTH = 200.0
#: The fewest verdicts of each kind a fit accepts.
MIN_LABELS = 10
_IMPLIABLE: frozenset[str] = frozenset({"birth_date", "gender"})
# The prior's shift is searched within +-60 bits (the score clamp): beyond, every
# probability is 0 or 1 anyway.
_SHIFT_BOUND_BITS = 60.0
_SHIFT_TOLERANCE_BITS = 1e-9


class TooFewLabels(TracerError):
    """Too few verdicts of one kind to fit (the message says how many of each)."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One field of a labelled lead.

    Attributes:
        field: the field.
        level: its agreement level on the lead.
        weight: its weight on the lead (0 when implied, household-once or missing).
        implied: an agreement the exact id already counted (left out of m, as EM does).
    """

    field: FieldName
    level: Level
    weight: float
    implied: bool


@dataclass(frozen=True, slots=True)
class Label:
    """An officer's verdict on one lead, with the lead's evidence.

    Attributes:
        lead_id: the lead.
        match: confirmed (``True``) or rejected (``False``).
        fields: the lead's per-field evidence.
        model_version: the version of the model that scored the lead (``None``: unknown).
    """

    lead_id: str
    match: bool
    fields: tuple[Evidence, ...]
    model_version: str | None = None


@dataclass(frozen=True, slots=True)
class Quality:
    """Precision and recall of "tier at or above ``cut``" against the verdicts.

    Attributes:
        cut: the lowest tier that counts as "says match".
        true_positive: confirmed leads at or above the cut.
        false_positive: rejected leads at or above the cut.
        false_negative: confirmed leads below it.
    """

    cut: Cut
    true_positive: int
    false_positive: int
    false_negative: int

    @property
    def precision(self) -> float | None:
        """Confirmed share of what the cut keeps; ``None`` when it keeps nothing."""
        kept = self.true_positive + self.false_positive
        return self.true_positive / kept if kept else None

    @property
    def recall(self) -> float | None:
        """Share of the confirmed leads the cut keeps; ``None`` without confirmed leads."""
        confirmed = self.true_positive + self.false_negative
        return self.true_positive / confirmed if confirmed else None


@dataclass(frozen=True, slots=True)
class LabelFit:
    """A model re-estimated from verdicts.

    Attributes:
        model: the new model (new version, ``training.labels`` notes).
        confirmed: confirmed verdicts fitted.
        rejected: rejected verdicts fitted.
        prior_shift_bits: how far the prior log-odds moved.
    """

    model: MatchModel
    confirmed: int
    rejected: int
    prior_shift_bits: float


def label_from_lead(lead: Mapping[str, Any]) -> Label | None:
    """The label of a lead document, or ``None`` when it has no verdict or no usable evidence.

    Example:
        >>> lead = {"lead_id": "L1", "status": "rejected", "explanation": {"fields": [
        ...     {"field": "name", "level": "exact", "weight": 12.5}]}}
        >>> label_from_lead(lead).match, label_from_lead(lead).fields[0].level
        (False, 'exact')
    """
    status, lead_id = lead.get("status"), lead.get("lead_id")
    if status not in ("confirmed", "rejected") or not isinstance(lead_id, str):
        return None
    explanation = lead.get("explanation")
    raw = explanation.get("fields") if isinstance(explanation, Mapping) else None
    if not isinstance(raw, list):
        return None
    evidence = _evidence(raw)
    if not evidence:
        return None
    version = lead.get("model_version")
    return Label(
        lead_id=lead_id,
        match=status == "confirmed",
        fields=evidence,
        model_version=version if isinstance(version, str) else None,
    )


def _evidence(raw: list[Any]) -> tuple[Evidence, ...]:
    found: dict[FieldName, tuple[Level, float]] = {}
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        name, level, weight = item.get("field"), item.get("level"), item.get("weight", 0.0)
        if name not in FIELDS or level not in LEVELS or name in found:
            continue
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            continue
        found[name] = (level, float(weight) if math.isfinite(weight) else 0.0)
    id_exact = found.get("id_number", ("missing", 0.0))[0] == "exact"
    return tuple(
        Evidence(
            field=name,
            level=level,
            weight=weight,
            # An implied agreement weighs exactly 0 on the lead; a counted one never does.
            implied=id_exact and name in _IMPLIABLE and level == "exact" and weight == 0.0,
        )
        for name, (level, weight) in found.items()
    )


def label_score(model: MatchModel, label: Label, *, reference: MatchModel) -> float:
    """The total score of a labelled pair under ``model`` (see the module docstring).

    ``reference`` is the model the leads are taken to be scored with: a name weight that
    differs from its level's weight there is a term-frequency adjustment, kept as it was.
    """
    total = model.prior_weight
    for e in label.fields:
        if e.level == "missing" or e.weight == 0.0:
            continue
        offset = e.weight - reference.weight(e.field, e.level) if e.field == "name" else 0.0
        total += model.weight(e.field, e.level) + offset
    return clamp_score(total)


def label_tier(model: MatchModel, label: Label, *, reference: MatchModel) -> Tier | None:
    """The tier ``model`` gives a labelled pair (the gate's id anchor, on its levels)."""
    levels = {e.field: e.level for e in label.fields}
    # A lead keeps its levels but not the id's value key, which says whether both numbers
    # passed their check: an exact id on a lead is read as checked (every id anchor a lead
    # was made by is; an unchecked exact id still counts its weight in the score).
    anchored = anchored_by_id(
        id_number=levels.get("id_number", "missing"),
        id_key=CHECKED_ID_KEY,
        name=levels.get("name"),
    )
    score = label_score(model, label, reference=reference)
    return tier_of(model, score, eligible=True, anchored=anchored)


def evaluate(
    model: MatchModel, labels: Sequence[Label], *, reference: MatchModel
) -> tuple[Quality, ...]:
    """Precision and recall of each tier cut of ``model`` on ``labels``."""
    tiers = [(label_tier(model, lb, reference=reference), lb.match) for lb in labels]
    out = []
    for cut in CUTS:
        # No tier (no lead) ranks below every cut.
        kept = [(TIER_RANK.get(t or "", 0) >= TIER_RANK[cut], match) for t, match in tiers]
        out.append(
            Quality(
                cut=cut,
                true_positive=sum(1 for k, m in kept if k and m),
                false_positive=sum(1 for k, m in kept if k and not m),
                false_negative=sum(1 for k, m in kept if not k and m),
            )
        )
    return tuple(out)


def split_labels(
    labels: Sequence[Label], *, holdout: float, seed: int
) -> tuple[list[Label], list[Label]]:
    """Split into (fit, held back), seeded and per verdict kind, so both kinds are held back.

    The same labels (in any order) and seed give the same split: they are ordered by lead id
    before the shuffle.
    """
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    rng = random.Random(seed)
    fit: list[Label] = []
    held: list[Label] = []
    for kind in (True, False):
        group = sorted((lb for lb in labels if lb.match is kind), key=lambda lb: lb.lead_id)
        rng.shuffle(group)
        n_held = round(holdout * len(group))
        held.extend(group[:n_held])
        fit.extend(group[n_held:])
    return fit, held


def fit_labels(
    model: MatchModel,
    labels: Sequence[Label],
    *,
    version: str,
    strength: float = DEFAULT_STRENGTH,
    min_labels: int = MIN_LABELS,
) -> LabelFit:
    """Re-estimate ``model``'s m's and prior from verdicts (see the module docstring).

    Args:
        model: the current model (also the reference the leads were scored with).
        labels: the verdicts to fit.
        version: the new model's version.
        strength: how many verdicts the current model counts as (> 0).
        min_labels: the fewest confirmed and the fewest rejected verdicts accepted.

    Returns:
        The new model and what went into it.

    Raises:
        TooFewLabels: fewer than ``min_labels`` of either kind.
        ValueError: ``strength`` is not a positive finite number.
    """
    if not (math.isfinite(strength) and strength > 0):
        raise ValueError(f"strength must be a positive number, got {strength}")
    confirmed = [lb for lb in labels if lb.match]
    rejected = len(labels) - len(confirmed)
    if len(confirmed) < min_labels or rejected < min_labels:
        raise TooFewLabels(
            f"too few verdicts to fit: {len(confirmed)} confirmed and {rejected} rejected "
            f"(need at least {min_labels} of each)"
        )
    fields = _blended_m(model, confirmed, strength)
    with_m = replace(model, fields=fields, version=version)
    shift = _prior_shift(model, with_m, labels, strength)
    prior = _shifted_prior(model.prior, shift)
    notes = _notes(model, len(confirmed), rejected, strength, shift)
    new = replace(with_m, prior=prior, training={**model.training, "labels": notes})
    return LabelFit(model=new, confirmed=len(confirmed), rejected=rejected, prior_shift_bits=shift)


def _blended_m(
    model: MatchModel, confirmed: Sequence[Label], strength: float
) -> dict[FieldName, dict[Level, LevelParams]]:
    counts: Counter[tuple[FieldName, Level]] = Counter(
        (e.field, e.level)
        for lb in confirmed
        for e in lb.fields
        if e.level != "missing" and not e.implied
    )
    out: dict[FieldName, dict[Level, LevelParams]] = {}
    for name, levels in model.fields.items():
        seen = sum(counts[(name, lv)] for lv in levels)
        if not seen:  # no verdict compared the field: its m stays exactly as it was
            out[name] = dict(levels)
            continue
        out[name] = {
            lv: LevelParams(m=(strength * p.m + counts[(name, lv)]) / (strength + seen), u=p.u)
            for lv, p in levels.items()
        }
    return out


def _prior_shift(
    current: MatchModel, with_m: MatchModel, labels: Sequence[Label], strength: float
) -> float:
    """The prior log-odds shift (bits) that best explains the verdicts, held to the model.

    Maximises ``sum_i w_i [t_i log p_i(d) + (1 - t_i) log(1 - p_i(d))]`` over ``d``: each
    verdict with weight 1 and target 1/0, plus ``strength`` pseudo-verdicts spread over the
    same pairs with the current model's probabilities as targets. The objective is concave
    in ``d``; its derivative, decreasing, is bisected to zero.
    """
    if not labels:
        return 0.0
    pseudo = strength / len(labels)
    # Identical levels give identical scores: a term per distinct (score, target), weighted.
    terms: defaultdict[tuple[float, float], float] = defaultdict(float)
    for lb in labels:
        score = label_score(with_m, lb, reference=current)
        terms[(score, 1.0 if lb.match else 0.0)] += 1.0
        terms[(score, probability_of(label_score(current, lb, reference=current)))] += pseudo

    def slope(shift: float) -> float:
        return sum(w * (t - probability_of(s + shift)) for (s, t), w in terms.items())

    low, high = -_SHIFT_BOUND_BITS, _SHIFT_BOUND_BITS
    while high - low > _SHIFT_TOLERANCE_BITS:  # 37 halvings of 120 bits
        middle = (low + high) / 2
        if slope(middle) > 0:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _shifted_prior(prior: float, shift: float) -> float:
    log_odds = logit2(prior) + shift
    # The model demands 0 < prior < 1; a probability this close to either end is one anyway.
    probability: float = 1.0 / (1.0 + 2.0**-log_odds)
    return min(1.0 - 1e-12, max(1e-15, probability))


def _notes(
    model: MatchModel, confirmed: int, rejected: int, strength: float, shift: float
) -> dict[str, Any]:
    return {
        "method": "m: Dirichlet posterior mean over confirmed leads, prior: the current m times "
        "strength; prior: log-odds shift by the verdicts' conditional likelihood against "
        "strength pseudo-verdicts of the current model; u and tiers kept",
        "from_version": model.version,
        "confirmed": confirmed,
        "rejected": rejected,
        "strength": strength,
        "prior_shift_bits": round(shift, 6),
    }


def labelled_version(old: str, labels: int, today: dt.date) -> str:
    """The new model's version: ``<old>+labels-<n>-<YYYYMMDD>``.

    Example:
        >>> labelled_version("em-3f2a", 120, dt.date(2026, 12, 7))
        'em-3f2a+labels-120-20261207'
    """
    return f"{old}+labels-{labels}-{today:%Y%m%d}"
