"""The id anchor: an exact, checksum-valid id beside a name agreeing in part makes a lead."""

from __future__ import annotations

from typing import Any

import pytest

from matchers.fields.id_damage import check_char
from matchers.fields.ids import CHECKED_ID_KEY
from matchers.records import EventRecord, Person, event_from_raw, person_from_raw
from matchers.scoring.compare import PairScorer, pair_levels, score_pair
from matchers.scoring.explain import explain
from matchers.scoring.gate import anchored_by_id
from matchers.scoring.modelfile import default_model
from matchers.scoring.score import score_levels
from matchers.watchlist.matcher import Matcher
from simulator import SimulationConfig
from tests.unit.matchers.worlds import blocked_pairs

BODY = "46010819780101062"
ID = BODY + check_char(BODY)


def _person(**extra: Any) -> dict[str, Any]:
    return {
        "person_id": "P1",
        "name": "王志豪",
        "id_number": ID,
        "birth_date": "1978-01-01",
        "gender": "F",
        "phones": ["13800001111"],
        "addresses": ["海南省海口市美兰区海府路12号金海花园3栋1502室"],
        "status": "dropped_out",
        "status_changed_at": "2026-11-01T00:00:00+08:00",
        **extra,
    }


def _event(name: str, id_number: str | None = ID, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": "bank-1",
        "source": "bank",
        "occurred_at": "2026-11-29T10:00:00+08:00",
        "name": name,
        "id_type": "cn_resident",
        "id_number": id_number,
        "phone": "13922223333",  # new phone, as people who drop out change it
        **extra,
    }


CASES = [
    ("shape-alike character", "玉志豪", ID, "low", "shape-alike character 玉 for 王"),
    ("dropped character", "王豪", ID, "low", "a character dropped"),
    ("homophone", "王志浩", ID, "any", "homophones"),
    ("dialect passport name", "ONG CHIH-HAO", ID, "any", "romanised in Hokkien"),
    (
        "id read with a letter O for 0",
        "玉志豪",
        ID.replace("0", "O", 1),
        "low",
        "letters for digits",
    ),
    # No anchor: the name disagrees, or the id is not exact and valid.
    ("a name that disagrees", "李建国", ID, None, ""),
    ("a typo in the id", "玉志豪", ID[:10] + str((int(ID[10]) + 1) % 10) + ID[11:], None, ""),
]


@pytest.mark.parametrize(("description", "name", "id_number", "tier", "said"), CASES)
def test_the_anchor_makes_a_lead_and_says_why(
    description: str, name: str, id_number: str, tier: str | None, said: str
) -> None:
    matcher = Matcher(default_model())
    matcher.apply_roster(_person())
    outcome = matcher.match(_event(name, id_number))
    leads = [lead for lead in outcome.leads if lead["person_id"] == "P1"]
    if tier is None:
        assert not leads, description
        return
    assert len(leads) == 1, description
    assert tier == "any" or leads[0]["tier"] == tier, description
    explanation = leads[0]["explanation"]
    text = explanation["reason_en"] + " ".join(f["detail_en"] for f in explanation["fields"])
    assert said in text
    assert ID not in text and ID not in explanation["reason_zh"]


def test_the_anchor_needs_an_exact_checked_id_and_a_name_in_part() -> None:
    key = CHECKED_ID_KEY + "0123"
    assert anchored_by_id(id_number="exact", id_key=key, name="typo")
    assert anchored_by_id(id_number="exact", id_key=key, name="partial")
    assert not anchored_by_id(id_number="exact", id_key=key, name="disagree")
    assert not anchored_by_id(id_number="exact", id_key=key, name=None)
    assert not anchored_by_id(id_number="exact", id_key="id#0123", name="typo")
    # A damaged copy of the id (it fails its check) anchors only beside the name or its sound.
    assert anchored_by_id(id_number="typo", id_key="", name="exact")
    assert anchored_by_id(id_number="typo", id_key="", name="sound")
    assert not anchored_by_id(id_number="typo", id_key="", name="typo")
    assert not anchored_by_id(id_number="typo", id_key="", name="partial")
    assert not anchored_by_id(id_number="partial", id_key="", name="exact")
    assert not anchored_by_id(id_number="disagree", id_key="", name="exact")


# 王文, born 1950-05-20 (a name shared by thousands in Hainan): a bank writes 王雯 (a homophone)
# or WANG WEN with 0520 read as 0250, a new phone. The common name alone scores below ``low``.
WANG_WEN = "469006195005206556"
WANG_WEN_SWAPPED = "469006195002506556"


def _valid(body17: str) -> str:
    return body17 + check_char(body17)


