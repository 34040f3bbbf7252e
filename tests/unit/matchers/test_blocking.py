"""Blocking: keys per field, in-place upsert/remove equal to a rebuilt index, the block guards."""

from __future__ import annotations

import random
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.errors import InvalidRecord
from matchers.fields.addresses import address_block_keys
from matchers.fields.dates import date_block_keys
from matchers.fields.id_damage import check_char
from matchers.fields.ids import id_block_keys
from matchers.fields.name_variants import dialect_initials
from matchers.fields.names import name_block_keys
from matchers.fields.phones import phone_block_keys
from matchers.records import EventRecord, event_from_raw, person_from_raw
from matchers.watchlist.blocking import (
    WatchlistIndex,
    event_block_keys,
    person_block_keys,
    watchlist_index,
)
from simulator import SimulationConfig, build_world
from simulator.population import IdentityFactory
from tests.unit.matchers.test_matcher import event_record, roster_record


@dataclass(frozen=True)
class Item:
    person_id: str
    keys: frozenset[str]


def _index(**kw: int) -> WatchlistIndex[Item, frozenset[str]]:
    return WatchlistIndex(person_keys=lambda p: p.keys, event_keys=lambda e: e, **kw)


def _people(n: int, seed: int = 1) -> list[dict[str, object]]:
    factory = IdentityFactory(random.Random(seed))
    return [roster_record(i, p) for i, p in enumerate(factory.people(n))]


def test_person_keys_cover_every_family() -> None:
    person = person_from_raw(_people(1)[0])
    families = {k.split(":", 1)[0] for k in person_block_keys(person)}
    for family in ("idbody", "idm6-4", "bd", "bdg", "nm", "ph", "adr"):
        assert family in families
    assert "id" not in families  # equal ids share their body key: ``id:`` would be redundant
    assert any(k.startswith("nm:") and "|" in k for k in person_block_keys(person))


def test_event_finds_its_person_by_each_single_field() -> None:
    rng = random.Random(2)
    factory = IdentityFactory(rng)
    who, other = factory.people(2)
    index = watchlist_index()
    index.upsert(person_from_raw(roster_record(1, who)))
    cases = {
        "full id": {"id_number": who.id_number, "phone": None, "name": other.name},
        "id with a bad check digit": {
            "id_number": who.id_number[:17] + ("0" if who.id_number[17] != "0" else "1"),
            "phone": None,
            "name": other.name,
        },
        # 1971 read as 1973: the body and the id's birthday keys are lost, region + tail stay.
        "id with a slipped birth-year digit": {
            "id_number": _slipped(who.id_number, 9),
            "phone": None,
            "name": other.name,
        },
        "id with two birth-date digits swapped": {
            "id_number": _swapped(who.id_number, 10),
            "phone": None,
            "name": other.name,
        },
        # 4250 for 4520: the tail is lost and the swapped sequence digit says M for F.
        "id with two sequence digits swapped": {
            "id_number": _swapped(who.id_number, 15),
            "phone": None,
            "name": other.name,
        },
        "id with a sequence digit wrong": {
            "id_number": _slipped(who.id_number, 16),
            "phone": None,
            "name": other.name,
        },
        "masked id": {
            "id_number": who.id_number[:6] + "*" * 8 + who.id_number[14:],
            "phone": None,
            "name": other.name,
        },
        "phone only": {"id_number": None, "phone": "+86 " + who.phone, "name": other.name},
        "pinyin name only": {"id_number": None, "phone": None, "name": "ZHANG SAN"},
    }
    for description, fields in cases.items():
        raw = event_record("e1", other, "bank") | fields
        if description == "pinyin name only":
            raw["name"] = _pinyin(who.name)
        raw = {k: v for k, v in raw.items() if v is not None}
        assert index.candidates(event_from_raw(raw)) == {"p00001"}, description
    stranger = event_from_raw(event_record("e2", other, "bank"))
    assert index.candidates(stranger) == set()


def _slipped(id18: str, i: int) -> str:
    return id18[:i] + str((int(id18[i]) + 2) % 10) + id18[i + 1 :]


def _swapped(id18: str, i: int) -> str:
    digits = id18[i + 1] + id18[i] if id18[i] != id18[i + 1] else _slipped(id18, i)[i : i + 2]
    return id18[:i] + digits + id18[i + 2 :]


def _pinyin(name: str) -> str:
    from pypinyin import lazy_pinyin

    syllables = lazy_pinyin(name)
    return " ".join([syllables[0], "".join(syllables[1:])]).upper()


def test_upsert_replaces_and_remove_unfiles() -> None:
    index = _index()
    index.upsert(Item("a", frozenset({"k1", "k2"})))
    index.upsert(Item("b", frozenset({"k2"})))
    assert index.candidates(frozenset({"k2"})) == {"a", "b"}
    index.upsert(Item("a", frozenset({"k3"})))
    assert index.candidates(frozenset({"k1"})) == set()
    assert index.candidates(frozenset({"k3"})) == {"a"}
    assert index.remove("a") == Item("a", frozenset({"k3"}))
    assert index.remove("a") is None
    assert index.postings() == {hash("k2"): frozenset({"b"})}
    assert len(index) == 1 and "b" in index and "a" not in index


