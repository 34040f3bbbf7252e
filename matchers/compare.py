"""The matcher's fast path: score a pair from its levels alone, details only for leads.

Most candidate pairs never become leads (at a 100,000-person watchlist about 40 in 41 pass
the identifying-field gate and still score below the ``low`` tier). Building their readable,
masked details (f-strings, masking, redaction) is wasted work, so :func:`quick_score` scores a
pair from levels and value keys only, and the matcher builds the full comparison with
:func:`matchers.scoring.compare_if_identifying` only when the quick score makes a lead.

The score is the same by construction: it goes through :func:`matchers.scoring.score_comparisons`
with comparisons whose details are empty, and a score depends on levels, value keys and the
implied fields, never on details. ``tests/unit/matchers/test_compare.py`` checks that
:func:`quick_score` and the full comparison agree on every pair of a simulated world.

    quick = quick_score(model, person, event, tf=tf)   # None: gated, no lead whatever the score
    if quick is not None and quick.tier is not None:
        comparison = compare_if_identifying(person, event)   # now with details
"""

from __future__ import annotations

from matchers.addresses import compare_address
from matchers.dates import DateForms, compare_date
from matchers.frequencies import TermFrequencies
from matchers.gate import has_identifying_agreement
from matchers.ids import id_level
from matchers.levels import FieldComparison
from matchers.model import MatchModel
from matchers.names import compare_name_sets
from matchers.phones import phone_level
from matchers.records import EventRecord, Person
from matchers.scoring import PairScore, may_identify, score_comparisons

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
    id_cmp, birth, gender = others[0], others[1], others[2]
    implied: set[str] = set()
    if id_cmp.level == "exact":
        # As matchers.scoring._with_name: only what the number itself carries is implied.
        embedded = {
            "birth_date": bool(person.id.birth_date),
            "gender": person.id.gender is not None,
        }
        implied.update(c.field for c in (birth, gender) if c.level == "exact" and embedded[c.field])
    name = compare_name_sets(person.names, event.names)
    return score_comparisons(model, (name, *others), tf=tf, implied=frozenset(implied))


def identifying_levels(person: Person, event: EventRecord) -> tuple[FieldComparison, ...]:
    """The id, birth date, gender, phone and address comparisons, levels and value keys only.

    In the order of :data:`matchers.model.FIELDS` after the name; details are empty.
    """
    id_level_, id_key = id_level(person.id, event.id)
    phone, phone_key = phone_level(person.phones, event.phone)
    address = compare_address(person.addresses, event.address)
    return (
        FieldComparison("id_number", id_level_, "", "", id_key),
        _birth(person, event),
        _gender(person, event),
        FieldComparison("phone", phone, "", "", phone_key),
        FieldComparison("address", address.level, "", "", address.value_key),
    )


def _birth(person: Person, event: EventRecord) -> FieldComparison:
    # The record's own date, else the one embedded in the id (matchers.scoring._compare_birth);
    # the level and value key are compare_date's whichever side the date came from.
    c = compare_date(
        _own_or_id(person.birth_date, person.id_birth_date),
        _own_or_id(event.birth_date, event.id_birth_date),
    )
    return FieldComparison("birth_date", c.level, "", "", c.value_key)


def _own_or_id(own: DateForms, from_id: DateForms) -> DateForms:
    return own if own.comparable or not from_id.comparable else from_id


def _gender(person: Person, event: EventRecord) -> FieldComparison:
    left, right = person.gender or person.id.gender, event.gender or event.id.gender
    if left is None or right is None:
        return FieldComparison("gender", "missing", "", "")
    if left == right:
        return FieldComparison("gender", "exact", "", "", left)
    return FieldComparison("gender", "disagree", "", "")
