"""Candidate pairs from a simulated world, as blocking finds them: the matchers' tests' corpus.

Every candidate pair of a world (namesakes, relatives, recycled phones, damaged ids and dates
included), in a fixed order, for tests that hold the scorer's phases to each other or to the
reference scorer.
"""

from __future__ import annotations

from matchers.errors import InvalidRecord
from matchers.records import EventRecord, Person, event_from_raw, person_from_raw
from matchers.watchlist.blocking import watchlist_index
from simulator import SimulationConfig, build_world

__all__ = ["blocked_pairs"]


def blocked_pairs(config: SimulationConfig) -> list[tuple[Person, EventRecord]]:
    """Every (watched person, event) pair blocking finds in the world ``config`` builds."""
    world = build_world(config)
    index = watchlist_index(max_block_size=100, max_candidates=20)
    for raw in world.roster:
        person = person_from_raw(raw)
        if person.status == "dropped_out":
            index.upsert(person)
    pairs = []
    for sim in world.events:
        try:
            event = event_from_raw(sim.payload)  # type: ignore[arg-type]
        except (InvalidRecord, TypeError):
            continue  # a malformed event: the validator's business, not a pair
        for person_id in sorted(index.candidates(event)):
            watched = index.get(person_id)
            assert watched is not None
            pairs.append((watched, event))
    return pairs
