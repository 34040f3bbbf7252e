"""Synthetic supervision data: a population, a messy roster, a day of messy feeds, the truth.

Only invented people: names, ids, phones and addresses are drawn from tables, never taken from
real records. Pure like the rest of ``matchers``: it returns records, ``tracer simulate`` writes
them.

Example:
    >>> from simulator import SimulationConfig, build_world
    >>> world = build_world(SimulationConfig(people=500, watchlist=50, events=200, seed=1))
    >>> len(world.roster), len(world.events)
    (50, 200)
"""

from simulator.population import Identity, IdentityFactory, is_valid_resident_id
from simulator.truth import SimEvent
from simulator.watchlist import WatchedPerson
from simulator.world import KIND_SHARES, SimulatedWorld, SimulationConfig, build_world

__all__ = [
    "KIND_SHARES",
    "Identity",
    "IdentityFactory",
    "SimEvent",
    "SimulatedWorld",
    "SimulationConfig",
    "WatchedPerson",
    "build_world",
    "is_valid_resident_id",
]
