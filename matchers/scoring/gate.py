"""The lead gate: what besides a score a pair needs to become a lead.

:func:`identifying_agreement` is the hard gate that a name, however rare, never makes a
lead on its own, and :func:`uncommon_name_support` that a common name with a birth date
(and gender) and nothing else does not either. Each rule is stated once, on levels:
:func:`matchers.scoring.score.score_levels` applies them, and the matcher's early exits
(:mod:`matchers.scoring.compare`) ask the same functions with the best levels still possible.
:func:`anchored_by_id` is the one rule that makes a lead below the score: an exact,
checksum-valid resident id beside a name that agrees at least in part.
"""

from __future__ import annotations

from matchers.fields.ids import CHECKED_ID_KEY
from matchers.levels import Level, PairLevels
from matchers.scoring.frequencies import TF_LEVELS, commonness
from matchers.scoring.model import MatchModel

__all__ = [
    "AGREEING_LEVELS",
    "ANCHOR_NAME_LEVELS",
    "TYPO_ANCHOR_NAME_LEVELS",
    "anchored_by_id",
    "identifying_agreement",
    "lead_gate",
    "uncommon_name_support",
]

AGREEING_LEVELS: frozenset[Level] = frozenset({"exact", "typo", "partial"})
# Name levels that, beside an exact checksum-valid id, make a lead whatever the score.
ANCHOR_NAME_LEVELS: frozenset[str] = frozenset({"exact", "typo", "sound", "partial"})
# Name levels that, beside a damaged copy of the person's id (a ``typo``), do the same.
TYPO_ANCHOR_NAME_LEVELS: frozenset[str] = frozenset({"exact", "sound"})


def anchored_by_id(*, id_number: str, id_key: str, name: str | None) -> bool:
    """The id anchor: an exact, checksum-valid resident id and a name agreeing at least in part.

    A resident id is unique and its MOD 11-2 check catches every single-digit slip and every
    transposition, so an exact, valid number is the person; what is left to doubt is whether
    the number was lent or stolen, and a name that agrees in part (a shape-alike character
    王/玉, a dropped character, a homophone, a dialect spelling) answers that. People who drop
    out change phone and address, and the model's score, which adds a disagreeing phone and
    address and a name below ``exact``, would lose them: the pair is a lead at least at the
    lowest tier. A name that disagrees, or is missing, gets no anchor.

    A damaged copy of the person's id (``typo``: one digit slipped, two swapped, one dropped;
    a valid number that differs is another person and ``disagree``) beside the same name, or
    its sound (王文 / 王雯, WANG WEN), is anchored too: a stranger would need both a number one
    slip from the person's and the name.

    Args:
        id_number: the id's level.
        id_key: the id comparison's value key (:data:`matchers.fields.ids.CHECKED_ID_KEY` prefix
            when both numbers passed their checks).
        name: the name's level (``None`` when not compared).

    Returns:
        Whether the pair is a lead even below the ``low`` threshold.
    """
    if id_number == "typo":
        return name in TYPO_ANCHOR_NAME_LEVELS
    return id_number == "exact" and id_key.startswith(CHECKED_ID_KEY) and name in ANCHOR_NAME_LEVELS


def identifying_agreement(
    *, id_number: str, phone: str, address: str, birth_date: str, gender: str
) -> bool:
    """The hard lead gate: some identifying field other than the name must agree.

    A pair qualifies when ``id_number`` or ``phone`` agrees at ``exact``, ``typo`` or
    ``partial``, when ``address`` is ``exact`` (same road and number), or when
    ``birth_date`` agrees at ``exact``, ``typo`` or ``partial`` *and* ``gender`` is ``exact``,
    or when ``birth_date`` is ``exact`` and ``gender`` is ``missing`` (a register without
    gender). A name alone, however rare, never does.

    Args:
        id_number: the id's level.
        phone: the phone's level.
        address: the address's level.
        birth_date: the birth date's level.
        gender: the gender's level.

    Returns:
        Whether the pair may become a lead.
    """
    if id_number in AGREEING_LEVELS or phone in AGREEING_LEVELS:
        return True
    # Below ``exact`` an address is the same road or district (addresses.py): thousands of
    # people, not an identifier.
    if address == "exact":
        return True
    if birth_date in AGREEING_LEVELS and gender == "exact":
        return True
    # Where no gender is recorded at all (FEBRL-like registers, passports), a full birth date
    # agreeing exactly still identifies beside the name; a typo'd date does not.
    return birth_date == "exact" and gender == "missing"


def lead_gate(model: MatchModel, levels: PairLevels) -> bool:
    """Both gate rules on a pair's levels (what :func:`~matchers.scoring.score.score_levels` does).

    :func:`identifying_agreement`, then :func:`uncommon_name_support`; the matcher's early
    exits ask the first alone, by keyword, before the name is compared.
    """
    return identifying_agreement(
        id_number=levels.id_number,
        phone=levels.phone,
        address=levels.address,
        birth_date=levels.birth_date,
        gender=levels.gender,
    ) and uncommon_name_support(model, levels)


def uncommon_name_support(model: MatchModel, levels: PairLevels) -> bool:
    """The common-name rule: a birth date (and gender) identifies only beside an uncommon name.

    When no id, phone or address agrees (the gate passed on the birth date and gender alone)
    and the model carries a trained name table, the pair is a lead only if the table does not
    list the name as common. 张伟 with a birthday is one of the dozens of 张伟 born that day
    across a province; a name seen once in the training events is not. Without a trained table
    no name is known to be common and the rule passes. Registers that record no gender
    (FEBRL-like) already need an exact birth date and are left to the score: the rule is for
    the resident-register namesake, name + birth date + gender.

    The name and the date are weighed together: how many times more common than average each
    is (:func:`matchers.scoring.frequencies.commonness`, bits; a name not listed counts as seen
    ``tf.table_unlisted`` times), the date's only when above average (a date heaped on 1
    January or 1 July, where estimated dates were registered, makes the pair as common as a
    common name does). The pair is a lead when the sum stays below ``-tf.common_name_margin``
    (a name at least four times rarer than the average agreeing one, on an ordinary date), or,
    for a name not compared at the ``exact`` or ``sound`` level, when the date alone is less
    than ``2 ** margin`` times as common as average.

    Args:
        model: the model (its name table, ``u`` and ``tf.common_name_margin``).
        levels: the pair's levels (the id, phone, address and gender levels, the name's level
            and value key, the agreeing birth date ``birth_key``).

    Returns:
        Whether the pair may become a lead as far as this rule goes.
    """
    if levels.id_number in AGREEING_LEVELS or levels.phone in AGREEING_LEVELS:
        return True
    if levels.address == "exact" or levels.gender != "exact":
        return True
    margin = model.tf.common_name_margin
    birth_key = levels.birth_key
    date_bits = commonness(model, "birth_date", birth_key) if birth_key else None
    shared_date = max(0.0, date_bits or 0.0)
    name_bits = commonness(model, "name", levels.name_key) if levels.name in TF_LEVELS else None
    if name_bits is None:
        return shared_date < margin
    return name_bits + shared_date < -margin
