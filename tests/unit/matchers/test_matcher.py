"""The Matcher facade: roster changes in place, events to leads, the name-only gate end to end.

``synthetic_world`` is a small seeded generator (on top of ``simulator``) that other
tests of this package reuse.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matchers.errors import InvalidRecord
from matchers.leads import lead_bytes
from matchers.scoring.modelfile import default_model
from matchers.watchlist.matcher import Matcher
from simulator.corruption import Corruptor
from simulator.population import Identity, IdentityFactory

SOURCES = ("hukou", "bank", "telecom")


def roster_record(i: int, person: Identity, status: str = "dropped_out") -> dict[str, Any]:
    return {
        "person_id": f"p{i:05d}",
        "name": person.name,
        "id_number": person.id_number,
        "birth_date": person.birth_date,
        "gender": person.gender,
        "phones": [person.phone],
        "addresses": [person.address],
        "status": status,
        "status_changed_at": "2026-01-05T09:00:00+08:00",
        "district": f"d{person.district_code}",
        "case_officer": f"officer{i % 7}",
    }


def event_record(event_id: str, person: Identity, source: str, **fields: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "event_id": event_id,
        "source": source,
        "occurred_at": "2026-02-01T10:00:00+08:00",
        "name": person.name,
        "id_number": person.id_number,
    }
    if source == "hukou":
        raw |= {"gender": person.gender, "birth_date": person.birth_date}
        raw |= {"address": person.address, "change_type": "move_in"}
    elif source == "bank":
        raw |= {"phone": person.phone, "event_type": "account_opened", "bank_code": "ICBC"}
    else:
        raw |= {"phone": person.phone, "registered_address": person.address}
        raw |= {"event_type": "sim_registered", "carrier": "cmcc"}
    raw.update(fields)
    return {k: v for k, v in raw.items() if v is not None}


def synthetic_world(
    people: int, events: int, *, seed: int = 7
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A roster (80% dropped out) and events: half about roster people (damaged), half not."""
    rng = random.Random(seed)
    factory, damage = IdentityFactory(rng), Corruptor(rng)
    persons = factory.people(people)
    roster = [
        roster_record(i, p, "dropped_out" if rng.random() < 0.8 else "active")
        for i, p in enumerate(persons)
    ]
    strangers = factory.people(events)
    out = []
    for n in range(events):
        source = SOURCES[n % 3]
        if n % 2 == 0:
            who = persons[rng.randrange(people)]
            if rng.random() < 0.3:
                who = factory.moved(who)
            name, _ = damage.name(
                who.surname, who.given, rng.choice(("hanzi", "pinyin", "homophone"))
            )
            form = rng.choice(("intact", "typo", "swap", "masked", "missing", "legacy15"))
            id_number, _ = damage.id_number(who.id_number, form)
            out.append(event_record(f"e{n:05d}", who, source, name=name, id_number=id_number))
        elif n % 4 == 1:  # a namesake: same name, nothing else
            other = factory.namesake(persons[rng.randrange(people)])
            out.append(event_record(f"e{n:05d}", other, source))
        else:
            out.append(event_record(f"e{n:05d}", strangers[n], source))
    return roster, out


@pytest.fixture(scope="module")
def world() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return synthetic_world(300, 400)


@pytest.fixture(scope="module")
def matcher(world: tuple[list[dict[str, Any]], list[dict[str, Any]]]) -> Matcher:
    m = Matcher(default_model())
    for record in world[0]:
        m.apply_roster(record)
    return m


def _person(i: int = 1, **changes: Any) -> dict[str, Any]:
    rng = random.Random(i)
    return roster_record(i, IdentityFactory(rng).people(1)[0]) | changes


def test_only_dropped_out_people_are_indexed() -> None:
    m = Matcher(default_model())
    assert m.apply_roster(_person(1)).action == "upsert"
    assert m.apply_roster(_person(2, status="active")).action == "ignored"
    assert len(m) == 1
    change = m.apply_roster(_person(1, status="located"))
    assert (change.action, change.status) == ("remove", "located")
    assert len(m) == 0
    assert m.person("p00001") is None


def test_a_later_record_replaces_the_person_in_place() -> None:
    m = Matcher(default_model())
    m.apply_roster(_person(1))
    m.apply_roster(_person(1, phones=["13900000000"]))
    assert len(m) == 1
    person = m.person("p00001")
    assert person is not None and [p.value for p in person.phones] == ["13900000000"]


