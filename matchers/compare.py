"""The matcher's fast path: a pair's tier from its levels alone, details only for leads.

Most candidate pairs never become leads (at a 100,000-person watchlist about 40 in 41 pass
the identifying-field gate and still score below the ``low`` tier). Building their readable,
masked details (f-strings, masking, redaction) and one object per field is wasted work, so
:class:`QuickScorer` decides a pair's tier from levels, value keys and the model's weights
held in plain tables, and the matcher builds the full comparison with
:func:`matchers.scoring.compare_if_identifying` only for the pairs that make a lead.

The tier is the same by construction: the rules are scoring's own (the gate
:func:`~matchers.gate.identifying_agreement`, :func:`~matchers.gate.uncommon_name_support`,
the id anchor :func:`~matchers.gate.anchored_by_id` (the early exits ask it with the best name),
:func:`~matchers.scoring.household_weaker`, the implied fields of an exact id, TF weights
through :func:`~matchers.frequencies.tf_weight`), the levels are the field modules' level-only
functions, and the total is summed in the same order as
:func:`~matchers.scoring.score_comparisons`. ``tests/unit/matchers/test_compare.py`` checks the
two agree on every pair of a simulated world.

Two shortcuts are the fast path's own. The name (the costliest comparison) is compared only
when the other fields leave a lead within reach, that is when the score with the name's best
possible weight reaches ``low``. The best weight is a ceiling only when TF adjustment can
lower a name's weight but never raise it (a trained table, or no TF at all); otherwise the
name is always compared. Before that, the phone and address are compared only when the id,
birth date and gender leave a lead within reach with the best name and the best a phone and
an address can add together (most candidates are strangers: one of the three disagrees).

    scorer = QuickScorer(model, tf)
    if scorer.tier(person, event) is not None:
        comparison = compare_if_identifying(person, event)   # now with details
"""

from __future__ import annotations

import math

from matchers.addresses import address_level
from matchers.demographics import birth_level, gender_level
from matchers.frequencies import TF_LEVELS, TermFrequencies, tf_weight
from matchers.gate import anchored_by_id, identifying_agreement, uncommon_name_support
from matchers.ids import id_level
from matchers.levels import LEVELS, FieldComparison, FieldName, Level
from matchers.model import FIELDS, MatchModel
from matchers.names import compare_name_sets
from matchers.phones import phone_level
from matchers.records import EventRecord, Person
from matchers.scoring import Tier, clamp_score, household_weaker, tier_of

__all__ = ["QuickScorer", "identifying_levels"]

# Name weights memoised per (level, value key) when they cannot change (a trained table);
# bounded so that a stream of new names cannot grow it without end.
_MAX_MEMO = 200_000

_LevelKey = tuple[Level, str]


def identifying_levels(person: Person, event: EventRecord) -> dict[FieldName, _LevelKey]:
    """The id, birth date, gender, phone and address levels and value keys of a pair."""
    id_, birth, gender, phone, address = _levels(person, event)
    return {
        "id_number": id_,
        "birth_date": birth,
        "gender": gender,
        "phone": phone,
        "address": address,
    }


def _levels(
    person: Person, event: EventRecord
) -> tuple[_LevelKey, _LevelKey, _LevelKey, _LevelKey, _LevelKey]:
    return (
        id_level(person.id, event.id),
        birth_level(person, event),
        gender_level(person, event),
        phone_level(person.phones, event.phone),
        address_level(person.addresses, event.address),
    )


def _household_sum(phone: str, w_phone: float, address: str, w_address: float) -> float:
    weaker = household_weaker(phone, w_phone, address, w_address)
    return max(w_phone, w_address) if weaker is not None else w_phone + w_address


