"""Fellegi-Sunter scoring: comparison levels to match weights, with term-frequency adjustment.

The score of a pair is the prior log2-odds plus, per field, ``log2(m / u)`` of its level
(``missing`` weighs 0); an ``exact`` or ``sound`` name agreement is adjusted by how common the
agreeing value is (:mod:`matchers.frequencies`). A lead needs more than a score: the gate of
:mod:`matchers.gate` that a name alone never makes one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from matchers.addresses import compare_address
from matchers.demographics import (
    compare_birth,
    compare_gender,
    gender_from_damaged_id,
    own_or_id_date,
)
from matchers.frequencies import TermFrequencies, tf_weight
from matchers.gate import AGREEING_LEVELS, has_identifying_agreement, has_uncommon_name_support
from matchers.ids import IdForms, compare_id
from matchers.levels import FieldComparison, FieldName, Level
from matchers.model import MatchModel
from matchers.names import compare_name_sets
from matchers.phones import PhoneForms, compare_phone
from matchers.records import EventRecord, Person

__all__ = [
    "FieldContribution",
    "PairComparison",
    "PairScore",
    "Tier",
    "clamp_score",
    "compare_if_identifying",
    "compare_records",
    "household_weaker",
    "implied_fields",
    "may_identify",
    "probability_of",
    "score_comparisons",
    "score_pair",
    "tier_of",
]

Tier = Literal["high", "medium", "low"]
# A TF adjustment at least this large is said in the field's detail.
_SAID_TF_BITS = 0.5
# Beyond +-60 bits the probability is 0 or 1 in floating point anyway.
_SCORE_CLAMP = 60.0


@dataclass(frozen=True, slots=True)
class FieldContribution:
    """What one field added to a pair's score.

    Attributes:
        field: the field.
        level: its agreement level.
        weight: its match weight after TF adjustment (0 when missing or implied).
        detail_zh: what agreed or not, in Chinese (numbers masked).
        detail_en: the same in English.
        implied: the agreement is already counted by an exact id match (birth date, gender).
    """

    field: FieldName
    level: Level
    weight: float
    detail_zh: str
    detail_en: str
    implied: bool = False


@dataclass(frozen=True, slots=True)
class PairScore:
    """The score of one person/event pair.

    Attributes:
        score: total log2 match weight (prior included).
        probability: posterior match probability.
        tier: the lead tier, or ``None`` when the pair is no lead (too low, or gated).
        eligible: the identifying-field gate passed.
        contributions: per-field contributions, in comparison order.
    """

    score: float
    probability: float
    tier: Tier | None
    eligible: bool
    contributions: tuple[FieldContribution, ...]


def clamp_score(total: float) -> float:
    """A total score held within +/-60 bits (beyond that the probability is 0 or 1 anyway)."""
    return max(-_SCORE_CLAMP, min(_SCORE_CLAMP, total))


def probability_of(score: float) -> float:
    """Posterior probability of a total log2-odds score."""
    s = max(-_SCORE_CLAMP, min(_SCORE_CLAMP, score))
    return 1.0 / (1.0 + math.pow(2.0, -s))


def tier_of(model: MatchModel, score: float, *, eligible: bool) -> Tier | None:
    """The tier of a score, or ``None`` below the ``low`` threshold or when gated."""
    t = model.thresholds
    if not eligible or score < t.low:
        return None
    if score >= t.high:
        return "high"
    return "medium" if score >= t.medium else "low"


def score_comparisons(
    model: MatchModel,
    comparisons: Sequence[FieldComparison],
    *,
    tf: TermFrequencies | None = None,
    implied: frozenset[str] = frozenset(),
) -> PairScore:
    """Score one pair from its field comparisons.

    Args:
        model: the m/u parameters, prior and thresholds.
        comparisons: one comparison per field (order kept in the contributions).
        tf: value frequencies for the TF adjustment; ``None`` (or ``tf.mode == "off"``) for none.
        implied: fields whose agreement an exact id match already counts; they weigh 0.

    Returns:
        The total score, probability, tier and contributions; always finite.
    """
    out: list[FieldContribution] = []
    for c in comparisons:
        is_implied = c.field in implied and c.level != "missing"
        w = 0.0 if is_implied else tf_weight(model, c, tf)
        zh, en = c.detail_zh, c.detail_en
        lowered = model.weight(c.field, c.level) - w
        if zh and not is_implied and lowered >= _SAID_TF_BITS:
            # Officers should see why a name counted for less (the fast path has no details).
            zh += f"（常见姓名，权重降低{lowered:.1f}位）"
            en += f" (a common name: {lowered:.1f} bits less)"
        out.append(FieldContribution(c.field, c.level, w, zh, en, is_implied))
    out = _household_once(out)
    total = clamp_score(model.prior_weight + sum(c.weight for c in out))
    eligible = has_identifying_agreement(
        [(c.field, c.level) for c in out]
    ) and has_uncommon_name_support(model, comparisons)
    return PairScore(
        score=total,
        probability=probability_of(total),
        tier=tier_of(model, total, eligible=eligible),
        eligible=eligible,
        contributions=tuple(out),
    )


def _household_once(out: list[FieldContribution]) -> list[FieldContribution]:
    """Count a shared phone and a shared address once: they are one household, not two clues.

    Fellegi-Sunter adds the fields' weights as if they were independent, but among
    *non-matches* they are not: the people who share an address are the household, and
    they share the landline or family mobile too, so P(both agree | non-match) is about
    P(address agrees | non-match), far above the product of the two u. Counting both would
    lift a relative (different name, no id) to a lead. When both agree, only the stronger
    weight counts; the weaker one weighs 0 and says why.
    """
    at = {c.field: i for i, c in enumerate(out)}
    if "phone" not in at or "address" not in at:
        return out
    phone, address = out[at["phone"]], out[at["address"]]
    which = household_weaker(phone.level, phone.weight, address.level, address.weight)
    if which is None:
        return out
    weaker = phone if which == "phone" else address
    out[at[weaker.field]] = FieldContribution(
        weaker.field,
        weaker.level,
        0.0,
        weaker.detail_zh + "（与同住址/电话合计一次）",
        weaker.detail_en + " (counted once with the shared household phone/address)",
        weaker.implied,
    )
    return out


def household_weaker(
    phone_level: str, phone_weight: float, address_level: str, address_weight: float
) -> Literal["phone", "address"] | None:
    """Which of a shared phone and address weighs 0 (:func:`_household_once`), or ``None``.

    Both must agree (the phone at an agreeing level, the address ``exact``) with positive
    weights; the weaker one (the phone on a tie) is the one not counted.
    """
    if not (phone_level in AGREEING_LEVELS and address_level == "exact"):
        return None
    if min(phone_weight, address_weight) <= 0:
        return None
    return "phone" if phone_weight <= address_weight else "address"


# --- Comparing a person with an event -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairComparison:
    """The comparison vector of one person/event pair.

    Attributes:
        fields: one comparison per field, in :data:`matchers.model.FIELDS` order.
        implied: fields whose agreement the exact id match already counts.
    """

    fields: tuple[FieldComparison, ...]
    implied: frozenset[str]

    def levels(self) -> tuple[Level, ...]:
        """The levels alone, with implied fields as ``missing`` (what EM counts)."""
        return tuple("missing" if c.field in self.implied else c.level for c in self.fields)


def compare_records(person: Person, event: EventRecord) -> PairComparison:
    """Compare every field of a watchlist person with an event.

    The birth date and gender embedded in an id count against the other side's own fields
    (and vice versa); when the ids agree exactly, an agreeing birth date or gender says
    nothing new and is marked implied (weight 0) rather than counted twice.

    Args:
        person: the watchlist person.
        event: the event.

    Returns:
        The comparison vector.
    """
    others = _identifying_fields(person, event)
    return _with_name(person, event, others)


def compare_if_identifying(person: Person, event: EventRecord) -> PairComparison | None:
    """Like :func:`compare_records`, but ``None`` when the pair cannot pass the lead gate.

    The identifying fields are compared first; the name (the costliest comparison) only when
    :func:`has_identifying_agreement` holds, so namesakes found by a name key cost little.
    """
    if not may_identify(person, event):
        return None
    others = _identifying_fields(person, event)
    if not has_identifying_agreement([(c.field, c.level) for c in others]):
        return None
    return _with_name(person, event, others)


def may_identify(person: Person, event: EventRecord) -> bool:
    """A cheap, conservative pre-check of the lead gate on the normalised forms.

    ``False`` only when no identifying field can agree at a gate level (the field modules'
    typo rules allow at most two differing characters or one character more or less, a
    birth year at most one off, an exact address the same road and number); ``True`` means
    "compare".
    Building the comparisons' details costs far more than this, and most candidates a shared
    name, building or birthday brings in fail the gate.
    """
    if _near(person.id, event.id) or _near_address(person, event):
        return True
    if event.phone.comparable and any(_near_phone(p, event.phone) for p in person.phones):
        return True
    gender, other = person.gender or person.id.gender, event.gender or event.id.gender
    if gender is not None and other is not None and gender != other:
        if not gender_from_damaged_id(person, event):
            return False
        gender = None  # compare_gender calls it missing
    left, _ = own_or_id_date(person.birth_date, person.id_birth_date)
    right, _ = own_or_id_date(event.birth_date, event.id_birth_date)
    if not (left.comparable and right.comparable):
        return False
    if gender is None or other is None:  # no gender to lean on: only the same date may pass
        return left.digits == right.digits
    return abs(left.year - right.year) <= 1 or _close(left.digits, right.digits)


def _close(a: str, b: str) -> bool:
    if len(a) == len(b):
        return sum(map(str.__ne__, a, b)) <= 2
    return abs(len(a) - len(b)) == 1


def _near(left: IdForms, right: IdForms) -> bool:
    if not (left.comparable and right.comparable):
        return False
    if left.masked or right.masked:
        return True
    a, b = left.value, right.value
    if len(a) == len(b) == 18:
        # Only a resident id's 17-digit body is compared: a legacy 15-digit number's check
        # character is computed from its (maybe damaged) body, so two swapped body digits
        # can come with another check character (three differing, and still a typo).
        return _close(a[:17], b[:17])
    return _close(a, b)


def _near_phone(left: PhoneForms, right: PhoneForms) -> bool:
    if not left.comparable:
        return False
    return bool(left.local and left.local == right.local) or _close(left.value, right.value)


def _near_address(person: Person, event: EventRecord) -> bool:
    e = event.address
    if not e.valid:
        return False
    return any(
        p.latin
        or e.latin
        or p.display == e.display
        or bool(p.road and p.number and p.road == e.road and p.number == e.number)
        for p in person.addresses
    )


def _identifying_fields(person: Person, event: EventRecord) -> tuple[FieldComparison, ...]:
    return (
        compare_id(person.id, event.id),
        compare_birth(person, event),
        compare_gender(person, event),
        compare_phone(person.phones, event.phone),
        compare_address(person.addresses, event.address),
    )


def _with_name(
    person: Person, event: EventRecord, others: tuple[FieldComparison, ...]
) -> PairComparison:
    name = compare_name_sets(person.names, event.names)
    return PairComparison((name, *others), implied_fields(person, others))


def implied_fields(person: Person, others: Sequence[FieldComparison]) -> frozenset[str]:
    """The fields an exact id match already counts (weight 0), from the id, birth, gender levels.

    Only what the number itself carries: both sides with resident id ``110101199003071225``
    and an exact birth date and gender give both fields; an exact passport number gives
    neither (it says nothing about the birth date, which then counts fully).
    """
    id_cmp, birth, gender = others[0], others[1], others[2]
    if id_cmp.level != "exact":
        return frozenset()
    embedded = {"birth_date": bool(person.id.birth_date), "gender": person.id.gender is not None}
    return frozenset(c.field for c in (birth, gender) if c.level == "exact" and embedded[c.field])


def score_pair(
    model: MatchModel,
    person: Person,
    event: EventRecord,
    *,
    tf: TermFrequencies | None = None,
) -> tuple[PairComparison, PairScore]:
    """Compare and score one pair (see :func:`compare_records`, :func:`score_comparisons`)."""
    comparison = compare_records(person, event)
    return comparison, score_comparisons(
        model, comparison.fields, tf=tf, implied=comparison.implied
    )