def test_an_oversized_block_finds_nobody_on_its_own() -> None:
    index = _index(max_block_size=3)
    for i in range(5):
        index.upsert(Item(f"p{i}", frozenset({"common", f"own{i}"})))
    assert index.candidates(frozenset({"common"})) == set()
    assert index.candidates(frozenset({"common", "own2"})) == {"p2"}
    assert index.block_size("common") == 5


def test_candidates_are_capped_best_hits_first() -> None:
    index = _index(max_candidates=2)
    index.upsert(Item("x", frozenset({"a", "b", "c"})))
    index.upsert(Item("y", frozenset({"a", "b"})))
    index.upsert(Item("z", frozenset({"a"})))
    assert index.candidates(frozenset({"a", "b", "c"})) == {"x", "y"}


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["upsert", "remove"]),
        st.sampled_from([f"p{i}" for i in range(8)]),
        st.frozensets(st.sampled_from([f"k{i}" for i in range(6)]), max_size=4),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(ops=_OPS)
def test_in_place_changes_equal_a_rebuilt_index(
    ops: list[tuple[str, str, frozenset[str]]],
) -> None:
    live = _index()
    final: dict[str, Item] = {}
    for op, pid, keys in ops:
        if op == "upsert":
            live.upsert(Item(pid, keys))
            final[pid] = Item(pid, keys)
        else:
            live.remove(pid)
            final.pop(pid, None)
    rebuilt = _index()
    for item in final.values():
        rebuilt.upsert(item)
    assert live.postings() == rebuilt.postings()
    assert sorted(p.person_id for p in live) == sorted(final)
    for key in (f"k{i}" for i in range(6)):
        probe = frozenset({key})
        assert live.candidates(probe) == rebuilt.candidates(probe)


def test_real_records_upsert_remove_equal_rebuild() -> None:
    records = _people(40, seed=3)
    live = watchlist_index()
    for raw in records:
        live.upsert(person_from_raw(raw))
    for raw in records[::3]:
        live.remove(str(raw["person_id"]))
    for raw in records[::6]:
        live.upsert(person_from_raw(raw | {"phones": ["13900000000"]}))
    rebuilt = watchlist_index()
    for p in live:
        rebuilt.upsert(p)
    assert live.postings() == rebuilt.postings()


def test_event_keys_include_id_derived_birth_date() -> None:
    raw = {
        "event_id": "e",
        "source": "bank",
        "occurred_at": "2026-01-01T00:00:00Z",
        "id_number": "460105199001017124",
    }
    keys = event_block_keys(event_from_raw(raw))
    assert "bdg:19900101F" in keys  # the gender is known, so the sharper key only
    assert "bd:19900101" not in keys
    no_gender = {"event_id": "e", "source": "hukou", "occurred_at": "2026-01-01T00:00:00Z"}
    assert "bd:19900101" in event_block_keys(event_from_raw(no_gender | {"birth_date": "1990-1-1"}))
    masked = event_block_keys(event_from_raw(raw | {"id_number": "460105********7124"}))
    assert any(k.startswith("idm6-4:") for k in masked)
    assert not any(k.startswith("idm") for k in keys)  # full ids skip the mask-pattern keys


def test_birthday_keys_carry_the_surname_initial_when_the_event_has_a_name() -> None:
    person = person_from_raw(_people(1)[0] | {"name": "张伟", "gender": "F"})
    digits = person.birth_date.digits
    keys = person_block_keys(person)
    assert f"bdg:{digits}F" in keys  # for events without a readable name
    assert f"bdgs:{digits}F|z" in keys
    base = {"event_id": "e", "source": "hukou", "occurred_at": "2026-01-01T00:00:00Z"}
    dated = base | {"birth_date": person.birth_date.value, "gender": "F"}
    named = event_block_keys(event_from_raw(dated | {"name": "张传"}))
    assert f"bdgs:{digits}F|z" in named
    assert not any(k.startswith("bdg:") for k in named)
    assert f"bdg:{digits}F" in event_block_keys(event_from_raw(dated))
    # Another given name, another sound: the birthday and surname still find the person.
    index = watchlist_index()
    index.upsert(person)
    assert index.candidates(event_from_raw(dated | {"name": "张传"})) == {person.person_id}
    assert index.candidates(event_from_raw(dated | {"name": "李传"})) == set()


def test_stored_people_come_back_whole_and_updated_after_an_upsert() -> None:
    records = _people(30, seed=4)
    index = watchlist_index()
    people = [person_from_raw(raw) for raw in records]
    for person in people:
        index.upsert(person)
    assert all(index.get(p.person_id) == p for p in people)  # now also in the cache
    changed = person_from_raw(records[0] | {"phones": ["13900000000"]})
    assert index.upsert(changed) == people[0]
    assert index.get(changed.person_id) == changed
    assert index.remove(changed.person_id) == changed
    assert index.get(changed.person_id) is None
    assert changed.person_id not in index
    assert len(index) == len(people) - 1


