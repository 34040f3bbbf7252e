"""The matcher's fast path: score a pair from its levels alone, details only for leads.

Most candidate pairs never become leads (at a 100,000-person watchlist about 40 in 41 pass
the identifying-field gate and still score below the ``low`` tier). Building their readable,
masked details (f-strings, masking, redaction) is wasted work, so :func:`quick_score` scores a
pair from levels and value keys only, and the matcher builds the full comparison with
:func:`matchers.scoring.compare_if_identifying` only when the quick score makes a lead.

The score is the same by construction: it goes through :func:`matchers.scoring.score_comparisons`
with comparisons whose details are empty, and a score depends on levels, value keys and the
implied fields, never on details. The birth-date and gender rules and the implied fields are
scoring's own (:func:`~matchers.demographics.compare_birth` and
:func:`~matchers.demographics.compare_gender` with ``detail=False``,
:func:`~matchers.scoring.implied_fields`); the id and phone levels are their field modules'
``id_level`` and ``phone_level``. ``tests/unit/matchers/test_compare.py`` checks that
:func:`quick_score` and the full comparison agree on every pair of a simulated world.

    quick = quick_score(model, person, event, tf=tf)   # None: gated, no lead whatever the score
    if quick is not None and quick.tier is not None:
        comparison = compare_if_identifying(person, event)   # now with details
"""

from __future__ import annotations

from matchers.addresses import compare_address
from matchers.demographics import compare_birth, compare_gender
from matchers.frequencies import TermFrequencies
from matchers.gate import has_identifying_agreement
from matchers.ids import id_level
from matchers.levels import FieldComparison
from matchers.model import MatchModel
from matchers.names import compare_name_sets
from matchers.phones import phone_level
from matchers.records import EventRecord, Person
from matchers.scoring import (
    PairScore,
    implied_fields,
    may_identify,
    score_comparisons,
)

__all__ = ["identifying_levels", "quick_score"]


def quick_score(
    model: MatchModel,
    person: Person,
    event: EventRecord,
    *,
    tf: TermFrequencies | None = None,
) -> PairScore | None:
    """Score a pair without building details; ``None`` when the lead gate fails.

    Args:
        model: the match model.
        person: the watchlist person.
        event: the event.
        tf: the term-frequency table in use.

    Returns:
        The pair's score (contributions without details), or ``None`` when no identifying
        field agrees (the same gate as :func:`matchers.scoring.compare_if_identifying`).
    """
    if not may_identify(person, event):
        return None
    others = identifying_levels(person, event)
    if not has_identifying_agreement([(c.field, c.level) for c in others]):
        return None
    name = compare_name_sets(person.names, event.names)
    return score_comparisons(model, (name, *others), tf=tf, implied=implied_fields(person, others))


def identifying_levels(person: Person, event: EventRecord) -> tuple[FieldComparison, ...]:
    """The id, birth date, gender, phone and address comparisons, levels and value keys only.

    In the order of :data:`matchers.model.FIELDS` after the name; details are empty.
    """
    id_level_, id_key = id_level(person.id, event.id)
    phone, phone_key = phone_level(person.phones, event.phone)
    address = compare_address(person.addresses, event.address)
    return (
        FieldComparison("id_number", id_level_, "", "", id_key),
        compare_birth(person, event, detail=False),
        compare_gender(person, event, detail=False),
        FieldComparison("phone", phone, "", "", phone_key),
        FieldComparison("address", address.level, "", "", address.value_key),
    )
