"""Birth date and gender of a pair: each side's own, else the one embedded in its id number.

A date or gender read out of an id that fails its check character may carry the damaged digit,
so when it disagrees it says nothing (``missing``); when it agrees it still counts.
"""

from __future__ import annotations

from matchers.fields.dates import DateForms, date_level, date_words
from matchers.fields.ids import IdForms
from matchers.levels import FieldComparison, Level
from matchers.records import EventRecord, Person

__all__ = [
    "birth_level",
    "birth_words",
    "compare_birth",
    "compare_gender",
    "gender_from_damaged_id",
    "gender_level",
    "gender_words",
    "own_or_id_date",
]

_GENDER_ZH = {"M": "男", "F": "女"}
_GENDER_EN = {"M": "male", "F": "female"}


def birth_level(person: Person, event: EventRecord) -> tuple[Level, str]:
    """The birth dates' level and value key (each side's own date, else the one in its id).

    A date read out of an id that fails its check character may hold the wrong digit: when it
    disagrees the level is ``missing``, not ``disagree`` (an agreement still counts: the wrong
    digit was elsewhere).
    """
    left, left_from_id = own_or_id_date(person.birth_date, person.id_birth_date)
    right, right_from_id = own_or_id_date(event.birth_date, event.id_birth_date)
    level = date_level(left, right)
    if level == "disagree" and _from_damaged_id(person, event, left_from_id, right_from_id):
        return "missing", ""
    return level, left.value if level == "exact" else ""


def compare_birth(person: Person, event: EventRecord) -> FieldComparison:
    """Compare birth dates: each side's own date, else the one embedded in its id.

    A person born 1990-03-07 and an event with no date but id ``110101199003071225`` give
    ``exact``, "birth date agrees with the ID (1990-03-07)": :func:`birth_level` in words.
    """
    return birth_words(person, event, *birth_level(person, event))


def birth_words(person: Person, event: EventRecord, level: Level, key: str) -> FieldComparison:
    """The words for a pair's birth dates compared at ``level`` (:func:`birth_level`)."""
    left, left_from_id = own_or_id_date(person.birth_date, person.id_birth_date)
    right, right_from_id = own_or_id_date(event.birth_date, event.id_birth_date)
    c = date_words(left, right, date_level(left, right))
    if c.level != level:  # only a damaged id's disagreeing date is read as missing
        return FieldComparison(
            "birth_date",
            level,
            "身份证校验位不符，出生日期未比较",
            "the ID fails its check digit; birth date not compared",
        )
    if level == "missing" or not (left_from_id or right_from_id):
        return c
    if level == "exact":
        return FieldComparison(
            "birth_date",
            "exact",
            f"出生日期与身份证一致（{left.value}）",
            f"birth date agrees with the ID ({left.value})",
            key,
        )
    return FieldComparison(
        "birth_date", level, c.detail_zh + "（据身份证）", c.detail_en + " (from the ID)"
    )


def _from_damaged_id(
    person: Person, event: EventRecord, left_from_id: bool, right_from_id: bool
) -> bool:
    return (left_from_id and _damaged(person.id)) or (right_from_id and _damaged(event.id))


def own_or_id_date(own: DateForms, from_id: DateForms) -> tuple[DateForms, bool]:
    """The side's own birth date if usable, else the one read out of its id; and which it was."""
    if own.comparable or not from_id.comparable:
        return own, False
    return from_id, True


def _damaged(forms: IdForms) -> bool:
    # A wrong digit somewhere: the birth date or gender read out of it may be the wrong one.
    return "id_checksum_failed" in forms.flags


def gender_from_damaged_id(person: Person, event: EventRecord) -> bool:
    """Whether a side without a recorded gender takes it from an id failing its check digit."""
    return (person.gender is None and _damaged(person.id)) or (
        event.gender is None and _damaged(event.id)
    )


def gender_level(person: Person, event: EventRecord) -> tuple[Level, str]:
    """The genders' level and value key (each side's own, else the one in its id).

    A gender read out of an id that fails its check character and disagrees gives
    ``missing``, as a birth date does (:func:`birth_level`).
    """
    left, right = person.gender or person.id.gender, event.gender or event.id.gender
    if left is None or right is None:
        return "missing", ""
    if left == right:
        return "exact", left
    return ("missing", "") if gender_from_damaged_id(person, event) else ("disagree", "")


def compare_gender(person: Person, event: EventRecord) -> FieldComparison:
    """Compare genders: each side's own, else the one embedded in its id.

    A woman on the watchlist and an event with no gender but a female id give ``exact`` (value
    key ``F``), "gender agrees with the ID (female)": :func:`gender_level` in words.
    """
    return gender_words(person, event, *gender_level(person, event))


def gender_words(person: Person, event: EventRecord, level: Level, key: str) -> FieldComparison:
    """The words for a pair's genders compared at ``level`` (:func:`gender_level`)."""
    left, right = person.gender or person.id.gender, event.gender or event.id.gender
    if left is None or right is None:
        return FieldComparison("gender", level, "性别缺失", "gender missing")
    if level == "missing":
        return FieldComparison(
            "gender",
            "missing",
            "身份证校验位不符，性别未比较",
            "the ID fails its check digit; gender not compared",
        )
    from_id = (person.gender is None) or (event.gender is None)
    if level == "exact":
        zh = "性别与身份证一致" if from_id else "性别一致"
        en = "gender agrees with the ID" if from_id else "same gender"
        return FieldComparison(
            "gender", "exact", f"{zh}（{_GENDER_ZH[left]}）", f"{en} ({_GENDER_EN[left]})", key
        )
    return FieldComparison(
        "gender",
        level,
        f"性别不同（{_GENDER_ZH[left]}/{_GENDER_ZH[right]}）",
        f"gender differs ({_GENDER_EN[left]}/{_GENDER_EN[right]})",
    )
