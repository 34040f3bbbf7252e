"""The fast path scores every pair exactly as the full comparison does, details aside."""

from __future__ import annotations

from dataclasses import replace

import pytest

from matchers.addresses import address_level, compare_address
from matchers.blocking import watchlist_index
from matchers.compare import QuickScorer, identifying_levels
from matchers.dates import compare_date, date_level
from matchers.demographics import birth_level, compare_birth, compare_gender, gender_level
from matchers.errors import InvalidRecord
from matchers.frequencies import TermFrequencies
from matchers.modelfile import default_model
from matchers.records import EventRecord, Person, event_from_raw, person_from_raw
from matchers.scoring import (
    compare_if_identifying,
    compare_records,
    score_comparisons,
)
from simulator import SimulationConfig, build_world


@pytest.fixture(scope="module")
def pairs() -> list[tuple[Person, EventRecord]]:
    """Every candidate pair blocking finds in a small simulated world (namesakes, relatives,
    recycled phones, damaged ids and dates included)."""
    world = build_world(SimulationConfig(people=4_000, watchlist=400, events=3_000, seed=11))
    index = watchlist_index(max_block_size=100, max_candidates=20)
    for raw in world.roster:
        person = person_from_raw(raw)
        if person.status == "dropped_out":
            index.upsert(person)
    out = []
    for sim in world.events:
        try:
            event = event_from_raw(sim.payload)  # type: ignore[arg-type]
        except (InvalidRecord, TypeError):
            continue
        for person_id in sorted(index.candidates(event)):
            watched = index.get(person_id)
            assert watched is not None
            out.append((watched, event))
    return out


def test_the_world_has_enough_pairs(pairs: list[tuple[Person, EventRecord]]) -> None:
    assert len(pairs) > 500


@pytest.mark.parametrize("with_tf", [False, True])
def test_the_quick_tier_equals_the_full_score_tier(
    pairs: list[tuple[Person, EventRecord]], with_tf: bool
) -> None:
    model = default_model()
    tf = TermFrequencies([("name:张伟", 30), ("name:王芳", 12)]) if with_tf else None
    scorer = QuickScorer(model, tf)
    leads = 0
    for person, event in pairs:
        quick = scorer.tier(person, event)
        full = compare_if_identifying(person, event)
        expected = None
        if full is not None:
            expected = score_comparisons(model, full.fields, tf=tf, implied=full.implied).tier
        assert quick == expected, (person.person_id, event.event_id)
        leads += expected is not None
    assert leads > 0


def test_the_quick_tier_is_the_full_one_under_a_tf_mode_that_raises_rare_names(
    pairs: list[tuple[Person, EventRecord]],
) -> None:
    # Counted over the watchlist, a rare name weighs *more* than the table: no name ceiling.
    model = replace(default_model(), tf=replace(default_model().tf, mode="watchlist", table={}))
    tf = TermFrequencies([("name:张伟", 300)])
    scorer = QuickScorer(model, tf)
    for person, event in pairs:
        full = compare_if_identifying(person, event)
        expected = None
        if full is not None:
            expected = score_comparisons(model, full.fields, tf=tf, implied=full.implied).tier
        assert scorer.tier(person, event) == expected, (person.person_id, event.event_id)


def test_levels_are_the_full_comparisons_levels(pairs: list[tuple[Person, EventRecord]]) -> None:
    for person, event in pairs[:300]:
        full = {c.field: (c.level, c.value_key) for c in compare_records(person, event).fields}
        for field, level_and_key in identifying_levels(person, event).items():
            assert level_and_key == full[field], (field, person.person_id, event.event_id)


def test_the_level_only_field_rules_are_the_full_ones_without_details(
    pairs: list[tuple[Person, EventRecord]],
) -> None:
    for person, event in pairs:
        for compare in (compare_birth, compare_gender):
            quick, full = compare(person, event, detail=False), compare(person, event)
            assert (quick.field, quick.level, quick.value_key) == (
                full.field,
                full.level,
                full.value_key,
            ), (person.person_id, event.event_id)
            assert quick.detail_zh == quick.detail_en == ""
        birth = compare_birth(person, event)
        assert birth_level(person, event) == (birth.level, birth.value_key)
        gender = compare_gender(person, event)
        assert gender_level(person, event) == (gender.level, gender.value_key)
        address = compare_address(person.addresses, event.address)
        assert address_level(person.addresses, event.address) == (
            address.level,
            address.value_key,
        )
        date = compare_date(person.birth_date, event.birth_date)
        assert date_level(person.birth_date, event.birth_date) == date.level
