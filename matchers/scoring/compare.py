"""A pair judged in two phases: its levels, field by field in cost order; words only for leads.

:func:`pair_levels` compares every field of a watchlist person with an event and gives their
:class:`~matchers.levels.PairLevels`; :func:`matchers.scoring.score.score_levels` alone turns those
into a score and a tier; :func:`describe` puts levels into words for the pairs that make a lead
(most candidate pairs never do, and their masked, readable details would be wasted).

:class:`PairScorer` is what the matcher runs: the same levels, but built with early exits
that are bounds of the scoring function, not rules of their own. The fields are compared in
cost order (id, birth date, gender; then phone and address; the name, the costliest, last),
and a pair is dropped as soon as even the best levels the remaining fields could have would
leave it gated (:func:`matchers.scoring.gate.identifying_agreement`) or below ``low`` without the id
anchor (:func:`matchers.scoring.gate.anchored_by_id` asked with the best name). The best name weight
is a ceiling only when TF adjustment can lower a name's weight but never raise it (a trained
table, or no TF at all); otherwise the name is always compared::

    scorer = PairScorer(model, tf)
    levels = scorer.levels(person, event)          # None: cannot be a lead
    scored = scorer.score(levels)                  # score_levels
    if scored.tier is not None:
        comparisons = describe(person, event, levels)   # now with words
"""

from __future__ import annotations

import math

from matchers.fields.addresses import address_level, address_words
from matchers.fields.demographics import birth_level, birth_words, gender_level, gender_words
from matchers.fields.ids import id_level, id_words
from matchers.fields.names import compare_name_sets
from matchers.fields.phones import phone_level, phone_words
from matchers.levels import FieldComparison, Level, PairLevels
from matchers.records import EventRecord, Person
from matchers.scoring.frequencies import TermFrequencies
from matchers.scoring.gate import anchored_by_id, identifying_agreement
from matchers.scoring.model import MatchModel
from matchers.scoring.score import (
    LevelScore,
    PairComparison,
    PairScore,
    Weights,
    household_weaker,
    score_levels,
    worded_score,
)

__all__ = [
    "PairScorer",
    "compare_records",
    "describe",
    "implied_by_id",
    "pair_levels",
    "score_pair",
]

# Scores within this of ``low`` are compared fully: the bounds add floats in another order.
_SLACK = 1e-9


def implied_by_id(
    person: Person, id_number: Level, birth: Level, gender: Level
) -> tuple[bool, bool]:
    """Which agreements an exact id already counts: ``(birth date, gender)``.

    Only what the number itself carries: both sides with resident id ``110101199003071225``
    and an exact birth date and gender give both; an exact passport number gives neither (it
    says nothing about the birth date, which then counts fully).
    """
    if id_number != "exact":
        return False, False
    return (
        birth == "exact" and bool(person.id.birth_date),
        gender == "exact" and person.id.gender is not None,
    )


def pair_levels(person: Person, event: EventRecord) -> PairLevels:
    """Every field's level and value key of a pair (training, tests: no early exit).

    Args:
        person: the watchlist person.
        event: the event.

    Returns:
        The pair's levels.
    """
    levels = _levels(person, event, None)
    assert levels is not None
    return levels


def _levels(person: Person, event: EventRecord, scorer: PairScorer | None) -> PairLevels | None:
    """The one level builder: cheap fields first, each early exit a bound of the scorer's."""
    id_, id_key = id_level(person.id, event.id)
    birth, birth_key = birth_level(person, event)
    gender, gender_key = gender_level(person, event)
    implied_birth, implied_gender = implied_by_id(person, id_, birth, gender)
    anchorable = anchored_by_id(id_number=id_, id_key=id_key, name="exact")
    w_known = 0.0
    if scorer is not None and not anchorable:
        # Called as methods, not through a bound-method alias: compiled, a direct native call.
        weights = scorer.weights
        w_known = (
            weights.weight("id_number", id_, id_key)
            + (0.0 if implied_birth else weights.weight("birth_date", birth, birth_key))
            + (0.0 if implied_gender else weights.weight("gender", gender, gender_key))
        )
        # Most candidates are strangers: a disagreeing id, birth date or gender leaves no lead
        # within reach even with the best name, phone and address (not compared, then).
        if not scorer.within_reach(w_known + scorer.best_household):
            return None
    phone, phone_key = phone_level(person.phones, event.phone)
    address, address_key = address_level(person.addresses, event.address)
    if scorer is not None:
        if not identifying_agreement(
            id_number=id_, phone=phone, address=address, birth_date=birth, gender=gender
        ):
            return None  # gated whatever the name
        if not anchorable and not scorer.within_reach(
            w_known + scorer.household(phone, phone_key, address, address_key)
        ):
            return None  # even the best name agreement would not make a lead
    name = compare_name_sets(person.names, event.names)
    return PairLevels(
        name.level,
        name.value_key,
        id_,
        id_key,
        birth,
        birth_key,
        gender,
        gender_key,
        phone,
        phone_key,
        address,
        address_key,
        implied_birth,
        implied_gender,
    )


