"""Match-quality rules: household fields counted once, ids that embed nothing imply nothing,
Latin (FEBRL-style) names, addresses and dates, damaged dates, u without the random-pair
matches, and tier floors that keep even a low lead precise."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.fields.addresses import address_block_keys, compare_address, normalise_address
from matchers.fields.dates import compare_date, normalise_date
from matchers.fields.names import compare_name_sets, normalise_name
from matchers.levels import FieldComparison
from matchers.records import event_from_raw, person_from_raw
from matchers.scoring.compare import compare_records
from matchers.scoring.model import TIER_PROBABILITIES, logit2
from matchers.scoring.modelfile import default_model
from matchers.scoring.score import score_comparisons
from matchers.training.estimate import without_matches

SETTINGS = settings(max_examples=150, deadline=None)
MODEL = default_model()
EVENT: dict[str, Any] = {
    "event_id": "e1",
    "source": "telecom",
    "occurred_at": "2026-02-01T10:00:00Z",
}
HOME = "海南省海口市美兰区青年路27号名门广场16栋406室"


def _c(field: str, level: str) -> FieldComparison:
    return FieldComparison(field, level, f"{field} {level}", f"{field} {level}")  # type: ignore[arg-type]


def _person(**fields: Any) -> Any:
    base = {
        "person_id": "p1",
        "name": "曾力博",
        "status": "dropped_out",
        "status_changed_at": "2026-01-05T09:00:00+08:00",
    }
    return person_from_raw(base | fields)


# --- household fields -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "name", "lead"),
    [
        ("relative: other given name, same phone and flat", "曾龙斌", False),
        ("relative romanised", "ZENG LONGBIN", False),
        ("the person, no id", "曾力博", True),
    ],
)
def test_a_shared_phone_and_address_count_once(description: str, name: str, lead: bool) -> None:
    person = _person(phones=["15612347588"], addresses=[HOME])
    event = event_from_raw(
        EVENT | {"name": name, "phone": "15612347588", "registered_address": HOME}
    )
    comparison = compare_records(person, event)
    scored = score_comparisons(MODEL, comparison.fields, implied=comparison.implied)
    assert (scored.tier is not None) is lead, description
    by_field = {c.field: c for c in scored.contributions}
    assert min(by_field["phone"].weight, by_field["address"].weight) == 0.0
    assert "counted once" in (by_field["phone"].detail_en + by_field["address"].detail_en)


@given(
    phone=st.sampled_from(["exact", "typo", "partial", "disagree", "missing"]),
    address=st.sampled_from(["exact", "typo", "partial", "disagree", "missing"]),
    name=st.sampled_from(["exact", "sound", "partial", "disagree", "missing"]),
)
@SETTINGS
def test_household_never_scores_above_its_stronger_field(
    phone: str, address: str, name: str
) -> None:
    """Both household fields agreeing never add more than the stronger one alone."""
    both = score_comparisons(MODEL, [_c("name", name), _c("phone", phone), _c("address", address)])
    strongest = max(
        score_comparisons(MODEL, [_c("name", name), _c("phone", phone)]).score,
        score_comparisons(MODEL, [_c("name", name), _c("address", address)]).score,
    )
    if phone in ("exact", "typo", "partial") and address == "exact":
        assert both.score <= strongest + 1e-9
    else:
        naive = MODEL.prior_weight + sum(
            MODEL.weight(f, lv)
            for f, lv in (("name", name), ("phone", phone), ("address", address))
        )
        assert both.score == pytest.approx(max(-60.0, min(60.0, naive)))


# --- ids that carry no birth date --------------------------------------------------------------


def test_an_id_without_embedded_fields_implies_nothing() -> None:
    person = _person(
        name="lachlan reid", id_type="other", id_number="3232033", birth_date="1950-05-31"
    )
    event = event_from_raw(
        EVENT
        | {
            "name": "lachlnn reid",
            "id_type": "other",
            "id_number": "3232033",
            "birth_date": "1950-05-31",
        }
    )
    comparison = compare_records(person, event)
    assert comparison.implied == frozenset()
    scored = score_comparisons(MODEL, comparison.fields, implied=comparison.implied)
    assert {c.field: c.weight for c in scored.contributions}["birth_date"] > 5


def test_a_resident_id_still_implies_its_birth_date() -> None:
    person = _person(id_number="460105199001017124", birth_date="1990-01-01", gender="F")
    event = event_from_raw(EVENT | {"id_number": "460105199001017124", "birth_date": "1990-01-01"})
    assert compare_records(person, event).implied == frozenset({"birth_date", "gender"})


# --- Latin names, addresses, dates (FEBRL-style corruption) -------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("rachel george", "rachle georfe", "typo"),  # a slip in each word
        ("caitlin hingston", "caittin hingsyton", "typo"),
        ("teal donaldson", "tea donaklsdon", "typo"),
        ("gabrielle langer", "laznger gabrielle", "typo"),  # swapped and mistyped
        ("michaela neumann", "michafla jakimow", "partial"),  # given name only
        ("joshua green", "joshua", "partial"),
        ("holly webb", "haklra hokly", "disagree"),
        ("john smith", "jane brown", "disagree"),
        ("zhang wei", "wang fang", "disagree"),  # pinyin never takes the Latin path
    ],
)
def test_latin_names_word_by_word(left: str, right: str, level: str) -> None:
    assert compare_name_sets(normalise_name(left), normalise_name(right)).level == level


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        (
            "1329 bean crescent, braeburn, the entrance, 2153 vic",
            "1329 bean crescent, brae brun, camperdown, 2153 vic",
            "exact",  # same house number and street
        ),
        (
            "262 verbrugghen street, oxley's way, 2560 qld",
            "262 verbrugghens treet, hackham, 2560 qld",
            "exact",
        ),
        ("7, canberra hse, frankston, 3158 vic", "7, canberrathse, frankdton, 3158 vic", "exact"),
        (
            "68 wells road, rosehill, auburn, 5068 sa",
            "10 wellslroad, rosehill, auburn, 5068 sa",
            "typo",
        ),
        (
            "9 tunney crescent, argyle, toorak, 5031 vic",
            "4 kirkland circuit, meemar, 3149 sa",
            "disagree",
        ),
    ],
)
def test_latin_addresses(left: str, right: str, level: str) -> None:
    assert compare_address([normalise_address(left)], normalise_address(right)).level == level


def test_latin_addresses_have_house_keys() -> None:
    keys = address_block_keys(
        normalise_address("22 saywell place, little nest, charlestown, 6430 nsw")
    )
    assert keys == {"adr:22|saywell", "adr:22|6430", "adr:saywell|6430"}
    assert address_block_keys(normalise_address("canberra hse, frankston")) == frozenset()


@pytest.mark.parametrize(
    ("raw", "keys"),
    [
        (
            "7, canberra hse, frankston, 3158 vic",
            {"adr:7|canberra", "adr:7|3158", "adr:canberra|3158"},
        ),
        ("cleland street, rowethorpe, mount isa, 4122 nsw", {"adr:cleland|4122"}),  # no house
        ("海南省海口市美兰区青年路27号", {"adr:青年路27"}),  # Chinese keys unchanged
    ],
)
def test_address_block_keys_by_shape(raw: str, keys: set[str]) -> None:
    assert address_block_keys(normalise_address(raw)) == keys


_LATIN = st.text(alphabet="abcdefghij 0123456789,", max_size=40)


@given(_LATIN, _LATIN)
@SETTINGS
def test_latin_address_comparison_is_symmetric(a: str, b: str) -> None:
    x, y = normalise_address(a), normalise_address(b)
    assert compare_address([x], y).level == compare_address([y], x).level


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("1965-01-08", "1966-13-08", "missing"),  # impossible and not near: no evidence
        ("1990-03-01", "1990-13-01", "typo"),  # impossible but one digit off: still a typo
        ("1948-02-25", "1948-20-25", "typo"),  # impossible month, digits swapped
        ("1948-02-25", "1948-31-05", "partial"),  # impossible, same year
        ("1976-06-09", "1967-09-05", "disagree"),  # two real dates
    ],
)
def test_damaged_dates(left: str, right: str, level: str) -> None:
    assert compare_date(normalise_date(left), normalise_date(right)).level == level


# --- estimation and tiers ------------------------------------------------------------------------


@given(
    p=st.lists(st.floats(0.001, 1.0), min_size=2, max_size=5),
    m=st.lists(st.floats(0.001, 1.0), min_size=5, max_size=5),
    prior=st.floats(0.0, 0.01),
)
@SETTINGS
def test_u_without_matches_is_a_distribution_that_never_rises_for_exact(
    p: list[float], m: list[float], prior: float
) -> None:
    levels = ["exact", "typo", "partial", "disagree", "sound"][: len(p)]
    total_p, total_m = sum(p), sum(m[: len(p)])
    u = {"name": {lv: v / total_p for lv, v in zip(levels, p, strict=True)}}
    mm = {"name": {lv: v / total_m for lv, v in zip(levels, m[: len(p)], strict=True)}}
    out = without_matches(u, mm, prior, floor=1e-6)  # type: ignore[arg-type]
    assert sum(out["name"].values()) == pytest.approx(1.0)
    assert all(v > 0 for v in out["name"].values())
    if prior == 0:
        assert out["name"] == pytest.approx(u["name"])


def test_random_pair_matches_come_out_of_u() -> None:
    u = {"id_number": {"exact": 2e-4, "disagree": 1 - 2e-4}}
    m = {"id_number": {"exact": 0.9, "disagree": 0.1}}
    out = without_matches(u, m, 2e-4, floor=1e-5)  # type: ignore[arg-type]
    assert out["id_number"]["exact"] < 5e-5


def test_tier_floors_are_precise_posteriors() -> None:
    assert TIER_PROBABILITIES["low"] >= 0.99
    assert TIER_PROBABILITIES["low"] < TIER_PROBABILITIES["medium"] < TIER_PROBABILITIES["high"]
    t = MODEL.thresholds
    assert t.low == pytest.approx(logit2(TIER_PROBABILITIES["low"]))
    assert t.low < t.medium < t.high
