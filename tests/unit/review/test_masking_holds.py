"""Masking that holds (issue 15.5): what a lead shows cannot be recombined into a resident id.

The attack: a reader of a lead knows the public region code of its district, reads the birth
date and the gender the explanation shows, and every visible character of every masked number
in the lead. Every 18-digit id consistent with all of that is a candidate; the attack succeeds
when few remain. Before the fix (first 4 + last 4 shown) it gave the whole number back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson
import pytest

from matchers.errors import InvalidRecord
from matchers.fields.masking import mask_digits, mask_id
from matchers.scoring.modelfile import default_model
from matchers.watchlist.matcher import Matcher
from simulator import SimulationConfig, build_world

# Fewer candidates than this is a lead that gives its number away.
MIN_CANDIDATES = 100
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_MASKED = re.compile(r"[\dXx*]{18}")


def _check_char(body: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(body, _WEIGHTS, strict=True)) % 11]


def candidates(region: str, birth: str, male: bool, shown: Iterable[str]) -> list[str]:
    """Every id with this region, birth date and gender that agrees with every shown mask."""
    patterns = [p.upper() for p in shown if len(p) == 18]
    found = []
    for seq in range(1000):
        if (seq % 2 == 1) != male:
            continue
        body = f"{region}{birth}{seq:03d}"
        full = body + _check_char(body)
        if all(all(p[i] in ("*", full[i]) for i in range(18)) for p in patterns):
            found.append(full)
    return found


@pytest.fixture(scope="module")
def leads_with_ids() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    world = build_world(SimulationConfig(people=3_000, watchlist=300, events=3_000, seed=5))
    matcher = Matcher(default_model())
    people = {}
    for record in world.roster:
        matcher.apply_roster(record)
        people[record["person_id"]] = record
    pairs = []
    for event in world.events:
        if not isinstance(event.payload, dict) or event.kind == "malformed":
            continue
        try:
            outcome = matcher.match(event.payload)
        except InvalidRecord:  # the malformed lines, dead letters in the pipeline
            continue
        for lead in outcome.leads:
            person = people[lead["person_id"]]
            if len(str(person.get("id_number") or "")) == 18:
                pairs.append((lead, person))
    return pairs


def _attack(
    lead: dict[str, Any], person: dict[str, Any], mask: Callable[[str], str] | None = None
) -> list[str]:
    true_id = str(person["id_number"]).upper()
    text = orjson.dumps(lead).decode()
    if mask is not None:  # what the lead would show under another mask
        text = text.replace(mask_id(true_id), mask(true_id))
    # The most generous reader: the district's region code, the true birth date and gender, and
    # which masks are of this person's number (an event's other number, a typo, is left out).
    shown = [
        p
        for p in _MASKED.findall(text)
        if all(c in ("*", t) for c, t in zip(p.upper(), true_id, strict=True))
    ]
    return candidates(true_id[:6], true_id[6:14], int(true_id[16]) % 2 == 1, shown)


def test_the_leads_show_what_the_attack_needs(
    leads_with_ids: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    # The premise: plenty of leads, most showing a birth date in full and a masked id.
    assert len(leads_with_ids) >= 50
    with_date = [
        lead
        for lead, person in leads_with_ids
        if str(person.get("birth_date")) in orjson.dumps(lead).decode()
    ]
    with_mask = [lead for lead, _ in leads_with_ids if _MASKED.search(orjson.dumps(lead).decode())]
    assert len(with_date) > len(leads_with_ids) // 2
    assert len(with_mask) > len(leads_with_ids) // 3


def test_the_attack_recovers_ids_under_the_old_mask(
    leads_with_ids: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    # The attack works: first 4 + last 4 (the mask before issue 15.5) gives ids back.
    def old(value: str) -> str:
        return mask_digits(value, head=4, tail=4)

    recovered = [
        lead
        for lead, person in leads_with_ids
        if _attack(lead, person, old) == [str(person["id_number"]).upper()]
    ]
    assert len(recovered) > len(leads_with_ids) // 3


def test_no_simulated_lead_gives_its_id_back(
    leads_with_ids: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    for lead, person in leads_with_ids:
        found = _attack(lead, person)
        assert str(person["id_number"]).upper() in found  # the attack model is consistent
        assert len(found) >= MIN_CANDIDATES, lead["lead_id"]


def test_candidates_pins_a_number_when_the_tail_is_shown() -> None:
    body = "46010819900101712"
    whole = body + _check_char(body)
    assert candidates("460108", "19900101", False, ["4601**********" + whole[14:]]) == [whole]
    assert len(candidates("460108", "19900101", False, [mask_id(whole)])) == 500