def _household_sum(phone: str, w_phone: float, address: str, w_address: float) -> float:
    weaker = household_weaker(phone, w_phone, address, w_address)
    return max(w_phone, w_address) if weaker is not None else w_phone + w_address


class PairScorer:
    """A model compiled into weight tables and bounds: a pair's levels and score, fast.

    Args:
        model: the match model.
        tf: the term-frequency table in use (the matcher's); ``None`` for none.
    """

    __slots__ = ("_ceiling", "_floor", "_prior", "best_household", "weights")

    def __init__(self, model: MatchModel, tf: TermFrequencies | None) -> None:
        self.weights = Weights(model, tf)
        self._prior = model.prior_weight
        self._floor = model.thresholds.low - _SLACK
        names = self.weights.table("name")
        # A weight that TF can only lower is at most the table's: a ceiling for the name.
        self._ceiling = max(names.values()) if self.weights.only_lower("name") else math.inf
        # The best a phone and an address can add together (counted once as a household).
        phones, addresses = self.weights.table("phone"), self.weights.table("address")
        self.best_household = max(
            _household_sum(phone, w_phone, address, w_address)
            for phone, w_phone in phones.items()
            for address, w_address in addresses.items()
        )
        if self.weights.adjusts("phone") or self.weights.adjusts("address"):
            self.best_household = math.inf

    def within_reach(self, others: float) -> bool:
        """Whether the best name beside ``others`` (the other fields' weights) reaches ``low``."""
        return self._prior + (self._ceiling + others) >= self._floor

    def household(self, phone: Level, phone_key: str, address: Level, address_key: str) -> float:
        """What a phone and an address add together, a shared household counted once."""
        w_phone = self.weights.weight("phone", phone, phone_key)
        w_address = self.weights.weight("address", address, address_key)
        return _household_sum(phone, w_phone, address, w_address)

    def levels(self, person: Person, event: EventRecord) -> PairLevels | None:
        """The pair's levels, or ``None`` when no level the name could have makes it a lead."""
        return _levels(person, event, self)

    def score(self, levels: PairLevels) -> LevelScore:
        """:func:`matchers.scoring.score.score_levels` with this scorer's weights."""
        return score_levels(self.weights, levels)


def describe(person: Person, event: EventRecord, levels: PairLevels) -> tuple[FieldComparison, ...]:
    """The pair's levels in words, one comparison a field in scoring order (leads only).

    Args:
        person: the watchlist person.
        event: the event.
        levels: the pair's levels (:func:`pair_levels` or :meth:`PairScorer.levels`).

    Returns:
        One :class:`~matchers.levels.FieldComparison` per field, at the level given.
    """
    return (
        # A name's words and level come from one comparison (matchers.fields.names): the level of
        # ``levels`` is what that comparison said when they were built.
        compare_name_sets(person.names, event.names),
        id_words(person.id, event.id, levels.id_number, levels.id_key),
        birth_words(person, event, levels.birth_date, levels.birth_key),
        gender_words(person, event, levels.gender, levels.gender_key),
        phone_words(person.phones, event.phone, levels.phone),
        address_words(person.addresses, event.address, levels.address),
    )


def compare_records(person: Person, event: EventRecord) -> PairComparison:
    """Compare every field of a watchlist person with an event, in words.

    The birth date and gender embedded in an id count against the other side's own fields
    (and vice versa); when the ids agree exactly, an agreeing birth date or gender says
    nothing new and is marked implied (weight 0) rather than counted twice.

    Args:
        person: the watchlist person.
        event: the event.

    Returns:
        The comparison vector.
    """
    levels = pair_levels(person, event)
    return PairComparison(describe(person, event, levels), levels.implied())


def score_pair(
    model: MatchModel,
    person: Person,
    event: EventRecord,
    *,
    tf: TermFrequencies | None = None,
) -> tuple[PairComparison, PairScore]:
    """Compare and score one pair: its levels, their score, and the words."""
    levels = pair_levels(person, event)
    comparisons = describe(person, event, levels)
    scored = worded_score(model, levels, score_levels(Weights(model, tf), levels), comparisons)
    return PairComparison(comparisons, levels.implied()), scored
