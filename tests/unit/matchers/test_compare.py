"""The fast path scores every pair exactly as the full comparison does, details aside."""

from __future__ import annotations

import pytest

from matchers.blocking import watchlist_index
from matchers.compare import identifying_levels, quick_score
from matchers.demographics import compare_birth, compare_gender
from matchers.errors import InvalidRecord
from matchers.frequencies import TermFrequencies
from matchers.modelfile import default_model
from matchers.records import EventRecord, Person, event_from_raw, person_from_raw
from matchers.scoring import (
    compare_if_identifying,
    score_comparisons,
)
from matchers.synthetic import SimulationConfig, build_world


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
            person = index.get(person_id)
            assert person is not None
            out.append((person, event))
    return out


def test_the_world_has_enough_pairs(pairs: list[tuple[Person, EventRecord]]) -> None:
    assert len(pairs) > 500


@pytest.mark.parametrize("with_tf", [False, True])
def test_quick_score_equals_the_full_score(
    pairs: list[tuple[Person, EventRecord]], with_tf: bool
) -> None:
    model = default_model()
    tf = TermFrequencies([("name:张伟", 30), ("name:王芳", 12)]) if with_tf else None
    leads = 0
    for person, event in pairs:
        quick = quick_score(model, person, event, tf=tf)
        full = compare_if_identifying(person, event)
        assert (quick is None) == (full is None), (person.person_id, event.event_id)
        if quick is None or full is None:
            continue
        scored = score_comparisons(model, full.fields, tf=tf, implied=full.implied)
        assert quick.score == scored.score
        assert quick.tier == scored.tier
        assert [(c.field, c.level, c.weight, c.implied) for c in quick.contributions] == [
            (c.field, c.level, c.weight, c.implied) for c in scored.contributions
        ]
        leads += scored.tier is not None
    assert leads > 0


def test_levels_carry_no_details(pairs: list[tuple[Person, EventRecord]]) -> None:
    person, event = pairs[0]
    for c in identifying_levels(person, event):
        assert c.detail_zh == c.detail_en == ""


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