class QuickScorer:
    """A model compiled into weight tables: the tier of a pair without building its details.

    Args:
        model: the match model.
        tf: the term-frequency table in use (the matcher's); ``None`` for none.
    """

    __slots__ = (
        "_ceiling",
        "_household",
        "_low",
        "_memo",
        "_model",
        "_prior",
        "_tf",
        "_tf_fields",
        "_weights",
    )

    def __init__(self, model: MatchModel, tf: TermFrequencies | None) -> None:
        self._model = model
        self._tf = tf
        self._prior = model.prior_weight
        self._low = model.thresholds.low
        self._weights: dict[str, dict[str, float]] = {
            f: {lv: model.weight(f, lv) for lv in LEVELS} for f in FIELDS
        }
        settings = model.tf
        self._tf_fields = frozenset(settings.fields) if settings.mode != "off" else frozenset()
        trained = settings.mode == "events" and bool(settings.table)
        # A weight that TF can only lower is at most the table's: a ceiling for the name.
        only_lowers = (trained and settings.weight >= 0) or "name" not in self._tf_fields
        self._ceiling = max(self._weights["name"].values()) if only_lowers else math.inf
        self._memo: dict[tuple[str, str, str], float] | None = {} if trained else None
        # The best a phone and an address can add together (counted once as a household).
        self._household = max(
            _household_sum(phone, w_phone, address, w_address)
            for phone, w_phone in self._weights["phone"].items()
            for address, w_address in self._weights["address"].items()
        )
        if self._tf_fields & {"phone", "address"}:
            self._household = math.inf

    def tier(self, person: Person, event: EventRecord) -> Tier | None:
        """The pair's tier, or ``None`` when it is gated or scores below ``low``."""
        id_, id_key = id_level(person.id, event.id)
        birth, birth_key = birth_level(person, event)
        gender, gender_key = gender_level(person, event)
        implied_birth = implied_gender = False
        if id_ == "exact":  # what the number itself carries counts once (implied_fields)
            implied_birth = birth == "exact" and bool(person.id.birth_date)
            implied_gender = gender == "exact" and person.id.gender is not None
        w_id = self._weight("id_number", id_, id_key)
        w_birth = 0.0 if implied_birth else self._weight("birth_date", birth, birth_key)
        w_gender = 0.0 if implied_gender else self._weight("gender", gender, gender_key)
        # The id anchor (gate.anchored_by_id) with the best name: a lead whatever the score.
        anchorable = anchored_by_id(id_number=id_, id_key=id_key, name="exact")
        # Most candidates are strangers: a disagreeing id, birth date or gender leaves no lead
        # within reach even with the best name, phone and address (not compared, then).
        if not anchorable and self._prior + (
            self._ceiling + w_id + w_birth + w_gender + self._household
        ) < (self._low - 1e-9):
            return None
        phone, phone_key = phone_level(person.phones, event.phone)
        address, address_key = address_level(person.addresses, event.address)
        if not identifying_agreement(
            id_number=id_, phone=phone, address=address, birth_date=birth, gender=gender
        ):
            return None
        w_phone = self._weight("phone", phone, phone_key)
        w_address = self._weight("address", address, address_key)
        weaker = household_weaker(phone, w_phone, address, w_address)
        if weaker == "phone":
            w_phone = 0.0
        elif weaker == "address":
            w_address = 0.0
        others = w_id + w_birth + w_gender + w_phone + w_address
        if not anchorable and self._prior + (self._ceiling + others) < self._low - 1e-9:
            return None  # even the best name agreement would not make a lead
        name = compare_name_sets(person.names, event.names)
        w_name = self._weight("name", name.level, name.value_key)
        # The order of score_comparisons' sum: the same float, the same tier at a boundary.
        total = clamp_score(
            self._prior + (w_name + w_id + w_birth + w_gender + w_phone + w_address)
        )
        eligible = uncommon_name_support(
            self._model,
            id_number=id_,
            phone=phone,
            address=address,
            gender=gender,
            name=name.level,
            name_key=name.value_key,
            birth_key=birth_key,
        )
        anchored = anchorable and anchored_by_id(id_number=id_, id_key=id_key, name=name.level)
        return tier_of(self._model, total, eligible=eligible, anchored=anchored)

    def _weight(self, field: FieldName, level: Level, key: str) -> float:
        if field not in self._tf_fields or level not in TF_LEVELS or not key:
            return self._weights[field][level]
        memo = self._memo
        if memo is None:
            return tf_weight(self._model, FieldComparison(field, level, "", "", key), self._tf)
        weight = memo.get((field, level, key))
        if weight is None:
            if len(memo) >= _MAX_MEMO:
                memo.clear()
            weight = tf_weight(self._model, FieldComparison(field, level, "", "", key), self._tf)
            memo[(field, level, key)] = weight
        return weight
