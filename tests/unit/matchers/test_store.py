"""The watchlist's store: sharing within one matcher's watchlist, never across matchers."""

from __future__ import annotations

import random

from matchers.records import Person, person_from_raw
from matchers.scoring.modelfile import default_model
from matchers.watchlist.matcher import Matcher
from matchers.watchlist.store import WatchlistStore
from simulator.population import IdentityFactory
from tests.unit.matchers.test_matcher import roster_record


def _roster(n: int, seed: int = 3) -> list[dict[str, object]]:
    factory = IdentityFactory(random.Random(seed))
    people = list(factory.people(n))
    # Two holders of one name and birth date: what the store shares.
    twins = {"name": "张伟", "birth_date": "1990-01-01"}
    return [roster_record(i, p) | (twins if i < 2 else {}) for i, p in enumerate(people)]


def _loaded(roster: list[dict[str, object]]) -> Matcher:
    matcher = Matcher(default_model())
    for raw in roster:
        assert matcher.apply_roster(raw).action == "upsert"
    return matcher


def _person(matcher: Matcher, person_id: str) -> Person:
    person = matcher.person(person_id)
    assert person is not None
    return person


def test_one_matcher_shares_names_and_dates_between_its_people() -> None:
    matcher = _loaded(_roster(50))
    first, second = _person(matcher, "p00000"), _person(matcher, "p00001")
    assert first.names[0] is second.names[0]
    assert first.birth_date is second.birth_date
    assert matcher.store.sizes()["names"] >= 49


def test_a_second_matcher_shares_nothing_with_the_first() -> None:
    roster = _roster(50)
    first = _loaded(roster)
    fresh = Matcher(default_model())
    assert set(fresh.store.sizes().values()) == {0}  # nothing left behind by the first
    second = _loaded(roster)
    mine, theirs = _person(first, "p00000"), _person(second, "p00000")
    assert mine == theirs
    # Each holds its own tables (a value may still be one object through the normalisers'
    # own caches, which hold recent values, not a watchlist).
    assert first.store is not second.store
    assert first.store.sizes() == second.store.sizes()
    assert first.store.sizes()["names"] >= 49


def test_parsing_without_a_store_shares_nothing() -> None:
    raw = _roster(2)[0]
    store = WatchlistStore()
    shared = person_from_raw(raw, sharing=store)
    assert shared == person_from_raw(raw)
    assert person_from_raw(raw, sharing=store).names[0] is shared.names[0]


def test_records_of_two_stores_share_no_templates() -> None:
    person = person_from_raw(_roster(3)[2])
    one, two = WatchlistStore(), WatchlistStore()
    record_one, record_two = one.pack(person), two.pack(person)
    assert isinstance(record_one, tuple)
    assert isinstance(record_two, tuple)
    assert record_one[2] == record_two[2]
    assert record_one[2] is not record_two[2]  # the profile holding the templates
    assert one.pack(person)[2] is record_one[2]


def test_every_table_is_bounded() -> None:
    store = WatchlistStore(max_names=2, max_dates=1, max_templates=1, max_name_lists=1)
    people = [person_from_raw(raw, sharing=store) for raw in _roster(20)]
    for person in people:
        store.pack(person)
    assert store.sizes() == {"names": 2, "dates": 1, "templates": 1, "name_lists": 1}
    # Beyond the bound values are simply not shared: the same forms, a new object.
    name = people[-1].name
    assert store.name(name) == store.name(name)
