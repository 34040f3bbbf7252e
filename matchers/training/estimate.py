"""Unsupervised estimation of a match model: u from random pairs, m and the prior by EM.

No labels are needed (Fellegi-Sunter as in splink's ``estimate_u_using_random_sampling`` and
``estimate_parameters_using_expectation_maximisation``); the pairs come from
:mod:`matchers.training.pairs`:

1. **u** from random roster x event pairs drawn with a seeded RNG: almost all are non-matches,
   so the share of each level among them is P(level | non-match).
2. **m** by EM over the blocked candidate pairs with u fixed, in *sessions* (as splink trains
   per blocking rule): the pairs a name key found say nothing about the name, so that session
   estimates every other field; the pairs an id key found estimate the name, birth date,
   gender, phone and address. Each field's m is the sessions' estimates weighted by their
   expected matches. Identical vectors are counted once with a multiplicity, so an EM step
   costs the number of distinct vectors, not pairs.
3. The **prior** is P(match) of a random person x event pair (the weights are relative to
   random pairs, since u is): EM on the prior alone over the blocked pairs, divided by all
   persons x events. The matches hidden among the random pairs are then taken out of u
   (:func:`without_matches`) and the prior estimated again.
4. **Tiers** from posterior probabilities (0.999 / 0.995 / 0.99) turned into scores.
5. **Name frequencies** over the events (:func:`event_name_table`): the ``TF_TABLE_SIZE`` most
   frequent name keys seen at least ``TF_MIN_COUNT`` times, stored in the model (``tf.mode:
   events``), so that 张伟 weighs what the population says, not what a 2,000-person watchlist
   can tell; beside them the surnames, given names and birth dates of the same events
   (:func:`event_part_table`), so that an unseen 王亚妹 and a heaped 1 January are known
   to be common (:mod:`matchers.scoring.frequencies`).

Agreements an exact id already implies (birth date, gender) count as ``missing`` here, as
they weigh nothing when scoring. Worked example (``tracer simulate`` seed 0, 10,000 watched,
50,000 events): prior 6.1e-06 (-17.3 bits), id exact +18.0, name exact +12.7, name sound
+12.3, name disagree -8.0, phone exact +14.4, birth date exact +12.0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from matchers.levels import FieldName, Level
from matchers.records import EventRecord, Person
from matchers.scoring.frequencies import name_part_keys, tf_key
from matchers.scoring.model import (
    FIELDS,
    TIER_PROBABILITIES,
    BlockingParams,
    LevelParams,
    MatchModel,
    TermFrequencyParams,
    thresholds_from_probabilities,
)
from matchers.training.pairs import (
    SESSIONS,
    BlockedPairs,
    LevelCounts,
    Vector,
    blocked_pair_levels,
    random_pair_levels,
)

__all__ = [
    "FIELD_LEVELS",
    "EmResult",
    "estimate_prior",
    "estimate_u",
    "event_name_table",
    "event_part_table",
    "expectation_maximisation",
    "train_model",
    "without_matches",
]

Probabilities = dict[FieldName, dict[Level, float]]

# The levels each field's comparison can give (what a model lists).
FIELD_LEVELS: dict[FieldName, tuple[Level, ...]] = {
    "name": ("exact", "typo", "sound", "partial", "disagree"),
    "id_number": ("exact", "typo", "partial", "weak", "disagree"),
    "birth_date": ("exact", "typo", "partial", "disagree"),
    "gender": ("exact", "disagree"),
    "phone": ("exact", "typo", "partial", "disagree"),
    "address": ("exact", "typo", "partial", "disagree"),
}
_M_START: dict[Level, float] = {
    "exact": 8.0, "typo": 1.0, "sound": 1.0, "partial": 1.0, "weak": 1.0, "disagree": 1.0,
}  # fmt: skip
_DEFAULT_BLOCKING = BlockingParams()
_DEFAULT_TF = TermFrequencyParams(mode="events", fields=("name", "birth_date"), pseudo_count=1.0)
# A compact table: the names common enough to matter. Below a handful of sightings a day's
# events cannot tell a common name from a rare one.
TF_TABLE_SIZE = 10_000
TF_MIN_COUNT = 2
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
        tf: term-frequency settings to store in the model; in ``events`` mode without a
            table, the table is counted over ``events`` (:func:`event_name_table`).
        blocking: blocking guards (also used to find the EM pairs).

    Returns:
        The trained model (tiers at :data:`matchers.scoring.model.TIER_PROBABILITIES`).
    """
    traced = [p for p in persons if p.status == "dropped_out"] or list(persons)
    u = estimate_u(random_pair_levels(traced, events, pairs=random_pairs, seed=seed))
    blocked = blocked_pair_levels(traced, events, blocking=blocking)
    runs = {
        name: expectation_maximisation(counts, u, iterations=iterations)
        for name, counts in blocked.sessions.items()
        if counts
    }
    m = _combine(runs, {n: sum(c.values()) for n, c in blocked.sessions.items()})
    population = len(traced) * len(events)
    prior = estimate_prior(blocked.all, m, u, population_pairs=population)
    u = without_matches(u, m, prior, floor=_SMOOTHING / max(random_pairs, 1))
    prior = estimate_prior(blocked.all, m, u, population_pairs=population)
    fields = {
        f: {lv: LevelParams(m=m[f][lv], u=u[f][lv]) for lv in FIELD_LEVELS[f]} for f in FIELDS
    }
    training = _training_notes(
        seed=seed,
        people=len(traced),
        events=len(events),
        random_pairs=random_pairs,
        blocked=blocked,
        runs=runs,
    )
    if tf.mode == "events" and not tf.table:
        table, counted, unlisted = event_name_table(events)
        table.update(event_part_table(events))
        tf = replace(tf, table=table, table_total=counted, table_unlisted=unlisted)
        training["tf_table"] = {"events_counted": counted, "keys": len(table)}
    return MatchModel(
        version=version,
        prior=prior,
        fields=fields,
        thresholds=thresholds_from_probabilities(),
        tf=tf,
        blocking=blocking,
        training=training,
    )


