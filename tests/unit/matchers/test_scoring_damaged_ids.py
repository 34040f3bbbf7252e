"""Scoring: a birth date or gender read out of an id that fails its check character.

Such an id has a wrong digit somewhere. When the date or gender read out of it disagrees, the
wrong digit may be the reason, so the disagreement is no evidence (``missing``); when it agrees,
the wrong digit was elsewhere and the agreement counts as from any other id.
"""

from __future__ import annotations

from typing import Any

import pytest

from matchers.records import EventRecord, Person, event_from_raw, person_from_raw
from matchers.scoring.compare import PairScorer, compare_records, pair_levels
from matchers.scoring.gate import identifying_agreement
from matchers.scoring.modelfile import default_model
from matchers.scoring.score import score_levels

# A valid id: born 1956-08-19, female (17th digit 2).
_VALID = "460105195608197127"
# The same id with one digit changed; the check character no longer fits.
_DAMAGED_DAY = "460105195608187127"  # 1956-08-18
_DAMAGED_YEAR = "460105198608197127"  # 1986-08-19
_DAMAGED_SEQUENCE = "460105195608198127"  # date intact, a serial digit off
_DAMAGED_GENDER = "460105195608197137"  # 17th digit 3: male
# Intact ids that really say something else.
_VALID_1986 = "460105198608197120"
_VALID_MALE = "460105195608197135"

PERSON: dict[str, Any] = {
    "person_id": "p1",
    "name": "张伟",
    "id_number": _VALID,
    "status": "dropped_out",
    "status_changed_at": "2026-01-05T09:00:00+08:00",
}
EVENT: dict[str, Any] = {"event_id": "e1", "source": "hukou", "occurred_at": "2026-02-01T10:00:00Z"}


@pytest.mark.parametrize(
    ("description", "person", "event", "birth", "gender"),
    [
        (
            "a damaged event id one digit off in the day, no own date: still a typo agreement",
            {},
            {"id_number": _DAMAGED_DAY},
            "typo",
            "exact",
        ),
        (
            "a damaged event id off in the year against the person's own (typo'd) date: missing",
            {"birth_date": "1956-08-17"},
            {"id_number": _DAMAGED_YEAR},
            "missing",
            "exact",
        ),
        (
            "the same date from an intact event id still disagrees",
            {"birth_date": "1956-08-17"},
            {"id_number": _VALID_1986},
            "disagree",
            "exact",
        ),
        (
            "the same date as the event's own field still disagrees",
            {"birth_date": "1956-08-17"},
            {"birth_date": "1986-08-19"},
            "disagree",
            "missing",
        ),
        (
            "the event's own date is used before its damaged id and still disagrees",
            {"birth_date": "1956-08-17"},
            {"id_number": _DAMAGED_YEAR, "birth_date": "1986-08-19"},
            "disagree",
            "exact",
        ),
        (
            "a damaged event id whose date agrees: the agreement counts",
            {},
            {"id_number": _DAMAGED_SEQUENCE},
            "exact",
            "exact",
        ),
        (
            "a damaged person id against the event's own date: missing",
            {"id_number": _DAMAGED_YEAR},
            {"birth_date": "1975-06-06", "gender": "F"},
            "missing",
            "exact",
        ),
        (
            "a damaged event id read as male against a woman: gender missing",
            {},
            {"id_number": _DAMAGED_GENDER},
            "exact",
            "missing",
        ),
        (
            "an intact id of a man against a woman: gender disagrees",
            {},
            {"id_number": _VALID_MALE},
            "exact",
            "disagree",
        ),
        (
            "the event's own gender is used before its damaged id and still disagrees",
            {},
            {"id_number": _DAMAGED_GENDER, "gender": "M"},
            "exact",
            "disagree",
        ),
        (
            "a damaged person id read as male against a woman's event: gender missing",
            {"id_number": _DAMAGED_GENDER},
            {"gender": "F", "birth_date": "1956-08-19"},
            "exact",
            "missing",
        ),
    ],
)
def test_a_damaged_id_disagreeing_is_no_evidence(
    description: str, person: dict[str, Any], event: dict[str, Any], birth: str, gender: str
) -> None:
    p, e = person_from_raw(PERSON | person), event_from_raw(EVENT | event)
    levels = {c.field: c.level for c in compare_records(p, e).fields}
    assert (levels["birth_date"], levels["gender"]) == (birth, gender), description
    fast = pair_levels(p, e)
    assert (fast.birth_date, fast.gender) == (birth, gender), description


def test_the_early_exits_keep_a_gender_only_a_damaged_id_contradicts() -> None:
    # Another person's damaged id (no near id): same birth date, the id's gender digit says male.
    person = person_from_raw(PERSON | {"birth_date": "1975-06-06", "gender": "F"})
    event = event_from_raw(EVENT | {"id_number": "110101197506061251", "birth_date": "1975-06-06"})
    assert "id_checksum_failed" in event.id.flags and event.id.gender == "M"
    _assert_the_exits_keep_it(person, event)


def test_the_early_exits_keep_a_legacy_id_with_two_digits_swapped() -> None:
    # The person's old 15-digit number; the event's 18-digit copy has the last two sequence
    # digits swapped (which also flips the gender digit) and fails its check: a slip, whose
    # gender digit says nothing.
    person = person_from_raw(PERSON | {"name": "张三丰", "id_number": "460105900101712"})
    event = event_from_raw(EVENT | {"name": "张三丰", "id_number": "460105199001017214"})
    assert "id_legacy_15" in person.id.flags and "id_checksum_failed" in event.id.flags
    assert sum(a != b for a, b in zip(person.id.value, event.id.value, strict=True)) == 2
    full = compare_records(person, event)
    levels = {c.field: c.level for c in full.fields}
    assert (levels["id_number"], levels["gender"]) == ("typo", "missing")
    _assert_the_exits_keep_it(person, event)


def _assert_the_exits_keep_it(person: Person, event: EventRecord) -> None:
    levels = pair_levels(person, event)
    assert identifying_agreement(
        id_number=levels.id_number,
        phone=levels.phone,
        address=levels.address,
        birth_date=levels.birth_date,
        gender=levels.gender,
    )
    scorer = PairScorer(default_model(), None)
    fast = scorer.levels(person, event)
    full = score_levels(scorer.weights, levels)
    assert (None if fast is None else scorer.score(fast).tier) == full.tier
