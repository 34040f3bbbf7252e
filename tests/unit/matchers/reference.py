"""A small, slow, obviously correct scorer: the pair rules of docs/design.md read literally.

No early exit, no weight table, no memo, no ``PairLevels``: every field is compared with the
field modules' worded comparisons (``compare_*``, tested on their own), every weight comes
from :func:`matchers.scoring.frequencies.tf_weight`, and the rules are written out below, one
paragraph each, as the design states them. The matcher's two phases must give the same score
and tier on every pair (tests/unit/matchers/test_reference_scorer.py).
"""

from __future__ import annotations

from typing import Any

from matchers.fields.addresses import compare_address
from matchers.fields.demographics import compare_birth, compare_gender
from matchers.fields.ids import CHECKED_ID_KEY, compare_id
from matchers.fields.names import compare_name_sets
from matchers.fields.phones import compare_phone
from matchers.records import EventRecord, Person
from matchers.scoring.frequencies import TermFrequencies, name_part_keys, tf_weight
from matchers.scoring.model import FIELDS, MatchModel

__all__ = ["reference_score"]

AGREE = {"exact", "typo", "partial"}


def reference_score(
    model: MatchModel, person: Person, event: EventRecord, tf: TermFrequencies | None = None
) -> tuple[float, bool, str | None]:
    """The pair's total score (clamped to +-60 bits), whether it passes the lead gate, its tier."""
    compared = (
        compare_name_sets(person.names, event.names),
        compare_id(person.id, event.id),
        compare_birth(person, event),
        compare_gender(person, event),
        compare_phone(person.phones, event.phone),
        compare_address(person.addresses, event.address),
    )
    c = {x.field: x for x in compared}
    lv = {field: x.level for field, x in c.items()}

    # What an exact id number carries (a resident id's birth date and gender digit) is counted
    # by the id; the same agreement in the birth date and gender fields weighs nothing more.
    implied = set()
    if lv["id_number"] == "exact":
        if lv["birth_date"] == "exact" and person.id.birth_date:
            implied.add("birth_date")
        if lv["gender"] == "exact" and person.id.gender is not None:
            implied.add("gender")
    weight = {f: 0.0 if f in implied else tf_weight(model, x, tf) for f, x in c.items()}

    # A phone that agrees and an address that is exact are one household: the weaker counts 0
    # (the phone on a tie), when both weigh something.
    household = lv["phone"] in AGREE and lv["address"] == "exact"
    if household and weight["phone"] > 0 and weight["address"] > 0:
        weight["phone" if weight["phone"] <= weight["address"] else "address"] = 0.0

    total = model.prior_weight + sum(weight[f] for f in FIELDS)
    total = max(-60.0, min(60.0, total))

    # A name alone never makes a lead: an id or a phone must agree, or the address be exact,
    # or the birth date agree beside an exact gender, or be exact where no gender is recorded.
    strong = lv["id_number"] in AGREE or lv["phone"] in AGREE or lv["address"] == "exact"
    gate = (
        strong
        or (lv["birth_date"] in AGREE and lv["gender"] == "exact")
        or (lv["birth_date"] == "exact" and lv["gender"] == "missing")
    )

    # On a birth date and gender alone, fewer than the bound of other people may be expected to
    # share all three: population x name share x date share x gender share. The name's share is
    # its count in the trained table, else its surname's x given name's counts (each at least
    # the unlisted count), else the unlisted count, over the events counted; a name agreeing
    # below sound, the level's u. The date's is its listed count over the events, else an exact
    # date's u (a date agreeing only in part, that level's u); the gender's, an exact gender's u.
    trained = model.tf.mode == "events" and bool(model.tf.table)
    if gate and not strong and lv["gender"] == "exact" and trained:
        gate = _expected_namesakes(model, c, lv) < model.tf.namesake_bound

    # An exact resident id that passed its check, beside a name agreeing at least in part, is a
    # lead whatever the score (at the lowest tier); so is a damaged copy of the person's id (a
    # typo) beside the same name or its sound.
    anchored = (
        lv["id_number"] == "exact"
        and c["id_number"].value_key.startswith(CHECKED_ID_KEY)
        and lv["name"] in ("exact", "typo", "sound", "partial")
    ) or (lv["id_number"] == "typo" and lv["name"] in ("exact", "sound"))

    t = model.thresholds
    if not gate:
        return total, gate, None
    if total >= t.high:
        return total, gate, "high"
    if total >= t.medium:
        return total, gate, "medium"
    if total >= t.low or anchored:
        return total, gate, "low"
    return total, gate, None


def _u(model: MatchModel, field: str, level: str) -> float:
    params = model.params(field, level)
    return params.u if params is not None else 1.0


def _expected_namesakes(model: MatchModel, c: dict[str, Any], lv: dict[str, str]) -> float:
    settings = model.tf
    key = c["name"].value_key
    name_share = _u(model, "name", lv["name"])
    if lv["name"] in ("exact", "sound") and key:
        count = settings.table.get(f"name:{key}")
        if count is None:
            parts = name_part_keys(key)
            unlisted = settings.table_unlisted
            count = unlisted
            if parts is not None:
                surname = max(settings.table.get(parts[0], 0), unlisted)
                given = max(settings.table.get(parts[1], 0), unlisted)
                count = surname * given / settings.table_total
        name_share = count / settings.table_total
    date_share = _u(model, "birth_date", lv["birth_date"])
    date_key = f"birth_date:{c['birth_date'].value_key}"
    if lv["birth_date"] == "exact" and date_key in settings.table:
        date_share = settings.table[date_key] / settings.table_total
    return settings.population * name_share * date_share * _u(model, "gender", "exact")