def _training_notes(
    *,
    seed: int,
    people: int,
    events: int,
    random_pairs: int,
    blocked: BlockedPairs,
    runs: Mapping[str, EmResult],
) -> dict[str, Any]:
    """The model's ``training`` section: how it was trained, for the file's reader."""
    return {
        "method": "u from random pairs; m by EM sessions over blocked pairs (u fixed); prior by EM",
        "seed": seed,
        "roster_people": people,
        "events": events,
        "random_pairs": random_pairs,
        "blocked_pairs": sum(blocked.all.values()),
        "sessions": {
            name: {
                "pairs": sum(blocked.sessions[name].values()),
                "prior": round(run.prior, 6),
                "iterations": run.iterations,
                "converged": run.converged,
            }
            for name, run in runs.items()
        },
        "tier_probabilities": dict(TIER_PROBABILITIES),
    }


def event_name_table(
    events: Sequence[EventRecord], *, size: int = TF_TABLE_SIZE, min_count: int = TF_MIN_COUNT
) -> tuple[dict[str, int], int, int]:
    """The most frequent name TF keys over ``events``: the table ``tracer train`` stores.

    Each event counts each of its name keys once (``name:张伟``, the same keys the scorer looks
    up); ties are broken by key, so the table is reproducible.

    Returns:
        ``({key: count}, events counted, unlisted)``: at most ``size`` keys, each seen
        ``min_count`` times or more; ``unlisted`` is the largest count left out (``min_count
        - 1`` when nothing seen that often was left out), never above the smallest listed.
    """
    counts: Counter[str] = Counter()
    counted = 0
    for event in events:
        keys = {tf_key("name", f.value_key) for f in event.names if f.valid and f.value_key}
        if keys:
            counted += 1
            counts.update(keys)
    ranked = sorted(
        (kv for kv in counts.items() if kv[1] >= min_count), key=lambda kv: (-kv[1], kv[0])
    )
    kept = ranked[:size]
    unlisted = ranked[size][1] if len(ranked) > size else min_count - 1
    if not kept:
        unlisted = 0
    return dict(kept), counted, unlisted


