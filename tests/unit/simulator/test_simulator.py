"""The synthetic world: valid ids, determinism, truth that agrees with the events, damage shares."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator import (
    KIND_SHARES,
    IdentityFactory,
    SimulatedWorld,
    SimulationConfig,
    build_world,
    is_valid_resident_id,
)
from simulator.corruption import Corruptor, romanise
from simulator.hard import HARD_DECOY_SHARES, HardDecoys, masked_collision_id
from simulator.population import resident_id_check_char
from simulator.watchlist import WatchedPerson, build_watchlist

PHONE = re.compile(r"^1[3589]\d{9}$")
CONTRACT_EVENT_FIELDS = {
    "hukou": {"gender", "birth_date", "address", "region_code", "change_type"},
    "bank": {"bank_code", "phone", "card_number", "branch_address", "event_type"},
    "telecom": {"carrier", "phone", "registered_address", "event_type"},
}
ROSTER_FIELDS = {
    "person_id", "name", "aliases", "id_type", "id_number", "birth_date", "gender", "phones",
    "addresses", "status", "status_changed_at", "district", "case_officer",
}  # fmt: skip


@pytest.fixture(scope="module")
def world() -> SimulatedWorld:
    return build_world(SimulationConfig(people=8_000, watchlist=400, events=6_000, seed=5))


def _events_by_id(world: SimulatedWorld) -> dict[str, dict[str, Any]]:
    return {
        e.event_id: e.payload
        for e in world.events
        if isinstance(e.payload, dict) and "event_id" in e.payload
    }


def test_check_char_matches_the_gb11643_example() -> None:
    assert resident_id_check_char("11010519491231002") == "X"
    assert is_valid_resident_id("11010519491231002X")
    assert not is_valid_resident_id("110105194912310021")


@given(st.integers(min_value=0, max_value=2**32))
def test_every_generated_id_is_valid_and_agrees_with_birth_and_gender(seed: int) -> None:
    for person in IdentityFactory(random.Random(seed)).people(20):
        assert is_valid_resident_id(person.id_number)
        assert person.id_number[6:14] == person.birth_date.replace("-", "")
        assert int(person.id_number[16]) % 2 == (1 if person.gender == "M" else 0)
        assert person.id_number[:2] == "46"  # Hainan
        assert "1950" <= person.birth_date[:4] <= "2006"
        assert PHONE.match(person.phone)
        assert person.address.startswith("海南省")


def test_ids_and_phones_are_unique_across_a_population() -> None:
    people = IdentityFactory(random.Random(1)).people(20_000)
    assert len({p.id_number for p in people}) == len(people)
    assert len({p.phone for p in people}) == len(people)


def test_common_names_collide_and_top_surnames_dominate() -> None:
    people = IdentityFactory(random.Random(2)).people(20_000)
    names = Counter(p.name for p in people)
    assert names.most_common(1)[0][1] >= 10  # 张伟, 王芳 and friends
    surnames = Counter(p.surname for p in people)
    top = sum(surnames[s] for s in "王李张刘陈")
    assert 0.2 < top / len(people) < 0.4
    compound = sum(n for s, n in surnames.items() if len(s) == 2)
    assert 0 < compound / len(people) < 0.005


@pytest.mark.parametrize(
    ("surname", "given", "reading"),
    [("单", "雄信", "shan"), ("曾", "国藩", "zeng"), ("区", "伟", "ou"), ("欧阳", "娜", "ouyang")],
)
def test_polyphone_and_compound_surnames_are_romanised_by_their_surname_reading(
    surname: str, given: str, reading: str
) -> None:
    assert romanise(surname, given)[0] == reading
    text, flags = Corruptor(random.Random(0)).pinyin(surname, given)
    assert reading in text.lower().replace(" ", "")
    assert "name_pinyin" in flags


@pytest.mark.parametrize(
    ("form", "expected", "flag"),
    [
        ("masked", r"^460108\*{8}1234$|^4601\*{10}1234$", "id_masked"),
        ("legacy15", r"^460108900307123$", "id_legacy15"),
        ("typo", r"^\d{17}[\dX]$", "id_typo"),
        ("swap", r"^\d{17}[\dX]$", "id_swapped_digits"),
    ],
)
def test_id_damage_forms(form: Any, expected: str, flag: str) -> None:
    true_id = "460108199003071234"
    damaged, flags = Corruptor(random.Random(3)).id_number(true_id, form)
    assert damaged is not None
    assert re.match(expected, damaged)
    assert flags == (flag,)
    if form in {"typo", "swap"}:
        assert damaged != true_id
        assert not is_valid_resident_id(damaged)  # MOD 11-2 catches one typo or one swap


def test_same_seed_same_world_and_other_seed_other_world() -> None:
    config = SimulationConfig(people=2_000, watchlist=100, events=800, seed=9)
    first, second = build_world(config), build_world(config)
    dump = lambda w: json.dumps([w.roster, [e.payload for e in w.events], w.truth])  # noqa: E731
    assert dump(first) == dump(second)
    other = build_world(SimulationConfig(people=2_000, watchlist=100, events=800, seed=10))
    assert dump(other) != dump(first)


def test_roster_records_follow_the_contract(world: SimulatedWorld) -> None:
    statuses = Counter(r["status"] for r in world.roster)
    assert statuses["dropped_out"] > 0.7 * len(world.roster)
    assert {"active", "located", "closed"} <= set(statuses)
    for record in world.roster:
        assert set(record) == ROSTER_FIELDS
        assert record["id_number"] is None or len(record["id_number"]) in {15, 18}
    flags = Counter(f for p in world.watchlist for f in p.roster_flags)
    for flag in ("roster_alias", "roster_birth_date_wrong", "roster_id_legacy15"):
        assert flags[flag] > 0, flag


def test_events_are_ordered_and_carry_their_source_fields(world: SimulatedWorld) -> None:
    stamps = [e.occurred_at for e in world.events]
    assert stamps == sorted(stamps)
    for event in world.events:
        if event.kind == "malformed":
            continue
        payload = event.payload
        assert isinstance(payload, dict)
        assert payload["source"] == event.source
        assert CONTRACT_EVENT_FIELDS[event.source] <= set(payload)


def test_kind_shares_are_exact(world: SimulatedWorld) -> None:
    kinds = Counter(e.kind for e in world.events)
    for kind, share in KIND_SHARES.items():
        assert kinds[kind] == round(share * 6_000)


def test_truth_agrees_with_the_events(world: SimulatedWorld) -> None:
    by_id = _events_by_id(world)
    people = {p.person_id: p for p in world.watchlist}
    matches = [t for t in world.truth if t["kind"] == "match"]
    assert len(matches) == round(KIND_SHARES["match"] * 6_000)
    for truth in matches:
        event = by_id[truth["event_id"]]
        person = people[truth["person_id"]]
        assert truth["person_status"] == person.status
        assert event["source"] == truth["source"]
        if truth["id_form"] == "intact":
            assert event["id_number"] == person.now.id_number
        if truth["name_form"] == "hanzi":
            assert event["name"] == person.now.name
        lines = [e.event_id for e in world.events]
        assert lines[truth["line"] - 1] == truth["event_id"]


def test_malformed_lines_are_marked_in_truth(world: SimulatedWorld) -> None:
    malformed = [t for t in world.truth if t["kind"] == "malformed"]
    assert len(malformed) == round(KIND_SHARES["malformed"] * 6_000)
    reasons = Counter(t["reason"] for t in malformed)
    assert {"missing_event_id", "not_an_object", "invalid_json"} <= set(reasons)
    for truth in malformed:
        payload = world.events[truth["line"] - 1].payload
        if truth["reason"] == "missing_event_id":
            assert isinstance(payload, dict)
            assert "event_id" not in payload
            assert truth["event_id"] is None
        if truth["reason"] in {"not_an_object", "invalid_json"}:
            assert isinstance(payload, str)
            parsed: Any = None
            try:
                parsed = json.loads(payload)
            except json.JSONDecodeError:
                assert truth["reason"] == "invalid_json"
            assert not isinstance(parsed, dict)


def test_damage_shares_are_in_the_expected_ranges(world: SimulatedWorld) -> None:
    plans = [e for e in world.events if e.plan is not None]
    by_source = {s: [e for e in plans if e.source == s] for s in ("hukou", "bank", "telecom")}
    share = lambda events, pred: sum(map(pred, events)) / len(events)  # noqa: E731
    assert 0.28 < share(by_source["bank"], lambda e: e.plan.name == "pinyin") < 0.48
    assert share(by_source["hukou"], lambda e: e.plan.name == "pinyin") < 0.08
    assert 0.25 < share(by_source["telecom"], lambda e: e.plan.id_group == "masked") < 0.45
    assert share(by_source["hukou"], lambda e: e.plan.id_group == "masked") == 0
    corruptions = Counter(c for e in plans for c in e.corruptions)
    for word in (
        "name_pinyin_reversed",
        "name_pinyin_joined",
        "name_homophone",
        "name_traditional",
        "id_legacy15",
        "id_typo",
        "id_swapped_digits",
        "id_missing",
        "id_lowercase_x",
        "phone_plus86",
        "phone_spaced",
        "phone_dashed",
        "birth_date_impossible",
    ):
        assert corruptions[word] > 0, word


def test_movers_mostly_show_new_contacts(world: SimulatedWorld) -> None:
    people = {p.person_id: p for p in world.watchlist}
    by_id = _events_by_id(world)
    new = old = 0
    for truth in world.truth:
        if truth["kind"] != "match" or not truth["moved"] or truth["source"] != "telecom":
            continue
        person, event = people[truth["person_id"]], by_id[truth["event_id"]]
        digits = re.sub(r"\D", "", event["phone"] or "")[-11:]
        new += digits == person.now.phone
        old += digits == person.then.phone
    assert new > 3 * old > 0


def test_decoys_share_what_they_should(world: SimulatedWorld) -> None:
    people = {p.person_id: p for p in world.watchlist}
    for event in world.events:
        if event.kind not in {"relative", "recycled_phone"} or not isinstance(event.payload, dict):
            continue
        person = people[event.person_id or ""]
        if event.kind == "relative" and event.source == "hukou":
            assert event.payload["address"] == person.then.address
        if event.kind == "recycled_phone" and event.plan and event.plan.phone == "plain":
            assert event.payload["phone"] == person.then.phone
            assert event.payload.get("id_number") != person.then.id_number


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="people must exceed watchlist"):
        SimulationConfig(people=10, watchlist=20)


def test_building_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    assert gc.isenabled()
    build_world(SimulationConfig(people=300, watchlist=20, events=50, seed=1))
    assert gc.isenabled()
    gc.disable()
    try:
        build_world(SimulationConfig(people=300, watchlist=20, events=50, seed=1))
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- hard decoys (simulator.hard) -------------------------------------------------------


@pytest.fixture(scope="module")
def hard_world() -> SimulatedWorld:
    return build_world(
        SimulationConfig(people=8_000, watchlist=400, events=6_000, seed=5, hard_decoys=True)
    )


def test_hard_decoys_are_off_by_default_and_leave_the_roster_alone(
    world: SimulatedWorld, hard_world: SimulatedWorld
) -> None:
    assert not SimulationConfig().hard_decoys
    assert not {e.kind for e in world.events} & set(HARD_DECOY_SHARES)
    assert hard_world.roster == world.roster
    kinds = Counter(e.kind for e in hard_world.events)
    for kind, share in {**KIND_SHARES, **HARD_DECOY_SHARES}.items():
        assert kinds[kind] == round(share * 6_000), kind
    assert 0.005 <= sum(HARD_DECOY_SHARES.values()) <= 0.02
    truth_kinds = {t["kind"] for t in hard_world.truth}
    assert truth_kinds == {"match", "malformed"}  # decoys are never true links


def _hard(world: SimulatedWorld, kind: str) -> list[tuple[Any, WatchedPerson]]:
    people = {p.person_id: p for p in world.watchlist}
    return [
        (e, people[e.person_id or ""])
        for e in world.events
        if e.kind == kind and isinstance(e.payload, dict)
    ]


def test_namesakes_with_the_same_birth_date_carry_no_id(hard_world: SimulatedWorld) -> None:
    decoys = _hard(hard_world, "namesake_same_dob")
    assert decoys
    for event, person in decoys:
        payload, then = event.payload, person.then
        assert event.source == "hukou" and payload.get("id_number") is None
        assert payload["gender"] == then.gender
        if event.plan and event.plan.birth_date == "intact":
            assert payload["birth_date"] == then.birth_date
        if event.plan and event.plan.name == "hanzi":
            assert payload["name"] == then.name
        assert payload["address"] != then.address


def test_namesake_owners_are_drawn_by_how_common_their_name_is() -> None:
    factory = IdentityFactory(random.Random(4))
    population = factory.people(3_000)
    watchlist = build_watchlist(population[:200], factory, Corruptor(factory.rng))
    counts = Counter(p.name for p in population)
    hard = HardDecoys(factory, watchlist, population)
    owners = {p.person_id: p for p in watchlist}
    drawn = [owners[hard.draw("namesake_same_dob")[1]] for _ in range(300)]
    assert all(counts[p.then.name] >= 2 for p in drawn)  # somebody else holds the name


def test_recycled_numbers_go_to_common_names(hard_world: SimulatedWorld) -> None:
    decoys = _hard(hard_world, "recycled_phone_common_name")
    assert decoys
    for event, person in decoys:
        assert event.source in {"bank", "telecom"}
        if event.plan and event.plan.phone == "plain":
            assert event.payload["phone"] == person.then.phone
    assert any(e.payload["name"][0] == p.then.surname for e, p in decoys)


def test_siblings_share_the_household(hard_world: SimulatedWorld) -> None:
    decoys = _hard(hard_world, "relative_shared_household")
    assert decoys
    for event, person in decoys:
        then = event.payload
        if event.source == "hukou":
            assert then["address"] == person.then.address
        elif event.plan and event.plan.phone == "plain":
            assert then["phone"] == person.then.phone
        if event.plan and event.plan.name == "hanzi":
            assert then["name"] != person.then.name
            assert then["name"].startswith(person.then.surname)


def test_masked_collisions_show_the_same_visible_characters(hard_world: SimulatedWorld) -> None:
    decoys = _hard(hard_world, "masked_id_collision")
    assert decoys
    for event, person in decoys:
        shown = event.payload.get("id_number")
        assert event.source in {"bank", "telecom"} and shown and "*" in shown
        true_id = person.then.id_number
        assert shown[:4] == true_id[:4] and shown[-4:] == true_id[-4:]


@given(st.integers(min_value=0, max_value=2**32))
def test_a_collided_id_is_valid_and_differs_only_behind_the_mask(seed: int) -> None:
    person = IdentityFactory(random.Random(seed)).people(1)[0]
    other = masked_collision_id(person.id_number, random.Random(seed))
    assert is_valid_resident_id(other) and other != person.id_number
    assert other[:6] == person.id_number[:6] and other[-4:] == person.id_number[-4:]