@pytest.mark.parametrize(
    ("description", "raw", "reason"),
    [
        ("no person id", {"name": "张伟"}, "missing_person_id"),
        (
            "no status",
            {"person_id": "p1", "name": "张伟", "status_changed_at": "x"},
            "missing_status",
        ),
        ("not a mapping", ["p1"], "not_object"),
    ],
)
def test_an_invalid_roster_record_is_reported_not_raised(
    description: str, raw: Any, reason: str
) -> None:
    change = Matcher(default_model()).apply_roster(raw)
    assert change.action == "invalid", description
    assert change.reason == reason


def test_an_intact_event_about_a_watched_person_gives_a_high_lead() -> None:
    rng = random.Random(3)
    who = IdentityFactory(rng).people(1)[0]
    m = Matcher(default_model())
    m.apply_roster(roster_record(1, who))
    outcome = m.match(event_record("e1", who, "bank"))
    assert [lead["tier"] for lead in outcome.leads] == ["high"]
    lead = outcome.leads[0]
    assert lead["person_id"] == "p00001"
    assert who.id_number not in orjson.dumps(lead).decode()
    assert who.phone not in orjson.dumps(lead).decode()


def test_name_only_agreement_never_makes_a_lead() -> None:
    rng = random.Random(4)
    factory = IdentityFactory(rng)
    who = factory.people(1)[0]
    m = Matcher(default_model())
    m.apply_roster(roster_record(1, who))
    namesake = factory.namesake(who)
    outcome = m.match(event_record("e1", namesake, "bank", id_number=None, phone=None))
    assert outcome.leads == ()


def test_removed_person_no_longer_matches() -> None:
    rng = random.Random(5)
    who = IdentityFactory(rng).people(1)[0]
    m = Matcher(default_model())
    m.apply_roster(roster_record(1, who))
    m.apply_roster(roster_record(1, who, status="closed"))
    assert m.match(event_record("e1", who, "telecom")).leads == ()


def test_invalid_event_envelope_raises_invalid_record(matcher: Matcher) -> None:
    with pytest.raises(InvalidRecord, match="event_id"):
        matcher.match({"source": "bank", "occurred_at": "2026-01-01T00:00:00+08:00"})


def test_matching_is_deterministic(
    world: tuple[list[dict[str, Any]], list[dict[str, Any]]], matcher: Matcher
) -> None:
    again = Matcher(default_model())
    for record in reversed(world[0]):  # roster order does not matter once it is loaded
        again.apply_roster(record)
    for event in world[1][:120]:
        first = [lead_bytes(x) for x in matcher.match(event).leads]
        second = [lead_bytes(x) for x in again.match(event).leads]
        assert first == second


def test_synthetic_world_finds_most_true_people_and_few_namesakes(
    world: tuple[list[dict[str, Any]], list[dict[str, Any]]], matcher: Matcher
) -> None:
    found = namesake_leads = 0
    true_events = 0
    for n, event in enumerate(world[1]):
        outcome = matcher.match(event)
        assert outcome.candidates_considered <= default_model().blocking.max_candidates
        if n % 4 == 1:
            namesake_leads += len(outcome.leads)
        elif n % 2 == 0:
            true_events += 1
            found += bool(outcome.leads)
    # 20% of true people are not watched (active); damage hides a few more.
    assert found >= 0.55 * true_events
    assert namesake_leads == 0


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    ["name", "id_number", "id_type", "birth_date", "gender", "phone", "address",
     "registered_address", "card_number", "event_type", "change_type", "extra"]
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=st.dictionaries(_KEYS, _JSONISH, max_size=8), source=st.sampled_from(SOURCES))
def test_any_event_fields_never_raise(
    matcher: Matcher, fields: dict[str, Any], source: str
) -> None:
    raw = {"event_id": "e", "source": source, "occurred_at": "2026-01-01T00:00:00Z"} | fields
    outcome = matcher.match(raw)
    for lead in outcome.leads:
        assert lead["tier"] in ("high", "medium", "low")


@settings(max_examples=150, deadline=None)
@given(raw=st.dictionaries(st.text(max_size=20), _JSONISH, max_size=8))
def test_any_dict_is_a_lead_outcome_or_invalid_record(raw: dict[str, Any]) -> None:
    m = Matcher(default_model())
    assert m.apply_roster(raw).action in ("upsert", "ignored", "invalid", "remove")
    try:
        m.match(raw)
    except InvalidRecord as exc:
        assert exc.reason
