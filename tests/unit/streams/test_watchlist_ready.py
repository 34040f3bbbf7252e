"""The end of the initial roster load freezes the watchlist once, then lets matching start."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator

import orjson
import pytest

from connectors.kafka import RosterMessage
from matchers.scoring.modelfile import default_model
from matchers.watchlist.matcher import Matcher
from simulator.population import IdentityFactory
from streams.roster import Watchlist
from tests.unit.matchers.test_matcher import roster_record


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # what the test froze goes back to the collector for the tests after it


async def test_the_loaded_watchlist_leaves_the_collectors_reach_once(unfrozen: None) -> None:
    people = IdentityFactory(random.Random(5)).people(3)
    matcher = Matcher(default_model())
    watchlist = Watchlist(matcher)
    roster = [
        RosterMessage(f"p{i}".encode(), orjson.dumps(roster_record(i, p)), 0, i, None)
        for i, p in enumerate(people, 1)
    ]
    await watchlist.on_roster(roster)
    person = matcher.person("p00001")
    assert person is not None and gc.is_tracked(person)
    assert any(o is person for o in gc.get_objects())

    assert watchlist.mark_ready() is True
    assert watchlist.ready.is_set()
    # Frozen: a full collection no longer walks the loaded people.
    assert not any(o is person for o in gc.get_objects())
    assert gc.get_freeze_count() > 0

    frozen = gc.get_freeze_count()
    assert watchlist.mark_ready() is False  # once: a second call neither collects nor freezes
    assert gc.get_freeze_count() == frozen
