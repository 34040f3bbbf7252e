"""Unsupervised estimation of a match model: u from random pairs, m and the prior by EM.

No labels are needed (Fellegi-Sunter as in splink's ``estimate_u_using_random_sampling`` and
``estimate_parameters_using_expectation_maximisation``):

1. **u** from random roster x event pairs drawn with a seeded RNG: almost all are non-matches,
   so the share of each level among them is P(level | non-match).
2. **m** and the **prior** by EM over the comparison vectors of blocked candidate pairs,
   keeping u fixed. Identical vectors are counted once with a multiplicity, so an iteration
   costs the number of distinct vectors, not pairs.
3. **Tiers** from posterior probabilities (0.99 / 0.9 / 0.5 by default) turned into scores.

Agreements an exact id already implies (birth date, gender) count as ``missing`` here, as
they weigh nothing when scoring.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from matchers.blocking import watchlist_index
from matchers.levels import FieldName, Level
from matchers.model import (
    FIELDS,
    BlockingParams,
    LevelParams,
    MatchModel,
    TermFrequencyParams,
    thresholds_from_probabilities,
)
from matchers.records import EventRecord, Person
from matchers.scoring import compare_records

__all__ = [
    "FIELD_LEVELS",
    "EmResult",
    "LevelCounts",
    "blocked_pair_levels",
    "estimate_u",
    "expectation_maximisation",
    "random_pair_levels",
    "train_model",
]

Vector = tuple[Level, ...]
LevelCounts = Counter[Vector]
Probabilities = dict[FieldName, dict[Level, float]]

# The levels each field's comparison can give (what a model lists).
FIELD_LEVELS: dict[FieldName, tuple[Level, ...]] = {
    "name": ("exact", "typo", "sound", "partial", "disagree"),
    "id_number": ("exact", "typo", "partial", "disagree"),
    "birth_date": ("exact", "typo", "partial", "disagree"),
    "gender": ("exact", "disagree"),
    "phone": ("exact", "typo", "partial", "disagree"),
    "address": ("exact", "typo", "partial", "disagree"),
}
_M_START: dict[Level, float] = {
    "exact": 8.0, "typo": 1.0, "sound": 1.0, "partial": 1.0, "disagree": 1.0,
}  # fmt: skip
_DEFAULT_BLOCKING = BlockingParams()
_DEFAULT_TF = TermFrequencyParams()
# Jeffreys-style smoothing: a level never seen among random pairs still gets a finite u.
_SMOOTHING = 0.5


@dataclass(frozen=True, slots=True)
class EmResult:
    """The outcome of EM.

    Attributes:
        m: P(level | match) per field.
        prior: P(match) among blocked pairs.
        iterations: iterations run.
        converged: the largest parameter change fell below the tolerance.
    """

    m: Probabilities
    prior: float
    iterations: int
    converged: bool


def random_pair_levels(
    persons: Sequence[Person], events: Sequence[EventRecord], *, pairs: int, seed: int
) -> LevelCounts:
    """Level vectors of ``pairs`` random person x event pairs (seeded, reproducible)."""
    rng = random.Random(seed)
    counts: LevelCounts = Counter()
    if not persons or not events:
        return counts
    for _ in range(pairs):
        person = persons[rng.randrange(len(persons))]
        event = events[rng.randrange(len(events))]
        counts[compare_records(person, event).levels()] += 1
    return counts


def blocked_pair_levels(
    persons: Sequence[Person],
    events: Sequence[EventRecord],
    *,
    blocking: BlockingParams = _DEFAULT_BLOCKING,
) -> LevelCounts:
    """Level vectors of every candidate pair the blocking index yields."""
    index = watchlist_index(
        max_block_size=blocking.max_block_size, max_candidates=blocking.max_candidates
    )
    for person in persons:
        index.upsert(person)
    counts: LevelCounts = Counter()
    for event in events:
        for person_id in sorted(index.candidates(event)):
            candidate = index.get(person_id)
            if candidate is not None:
                counts[compare_records(candidate, event).levels()] += 1
    return counts


def _distribution(
    weighted: Mapping[Vector, float], levels: Mapping[FieldName, tuple[Level, ...]]
) -> Probabilities:
    out: Probabilities = {}
    for i, field in enumerate(FIELDS):
        tally = dict.fromkeys(levels[field], _SMOOTHING)
        for vector, weight in weighted.items():
            if vector[i] in tally:
                tally[vector[i]] += weight
        total = sum(tally.values())
        out[field] = {lv: n / total for lv, n in tally.items()}
    return out


def estimate_u(
    counts: LevelCounts, levels: Mapping[FieldName, tuple[Level, ...]] = FIELD_LEVELS
) -> Probabilities:
    """U per field and level from random-pair counts (``missing`` left out, smoothed)."""
    return _distribution({v: float(n) for v, n in counts.items()}, levels)


def expectation_maximisation(
    counts: LevelCounts,
    u: Probabilities,
    *,
    prior: float = 0.05,
    iterations: int = 25,
    tolerance: float = 1e-5,
    levels: Mapping[FieldName, tuple[Level, ...]] = FIELD_LEVELS,
) -> EmResult:
    """Estimate m and the prior by EM with u fixed.

    Args:
        counts: level vectors of blocked pairs with their multiplicities.
        u: fixed non-match probabilities.
        prior: starting P(match).
        iterations: at most this many EM steps.
        tolerance: stop when no parameter moves more than this.
        levels: the levels each field may take.

    Returns:
        The estimated m, prior, and how EM went.
    """
    m: Probabilities = {f: _normalised({lv: _M_START[lv] for lv in levels[f]}) for f in FIELDS}
    vectors = list(counts.items())
    total = sum(n for _, n in vectors) or 1
    for step in range(1, iterations + 1):
        posterior = {v: _posterior(v, m, u, prior) * n for v, n in vectors}
        new_m = _distribution(posterior, levels)
        new_prior = min(max(sum(posterior.values()) / total, 1e-6), 1 - 1e-6)
        change = max(
            abs(new_prior - prior),
            *(abs(new_m[f][lv] - m[f][lv]) for f in FIELDS for lv in levels[f]),
        )
        m, prior = new_m, new_prior
        if change < tolerance:
            return EmResult(m, prior, step, True)
    return EmResult(m, prior, iterations, False)


def _normalised(values: Mapping[Level, float]) -> dict[Level, float]:
    total = sum(values.values())
    return {k: v / total for k, v in values.items()}


def _posterior(vector: Vector, m: Probabilities, u: Probabilities, prior: float) -> float:
    log_odds = math.log(prior / (1 - prior))
    for field, level in zip(FIELDS, vector, strict=True):
        mp, up = m[field].get(level), u[field].get(level)
        if mp is not None and up is not None:
            log_odds += math.log(mp / up)
    if log_odds > 700:
        return 1.0
    return 1.0 / (1.0 + math.exp(-log_odds))


def train_model(
    persons: Sequence[Person],
    events: Sequence[EventRecord],
    *,
    version: str,
    seed: int = 0,
    random_pairs: int = 50_000,
    iterations: int = 25,
    tf: TermFrequencyParams = _DEFAULT_TF,
    blocking: BlockingParams = _DEFAULT_BLOCKING,
) -> MatchModel:
    """Train a model from a roster and events without labels.

    Args:
        persons: roster people (``dropped_out`` ones are used when there are any).
        events: normalised events.
        version: the new model's version.
        seed: seeds the random pairs.
        random_pairs: how many random pairs estimate u.
        iterations: at most this many EM steps.
        tf: term-frequency settings to store in the model.
        blocking: blocking guards (also used to find the EM pairs).

    Returns:
        The trained model (tiers at posterior 0.99 / 0.9 / 0.5).
    """
    traced = [p for p in persons if p.status == "dropped_out"] or list(persons)
    u = estimate_u(random_pair_levels(traced, events, pairs=random_pairs, seed=seed))
    blocked = blocked_pair_levels(traced, events, blocking=blocking)
    em = expectation_maximisation(blocked, u, iterations=iterations)
    fields = {
        f: {lv: LevelParams(m=em.m[f][lv], u=u[f][lv]) for lv in FIELD_LEVELS[f]} for f in FIELDS
    }
    training: dict[str, Any] = {
        "method": "u from random pairs, m and prior by EM over blocked pairs",
        "seed": seed,
        "roster_people": len(traced),
        "events": len(events),
        "random_pairs": random_pairs,
        "blocked_pairs": sum(blocked.values()),
        "em_iterations": em.iterations,
        "em_converged": em.converged,
        "tier_probabilities": {"high": 0.99, "medium": 0.9, "low": 0.5},
    }
    return MatchModel(
        version=version,
        prior=em.prior,
        fields=fields,
        thresholds=thresholds_from_probabilities(0.99, 0.9, 0.5),
        tf=tf,
        blocking=blocking,
        training=training,
    )
