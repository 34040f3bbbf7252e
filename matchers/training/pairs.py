"""The pairs a model is estimated from: level vectors of random and of blocked pairs.

:mod:`matchers.training.estimate` learns u from pairs drawn at random (almost all non-matches) and m
from the pairs the blocking index brings together, split into EM *sessions* by the family of
keys that found them. Identical level vectors (one level per field, in
:data:`matchers.scoring.model.FIELDS` order) are counted once with a multiplicity::

    counts = random_pair_levels(persons, events, pairs=50_000, seed=0)   # Counter of vectors
    blocked = blocked_pair_levels(persons, events)   # .all, .sessions["name_keys"], ...
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from matchers.levels import Level
from matchers.records import EventRecord, Person
from matchers.scoring.compare import pair_levels
from matchers.scoring.model import FIELDS, BlockingParams
from matchers.watchlist.blocking import event_block_keys, person_block_keys, watchlist_index

__all__ = [
    "SESSIONS",
    "BlockedPairs",
    "LevelCounts",
    "Vector",
    "blocked_pair_levels",
    "random_pair_levels",
]

Vector = tuple[Level, ...]
LevelCounts = Counter[Vector]

_DEFAULT_BLOCKING = BlockingParams()
# EM sessions as in splink: pairs found through one family of keys agree on the fields those
# keys are made of by construction, so those fields are left out of that session (and
# estimated in the other). (key prefixes, fields left out)
SESSIONS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "name_keys": (("nm:", "nms:"), frozenset({"name"})),
    # Not phones: relatives share a household phone and an address, and would teach EM
    # that a different name is normal for the same person.
    "id_keys": (("id:", "idbody:", "idm"), frozenset({"id_number"})),
}


def random_pair_levels(
    persons: Sequence[Person], events: Sequence[EventRecord], *, pairs: int, seed: int
) -> LevelCounts:
    """Level vectors of ``pairs`` random person x event pairs (seeded, reproducible)."""
    rng = random.Random(seed)
    counts: LevelCounts = Counter()
    if not persons or not events:
        return counts
    for _ in range(pairs):
        person = persons[rng.randrange(len(persons))]
        event = events[rng.randrange(len(events))]
        counts[pair_levels(person, event).vector()] += 1
    return counts


@dataclass(frozen=True, slots=True)
class BlockedPairs:
    """Level vectors of the blocked candidate pairs.

    Attributes:
        all: every candidate pair (what the matcher scores; gives the prior).
        sessions: per EM session, the pairs found by that session's keys, with the fields
            those keys are made of set to ``missing``.
    """

    all: LevelCounts
    sessions: dict[str, LevelCounts]


def blocked_pair_levels(
    persons: Sequence[Person],
    events: Sequence[EventRecord],
    *,
    blocking: BlockingParams = _DEFAULT_BLOCKING,
) -> BlockedPairs:
    """Level vectors of every candidate pair the blocking index yields, split into sessions."""
    index = watchlist_index(
        max_block_size=blocking.max_block_size, max_candidates=blocking.max_candidates
    )
    for person in persons:
        index.upsert(person)
    every: LevelCounts = Counter()
    sessions: dict[str, LevelCounts] = {name: Counter() for name in SESSIONS}
    for event in events:
        event_keys = event_block_keys(event)
        for person_id in sorted(index.candidates(event)):
            candidate = index.get(person_id)
            if candidate is None:
                continue
            vector = pair_levels(candidate, event).vector()
            every[vector] += 1
            shared = person_block_keys(candidate) & event_keys
            for name, (prefixes, excluded) in SESSIONS.items():
                if any(k.startswith(prefixes) for k in shared):
                    sessions[name][_without(vector, excluded)] += 1
    return BlockedPairs(every, sessions)


def _without(vector: Vector, excluded: frozenset[str]) -> Vector:
    return tuple("missing" if f in excluded else lv for f, lv in zip(FIELDS, vector, strict=True))
