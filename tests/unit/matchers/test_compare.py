"""The early exits never change a tier, and the words of a lead say the levels it was scored on."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contract import Tier
from matchers.fields.addresses import compare_address
from matchers.fields.demographics import compare_birth, compare_gender
from matchers.fields.ids import compare_id
from matchers.fields.names import compare_name_sets
from matchers.fields.phones import compare_phone
from matchers.records import EventRecord, Person
from matchers.scoring.compare import PairScorer, describe, pair_levels
from matchers.scoring.frequencies import TermFrequencies
from matchers.scoring.modelfile import default_model
from matchers.scoring.score import score_levels
from simulator import SimulationConfig
from tests.unit.matchers.worlds import blocked_pairs


@pytest.fixture(scope="module")
def pairs() -> list[tuple[Person, EventRecord]]:
    """Every candidate pair blocking finds in a small simulated world (namesakes, relatives,
    recycled phones, damaged ids and dates included)."""
    return blocked_pairs(SimulationConfig(people=4_000, watchlist=400, events=3_000, seed=11))


def test_the_world_has_enough_pairs(pairs: list[tuple[Person, EventRecord]]) -> None:
    assert len(pairs) > 500


def _tier_without_exits(scorer: PairScorer, person: Person, event: EventRecord) -> Tier | None:
    return score_levels(scorer.weights, pair_levels(person, event)).tier


def _tier_with_exits(scorer: PairScorer, person: Person, event: EventRecord) -> Tier | None:
    levels = scorer.levels(person, event)
    return None if levels is None else scorer.score(levels).tier


@pytest.mark.parametrize("with_tf", [False, True])
def test_the_early_exits_never_change_a_tier(
    pairs: list[tuple[Person, EventRecord]], with_tf: bool
) -> None:
    model = default_model()
    tf = TermFrequencies([("name:张伟", 30), ("name:王芳", 12)]) if with_tf else None
    scorer = PairScorer(model, tf)
    leads = exited = 0
    for person, event in pairs:
        levels = scorer.levels(person, event)
        expected = _tier_without_exits(scorer, person, event)
        if levels is None:
            exited += 1
            assert expected is None, (person.person_id, event.event_id)
        else:
            assert levels == pair_levels(person, event)
            assert scorer.score(levels).tier == expected, (person.person_id, event.event_id)
        leads += expected is not None
    assert leads > 0
    assert exited > len(pairs) // 2  # the exits are what makes the matcher fast


def test_the_early_exits_hold_under_a_tf_mode_that_raises_rare_names(
    pairs: list[tuple[Person, EventRecord]],
) -> None:
    # Counted over the watchlist, a rare name weighs *more* than the table: no name ceiling.
    model = replace(default_model(), tf=replace(default_model().tf, mode="watchlist", table={}))
    tf = TermFrequencies([("name:张伟", 300)])
    scorer = PairScorer(model, tf)
    for person, event in pairs:
        expected = _tier_without_exits(scorer, person, event)
        assert _tier_with_exits(scorer, person, event) == expected, (
            person.person_id,
            event.event_id,
        )


def test_the_words_are_at_the_levels_scored(pairs: list[tuple[Person, EventRecord]]) -> None:
    # describe() renders levels it is given; the field modules' worded comparisons must say the
    # same levels and keys, or a lead's words would contradict its score.
    for person, event in pairs:
        levels = pair_levels(person, event)
        words = (
            compare_name_sets(person.names, event.names),
            compare_id(person.id, event.id),
            compare_birth(person, event),
            compare_gender(person, event),
            compare_phone(person.phones, event.phone),
            compare_address(person.addresses, event.address),
        )
        assert tuple(c.level for c in words) == levels.levels(), (person.person_id, event.event_id)
        keys: tuple[str, ...] = (
            levels.name_key,
            levels.id_key,
            levels.birth_key,
            levels.gender_key,
        )
        keys += (levels.phone_key, levels.address_key)
        assert tuple(c.value_key for c in words) == keys
        assert describe(person, event, levels) == words