def test_a_small_watchlist_is_kept_whole_and_packed_once_it_grows_past_the_limit() -> None:
    people = [person_from_raw(raw) for raw in _people(30, seed=5)]
    events = [
        event_from_raw(event_record(f"e{i}", p, "bank"))
        for i, p in enumerate(IdentityFactory(random.Random(5)).people(30))
    ]
    growing = watchlist_index(whole_limit=10)
    packed = watchlist_index(whole_limit=0)
    for n, person in enumerate(people, start=1):
        growing.upsert(person)
        packed.upsert(person)
        if n <= 10:  # whole: the very object, nothing rebuilt
            assert all(growing.get(p.person_id) is p for p in people[:n])
    assert growing.upsert(people[3]) == people[3]  # a replacement is no growth
    for p in people:  # packed: rebuilt on demand, equal
        assert growing.get(p.person_id) == p
        assert growing.get(p.person_id) is not p
    assert growing.postings() == packed.postings()
    assert [growing.candidates(e) for e in events] == [packed.candidates(e) for e in events]
    assert any(growing.candidates(e) for e in events)


def _reference_event_keys(event: EventRecord) -> frozenset[str]:
    """The event's keys as the rules say them, from the person side's key functions."""
    keys = set(id_block_keys(event.id))
    if any(k.startswith("idbody:") for k in keys):
        keys = {k for k in keys if not k.startswith("id:")}  # equal ids share their body
    if not event.id.masked:
        keys = {k for k in keys if not k.startswith("idm")}  # mask patterns: masked events
        if not event.id.valid and len(event.id.value) == 18:
            v = event.id.value  # a damaged full number: also by region and tail
            keys.add(f"idm6-4:{v[:6]}|{v[14:]}")
            keys.update("idbody:" + body for body in _one_slip_valid_bodies(v))
    gender = event.gender or event.id.gender
    keys.update(date_block_keys(event.birth_date, gender))
    keys.update(date_block_keys(event.id_birth_date, gender))
    if gender is not None:
        keys = {k for k in keys if not k.startswith("bd:")}  # bdg: is the sharper key
    initials = {p.surname[0] for n in event.names for p in n.parses if p.surname}
    # A dialect passport surname (TAY for 郑) also looks under its pinyin initials.
    initials |= {
        i
        for n in event.names
        if n.script != "hanzi"
        for p in n.parses
        for i in dialect_initials(p.surname)
    }
    sharper = {f"bdgs:{k[4:]}|{i}" for k in keys if k.startswith("bdg:") for i in initials}
    if sharper:
        keys = {k for k in keys if not k.startswith("bdg:")} | sharper
    years = {d.year for d in (event.birth_date, event.id_birth_date) if d.comparable}
    for name in event.names:
        keys.update(name_block_keys(name))
        keys.update(f"{k}|{y}" for k in name_block_keys(name) for y in years)
    keys.update(phone_block_keys(event.phone))
    keys.update(address_block_keys(event.address))
    return frozenset(keys)


def _one_slip_valid_bodies(value: str) -> set[str]:
    """Every 17-digit body of a valid number one substitution or adjacent swap from ``value``."""
    numbers = {value[:i] + d + value[i + 1 :] for i in range(18) for d in "0123456789X"}
    numbers |= {value[:i] + value[i + 1] + value[i] + value[i + 2 :] for i in range(17)}
    return {
        n[:17]
        for n in numbers
        if n[:17].isdigit() and check_char(n[:17]) == n[17] and n[:17] != value[:17]
    }


_ODD_EVENTS = [
    {"id_number": "460105********7124", "gender": "M", "birth_date": "1990-01-01"},
    {"id_number": "460105********7124", "name": "张伟"},
    {"id_number": "E12345678", "id_type": "passport", "name": "ZHANG WEI", "gender": "F"},
    {"id_number": "460105199001017124", "gender": "M", "name": "李雷"},  # the id says F
    {"id_number": "46010519900101712", "birth_date": "1990-02-03"},
    {"id_number": "460105199001017214", "name": "LEE YA"},  # the gender digit swapped
    {"id_number": "460105199001017142", "gender": "F"},  # the check character swapped
    {"id_number": "460105900101712", "name": "Wei Zhang"},
    {"birth_date": "1990-01-01", "name": "JOHN SMITH", "address": "12 Baker Street, London"},
    {"birth_date": "1990-13-45", "gender": "F", "phone": "0898-66123456"},
    {"name": "单伟", "gender": "M", "birth_date": "1989-12-31", "id_number": "110"},
    {},
]


def test_event_keys_follow_the_rules_on_the_person_sides_keys() -> None:
    world = build_world(SimulationConfig(people=3_000, watchlist=300, events=2_000, seed=3))
    events = []
    for sim in world.events:
        if isinstance(sim.payload, dict):
            try:
                events.append(event_from_raw(sim.payload))
            except InvalidRecord:
                continue
    base = {"event_id": "e", "source": "hukou", "occurred_at": "2026-01-01T00:00:00Z"}
    events += [event_from_raw(base | fields) for fields in _ODD_EVENTS]
    assert len(events) > 1_500
    for event in events:
        assert event_block_keys(event) == _reference_event_keys(event), event.event_id