def event_part_table(
    events: Sequence[EventRecord], *, min_count: int = TF_MIN_COUNT
) -> dict[str, int]:
    """Surname, given-name and birth-date keys over ``events`` (``scoring.frequencies``).

    Each event counts each of its hanzi names' ``surname:`` and ``given:`` keys once (the
    keys seen ``min_count`` times or more are kept) and its birth date (its own, else the one
    in its id) as ``birth_date:YYYY-MM-DD``; a date is kept only when seen more often than
    twice an average date, since no other date would weigh less.
    """
    parts: Counter[str] = Counter()
    dates: Counter[str] = Counter()
    for event in events:
        keys = {
            key
            for f in event.names
            if f.valid and f.hanzi
            for key in (name_part_keys(f.hanzi) or ())
        }
        parts.update(keys)
        date = event.birth_date if event.birth_date.comparable else event.id_birth_date
        if date.comparable:
            dates[tf_key("birth_date", date.value)] += 1
    table = {k: n for k, n in parts.items() if n >= min_count}
    if dates:
        floor = max(min_count, 2 * sum(dates.values()) / len(dates))
        table.update((k, n) for k, n in dates.items() if n > floor)
    return dict(sorted(table.items()))


def without_matches(
    u: Probabilities, m: Probabilities, prior: float, *, floor: float
) -> Probabilities:
    """Take the true matches out of the random-pair u: ``u = (p - prior * m) / (1 - prior)``.

    Random pairs include matches at the rate ``prior``: with 5,000 x 5,000 records (FEBRL)
    one pair in 5,000 is a match, as often as two strangers share a birth date, so the raw
    u of ``exact`` is mostly matches and the weight of an exact agreement comes out ~4 bits
    too low. With a 10,000-person watchlist and 6e-06 prior the correction is negligible.
    Each level keeps at least ``floor`` (the smoothing of one unseen level), then each field
    is renormalised.
    """
    out: Probabilities = {}
    for f, levels in u.items():
        raw = {
            lv: max(floor, (p - prior * m[f].get(lv, 0.0)) / (1 - prior))
            for lv, p in levels.items()
        }
        out[f] = _normalised(raw)
    return out


def _combine(runs: Mapping[str, EmResult], pairs: Mapping[str, int]) -> Probabilities:
    """Each field's m from the sessions that estimated it, weighted by their expected matches."""
    out: Probabilities = {}
    for f in FIELDS:
        weights = {
            name: run.prior * pairs[name]
            for name, run in runs.items()
            if f not in SESSIONS[name][1]
        }
        total = sum(weights.values())
        if total <= 0:
            out[f] = _normalised({lv: _M_START[lv] for lv in FIELD_LEVELS[f]})
            continue
        out[f] = {
            lv: sum(w * runs[name].m[f][lv] for name, w in weights.items()) / total
            for lv in FIELD_LEVELS[f]
        }
    return out


def estimate_prior(
    counts: LevelCounts,
    m: Probabilities,
    u: Probabilities,
    *,
    population_pairs: int,
    iterations: int = 200,
) -> float:
    """P(match) of a random person x event pair, by EM on the prior alone (m and u fixed).

    The weights are relative to random pairs (u comes from them), so the prior must be too:
    the expected number of matches among the blocked pairs over every possible pair (pairs
    that no key brings together are taken as non-matches).

    Args:
        counts: level vectors of the blocked pairs.
        m: match probabilities.
        u: non-match probabilities.
        population_pairs: persons x events.
        iterations: at most this many steps.

    Returns:
        The prior, within [1e-12, 0.5].
    """
    blocked = sum(counts.values())
    if not blocked or population_pairs <= 0:
        return 1e-4
    prior = min(0.5, max(1e-12, 0.1 * blocked / population_pairs))
    for _ in range(iterations):
        expected = sum(_posterior(v, m, u, prior) * n for v, n in counts.items())
        new = min(0.5, max(1e-12, expected / population_pairs))
        if abs(new - prior) <= 1e-6 * prior:
            return new
        prior = new
    return prior