@pytest.mark.parametrize(
    ("name", "id_number", "said"),
    [
        ("王雯", WANG_WEN_SWAPPED, "digits 12 and 13 swapped"),  # homophone + 0520 as 0250
        ("WANG WEN", WANG_WEN_SWAPPED, "digits 12 and 13 swapped"),
        ("王文", WANG_WEN[:12] + "3" + WANG_WEN[13:], "digit 13 differs"),  # a day slipped
        ("王雯", WANG_WEN[:14] + "0" + WANG_WEN[15:], "digit 15 differs"),  # a sequence digit
        ("李建国", WANG_WEN_SWAPPED, None),  # another name: a damaged number is not enough
        # Another valid number (the sequence digits differ, both pass): a namesake, no typo.
        ("王文", _valid(WANG_WEN[:14] + "495"), None),
    ],
)
def test_a_damaged_copy_of_the_id_beside_the_name_or_its_sound_makes_a_lead(
    name: str, id_number: str, said: str | None
) -> None:
    matcher = Matcher(default_model())
    matcher.apply_roster(
        _person(name="王文", id_number=WANG_WEN, gender="M", birth_date="1950-05-20")
    )
    leads = [x for x in matcher.match(_event(name, id_number)).leads if x["person_id"] == "P1"]
    if said is None:
        assert not leads, (name, id_number)
        return
    assert len(leads) == 1, (name, id_number)
    fields = leads[0]["explanation"]["fields"]
    assert any(said in f["detail_en"] and "checksum-detected" in f["detail_en"] for f in fields)


def test_an_anchored_lead_scores_as_before_only_its_tier_is_floored() -> None:
    model = default_model()
    comparison, scored = score_pair(
        model, person_from_raw(_person()), event_from_raw(_event("玉志豪"))
    )
    assert scored.score < model.thresholds.low and scored.tier == "low"
    assert "shape-alike" in explain(scored.contributions).reason_en + " ".join(
        c.detail_en for c in scored.contributions
    )
    assert comparison.fields


@pytest.fixture(scope="module")
def hainan_pairs() -> list[tuple[Person, EventRecord]]:
    return blocked_pairs(
        SimulationConfig(people=6_000, watchlist=500, events=5_000, seed=13, mix="hainan")
    )


def test_the_early_exits_keep_every_tier_on_the_hainan_mix(
    hainan_pairs: list[tuple[Person, EventRecord]],
) -> None:
    model = default_model()
    scorer = PairScorer(model, None)
    anchored = 0
    for person, event in hainan_pairs:
        full = score_levels(scorer.weights, pair_levels(person, event))
        anchored += full.tier is not None and full.score < model.thresholds.low
        levels = scorer.levels(person, event)
        fast = None if levels is None else scorer.score(levels).tier
        assert fast == full.tier, (person.person_id, event.event_id)
    assert anchored > 0  # the world holds pairs only the anchor makes leads


HUKOU = {
    "event_id": "hukou-1",
    "source": "hukou",
    "occurred_at": "2026-11-29T10:00:00+08:00",
    "name": "王志豪",
    "id_type": "cn_resident",
    "id_number": None,
    "gender": "F",
    "address": "海南省三亚市吉阳区迎宾路3号椰林小区2栋101室",
}


@pytest.mark.parametrize(
    ("birth_date", "lead"),
    [("1978-01-01", False), ("1978-07-01", False), ("1978-03-17", True)],
)
def test_a_heaped_birth_date_is_no_support_beside_a_name_and_gender(
    birth_date: str, lead: bool
) -> None:
    matcher = Matcher(default_model())
    body = "4601081978" + birth_date[5:7] + birth_date[8:10] + "062"
    matcher.apply_roster(_person(birth_date=birth_date, id_number=body + check_char(body)))
    outcome = matcher.match({**HUKOU, "birth_date": birth_date})
    assert bool(outcome.leads) is lead
    # With the id as well the heaped date is no obstacle.
    with_id = matcher.match(
        {**HUKOU, "birth_date": birth_date, "id_number": body + check_char(body)}
    )
    assert with_id.leads


def test_a_dialect_passport_name_with_a_damaged_id_is_still_found() -> None:
    # 郑 is TAY in Hokkien: blocking by birthday and surname initial must look under z too.
    body = "46900719541118093"
    matcher = Matcher(default_model())
    person = _person(name="郑明", gender="M", birth_date="1954-11-18")
    matcher.apply_roster({**person, "id_number": body + check_char(body)})
    typo = body[:16] + "5" + check_char(body)  # the gender digit mistyped: fails the check
    outcome = matcher.match(_event("MING TAY", typo))
    assert outcome.candidates_considered == 1
    assert outcome.leads and "TAY = 郑" in outcome.leads[0]["explanation"]["reason_en"]
