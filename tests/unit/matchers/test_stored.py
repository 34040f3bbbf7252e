"""Stored records: any roster person round-trips; typical people are slim and share templates."""

from __future__ import annotations

import dataclasses
import random
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.fields.text import clean_text
from matchers.records import Person, person_from_raw
from matchers.watchlist.store import WatchlistStore
from matchers.watchlist.stored import record_id, unpack
from simulator.population import IdentityFactory
from tests.unit.matchers.test_matcher import roster_record

PERSON = {
    "person_id": "p1",
    "name": "张伟",
    "aliases": ["ZHANG WEI"],
    "id_number": "460105199001017124",
    "birth_date": "1990-01-01",
    "gender": "F",
    "phones": ["13812345678", "0898-66123456"],
    "addresses": ["海南省海口市美兰区海府路12号3栋201室", "12 Baker Street, London"],
    "status": "dropped_out",
    "status_changed_at": "2026-01-05T09:00:00+08:00",
    "district": "美兰",
    "case_officer": "o1",
}
# Values that are unusual for a roster: bad ids, masked ids, passports, landlines, foreign and
# Latin addresses, empty and odd strings (the separator of a record's text among them).
_TEXT = st.sampled_from(
    ["", " ", "\x1f", "\ud800", "张伟", "ZHANG WEI", "x\x1fy", "460105199001017124",
     "46010519900101712X",
     "460105********7124", "E12345678", "46010519901301712", "1990-01-01", "1990-13-45",
     "13812345678", "+44 20 7946 0958", "0898-66123456", "110", "海南省海口市美兰区海府路12号",
     "12 Baker Street, London", "海口", "M", "F", "男", "passport", "cn_resident"]
)  # fmt: skip
_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "name": _TEXT.filter(lambda t: clean_text(t)[0].strip()),  # a name: more than controls
        "aliases": st.lists(_TEXT, max_size=3),
        "id_number": _TEXT,
        "id_type": _TEXT,
        "birth_date": _TEXT,
        "gender": _TEXT,
        "phones": st.lists(_TEXT, max_size=3),
        "addresses": st.lists(_TEXT, max_size=3),
        "district": _TEXT,
        "case_officer": _TEXT,
    },
)


@settings(max_examples=300, deadline=None)
@given(fields=_FIELDS)
def test_any_person_round_trips(fields: dict[str, Any]) -> None:
    store = WatchlistStore()
    person = person_from_raw(PERSON | fields, sharing=store)
    record = store.pack(person)
    assert unpack(record) == person
    assert record_id(record) == person.person_id


def test_typical_people_are_slim_records_sharing_their_templates() -> None:
    factory = IdentityFactory(random.Random(5))
    store = WatchlistStore()
    raws = [roster_record(i, p) for i, p in enumerate(factory.people(2000))]
    people = [person_from_raw(raw, sharing=store) for raw in raws]
    records = [store.pack(p) for p in people]
    assert not any(isinstance(r, Person) for r in records)
    assert [unpack(r) for r in records] == people
    # An id's template (type, region, gender, flags) and an address's place names are shared,
    # and so is the profile holding them (compiled too: see stored.pack).
    profiles = {id(r[2]) for r in records if isinstance(r, tuple)}
    id_templates = {id(r[2][5]) for r in records if isinstance(r, tuple)}
    address_templates = {id(r[5]) for r in records if isinstance(r, tuple)}
    assert len(profiles) < len(records) / 4
    assert len(id_templates) < len(records) / 4
    assert len(address_templates) < len(records) / 4
    record = records[0]
    assert isinstance(record, tuple)
    own = sys.getsizeof(record) + sys.getsizeof(record[0])
    assert own < 300


def test_a_person_that_would_not_round_trip_is_kept_whole() -> None:
    person = person_from_raw(PERSON | {"status_changed_at": "2026-01-05T09:00:00+08:00"})
    fields = {field.name: getattr(person, field.name) for field in dataclasses.fields(Person)}
    odd = Person(**fields | {"name": "a\x1fb"})
    store = WatchlistStore()
    assert store.pack(odd) is odd
    assert unpack(store.pack(odd)) is odd
