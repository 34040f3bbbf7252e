"""The lead gate: what besides a score a pair needs to become a lead.

:func:`identifying_agreement` is the hard gate that a name, however rare, never makes a
lead on its own, and :func:`uncommon_name_support` that a name, birth date and gender with
nothing else do not either when others are expected to share all three
(:func:`expected_namesakes`). Each rule is stated once, on levels:
:func:`matchers.scoring.score.score_levels` applies them, and the matcher's early exits
(:mod:`matchers.scoring.compare`) ask the same functions with the best levels still possible.
:func:`anchored_by_id` is the one rule that makes a lead below the score: an exact,
checksum-valid resident id beside a name that agrees at least in part.
"""

from __future__ import annotations

from matchers.fields.ids import CHECKED_ID_KEY
from matchers.levels import Level, PairLevels
from matchers.scoring.frequencies import TF_LEVELS, name_part_keys, tf_key
from matchers.scoring.model import MatchModel

__all__ = [
    "AGREEING_LEVELS",
    "ANCHOR_NAME_LEVELS",
    "TYPO_ANCHOR_NAME_LEVELS",
    "anchored_by_id",
    "expected_namesakes",
    "identifying_agreement",
    "lead_gate",
    "name_share",
    "rests_on_birth_and_gender",
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
    """The namesake rule: a name, birth date and gender alone identify only if few share them.

    When no id, phone or address agrees (the gate passed on the birth date and gender alone),
    the pair is a lead only when :func:`expected_namesakes` (how many *other* people of the
    population the feed covers are expected to share the name, the birth date and the gender)
    is below ``tf.namesake_bound``. An event about the watched person and one about such a
    namesake look alike, so a lead made on them is wrong about ``E / (1 + E)`` of the time
    when everyone is equally likely to appear in the feed; the default bound of 0.01 keeps
    that under the one in a hundred that the ``low`` tier's posterior floor (0.99) allows. With
    the default model, a woman named 王芳 born on an ordinary day in Hainan (ten million people)
    is expected to share all three with 0.6 others, 王馨艳 with 0.0008; born on a 1 January,
    where older rural registrations heaped their estimates, with 16 and 0.02. Registers that record
    no gender (FEBRL-like) already need an exact birth date and are left to the score. Without
    a trained table nothing is known to be common and the rule passes.

    Args:
        model: the model (its trained table, ``u``, ``tf.population`` and
            ``tf.namesake_bound``).
        levels: the pair's levels.

    Returns:
        Whether the pair may become a lead as far as this rule goes.
    """
    if not rests_on_birth_and_gender(levels):
        return True
    expected = expected_namesakes(model, levels)
    return expected is None or expected < model.tf.namesake_bound


def rests_on_birth_and_gender(levels: PairLevels) -> bool:
    """Whether the pair's only support beside the name is the birth date and an exact gender."""
    if levels.id_number in AGREEING_LEVELS or levels.phone in AGREEING_LEVELS:
        return False
    return levels.address != "exact" and levels.gender == "exact"


def expected_namesakes(model: MatchModel, levels: PairLevels) -> float | None:
    """How many others of the feed's population are expected to share name, birth date, gender.

    ``population x name share x birth-date share x gender share``, each share from what the
    model already keeps (``None`` without a trained table):

    - the name: an ``exact`` or ``sound`` name's share of the training events
      (:func:`name_share`); at a weaker level (a shape-alike character, a dropped one) the
      chance that a stranger's name agrees that well, the level's ``u``;
    - the birth date: an exact date's share where the table lists it (1 January and 1 July of
      the older years, where estimates were heaped), else an ordinary date's, the ``u`` of an
      exact date; a date agreeing only in part, that level's ``u``;
    - the gender: the ``u`` of an exact gender (about one half).

    Names and dates are taken as independent: a name common among the old is not known to be.
    """
    settings = model.tf
    if settings.mode != "events" or not settings.table or settings.table_total <= 0:
        return None
    name = name_share(model, levels)
    birth = _level_u(model, "birth_date", levels.birth_date)
    if levels.birth_date == "exact" and levels.birth_key:
        listed = settings.table.get(tf_key("birth_date", levels.birth_key))
        if listed is not None:
            birth = listed / settings.table_total
    gender = _level_u(model, "gender", "exact")
    return settings.population * name * birth * gender


def name_share(model: MatchModel, levels: PairLevels) -> float:
    """The share of people whose name agrees with the person's at the pair's name level.

    For an ``exact`` or ``sound`` name: a listed name's count over the table's events; an
    unlisted hanzi name's surname count x given-name count / events (each part counted at
    least ``table_unlisted``: a name seen at most once says nothing finer, while 王 and 亚妹
    are each counted thousands of times); any other unlisted name, ``table_unlisted``.
    """
    settings = model.tf
    if levels.name not in TF_LEVELS or not levels.name_key:
        return _level_u(model, "name", levels.name)
    total = settings.table_total
    listed = settings.table.get(tf_key("name", levels.name_key))
    if listed is not None:
        return listed / total
    floor = settings.table_unlisted
    parts = name_part_keys(levels.name_key)
    if parts is None:
        return floor / total
    surname, given = (max(settings.table.get(k, 0), floor) for k in parts)
    return surname * given / total / total


def _level_u(model: MatchModel, field: str, level: str) -> float:
    # A level the model does not list (``missing``, ``disagree`` of a field without it) tells
    # nothing about how many share it: everyone may.
    params = model.params(field, level)
    return params.u if params is not None else 1.0
