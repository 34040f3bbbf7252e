"""The matcher's two phases (levels with early exits, then ``score_levels``) score every pair as
the slow reference scorer (``reference.py``) does: the same score to the bit, the same tier.

Pairs come from simulated worlds (every candidate blocking finds: namesakes, relatives,
recycled phones, damaged and masked ids, Hainan's names and dates) and from Hypothesis (one
person, an event whose every field is drawn from the person's value, a slip of it, another
value or none), under each term-frequency mode.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.errors import InvalidRecord
from matchers.records import EventRecord, Person, event_from_raw, person_from_raw
from matchers.scoring.compare import PairScorer, pair_levels, score_pair
from matchers.scoring.frequencies import TermFrequencies
from matchers.scoring.model import MatchModel
from matchers.scoring.modelfile import default_model
from simulator import SimulationConfig
from tests.unit.matchers.reference import reference_score
from tests.unit.matchers.worlds import blocked_pairs

TRAINED = default_model()  # the shipped model: a trained name and birth-date table
WATCHLIST = replace(TRAINED, tf=replace(TRAINED.tf, mode="watchlist", table={}))
OFF = replace(TRAINED, tf=replace(TRAINED.tf, mode="off", table={}))
COUNTS = TermFrequencies([("name:张伟", 300), ("name:王芳", 12), ("name:符翀", 1)])
MODELS: dict[str, tuple[MatchModel, TermFrequencies | None]] = {
    "trained": (TRAINED, None),
    "watchlist": (WATCHLIST, COUNTS),
    "off": (OFF, None),
}


@pytest.fixture(scope="module")
def world_pairs() -> list[tuple[Person, EventRecord]]:
    classic = SimulationConfig(people=3_000, watchlist=300, events=2_000, seed=17)
    hainan = SimulationConfig(people=3_000, watchlist=300, events=2_000, seed=19, mix="hainan")
    return blocked_pairs(classic) + blocked_pairs(hainan)


def _assert_as_the_reference(
    model: MatchModel, tf: TermFrequencies | None, person: Person, event: EventRecord
) -> str | None:
    """The matcher's tier (early exits and all) and, without the exits, score and gate."""
    scorer = PairScorer(model, tf)
    expected_score, expected_gate, expected_tier = reference_score(model, person, event, tf)
    full = scorer.score(pair_levels(person, event))
    assert (full.score, full.eligible, full.tier) == (expected_score, expected_gate, expected_tier)
    levels = scorer.levels(person, event)
    assert (None if levels is None else scorer.score(levels).tier) == expected_tier
    return expected_tier


@pytest.mark.parametrize("mode", sorted(MODELS))
def test_the_matcher_scores_every_world_pair_as_the_reference(
    world_pairs: list[tuple[Person, EventRecord]], mode: str
) -> None:
    model, tf = MODELS[mode]
    tiers: dict[str | None, int] = {"high": 0, "medium": 0, "low": 0, None: 0}
    for person, event in world_pairs:
        tiers[_assert_as_the_reference(model, tf, person, event)] += 1
    # The worlds exercise every outcome, or the comparison above proves little.
    assert all(n > 0 for n in tiers.values()), tiers


def test_the_worded_score_is_the_reference_score(
    world_pairs: list[tuple[Person, EventRecord]],
) -> None:
    for person, event in world_pairs[::7]:
        _, scored = score_pair(TRAINED, person, event)
        score, gate, tier = reference_score(TRAINED, person, event)
        assert (scored.score, scored.eligible, scored.tier) == (score, gate, tier)
        weights = [c.weight for c in scored.contributions]
        assert min(60.0, max(-60.0, TRAINED.prior_weight + sum(weights))) == scored.score


_ID = "460105199001017124"
_PHONE = "13812345678"
_NAMES = ["张伟", "张玮", "章伟", "王芳", "符翀", "Zhang Wei", "ZHANG WEI", "张 伟", "李远鑫", ""]
_DATES = ["1990-01-01", "1990-01-10", "1991-01-01", "1990-10-01", "1975-06-06", "1990/1/1", ""]
_ADDRESSES = [
    "海南省海口市美兰区海府路12号",
    "海口市美兰区海府路14号",
    "海南省海口市美兰区",
    "三亚市吉阳区迎宾路1号",
    "",
]


def _slip(value: str, data: st.DataObject) -> str:
    how = data.draw(st.sampled_from(["same", "one", "swap", "drop", "other", "mask", "none"]))
    i = data.draw(st.integers(0, len(value) - 2))
    if how == "one":
        return value[:i] + data.draw(st.sampled_from("0123456789")) + value[i + 1 :]
    if how == "swap":
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    if how == "drop":
        return value[:i] + value[i + 1 :]
    if how == "other":
        return data.draw(st.text(alphabet="0123456789", min_size=len(value), max_size=len(value)))
    if how == "mask" and len(value) == 18:
        return value[:6] + "*" * 8 + value[14:]
    return "" if how == "none" else value


def _raw_pair(data: st.DataObject) -> tuple[dict[str, Any], dict[str, Any]]:
    person: dict[str, Any] = {
        "person_id": "p1",
        "name": data.draw(st.sampled_from(_NAMES[:5])),
        "id_number": data.draw(st.sampled_from([_ID, ""])),
        "birth_date": data.draw(st.sampled_from(_DATES)),
        "gender": data.draw(st.sampled_from(["M", "F", None])),
        "phones": [_PHONE],
        "addresses": [_ADDRESSES[0]],
        "status": "dropped_out",
        "status_changed_at": "2026-01-05T09:00:00+08:00",
    }
    event: dict[str, Any] = {
        "event_id": "e1",
        "source": data.draw(st.sampled_from(["hukou", "bank", "telecom"])),
        "occurred_at": "2026-02-01T10:00:00Z",
        "name": data.draw(st.sampled_from(_NAMES)),
        "id_number": _slip(_ID, data),
        "phone": _slip(_PHONE, data),
        "birth_date": data.draw(st.sampled_from(_DATES)),
        "gender": data.draw(st.sampled_from(["M", "F", None])),
        "address": data.draw(st.sampled_from(_ADDRESSES)),
    }
    return person, {k: v for k, v in event.items() if v not in (None, "")}


@settings(max_examples=400, deadline=None)
@given(data=st.data(), mode=st.sampled_from(sorted(MODELS)))
def test_the_matcher_scores_any_pair_as_the_reference(data: st.DataObject, mode: str) -> None:
    raw_person, raw_event = _raw_pair(data)
    person = person_from_raw({k: v for k, v in raw_person.items() if v not in (None, "")})
    try:
        event = event_from_raw(raw_event)
    except InvalidRecord:
        return
    model, tf = MODELS[mode]
    _assert_as_the_reference(model, tf, person, event)
