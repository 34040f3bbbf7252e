"""Scoring: weights, TF adjustment, the id-implied fields, the name-only gate, bounds."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matchers.levels import LEVELS, FieldComparison, PairLevels
from matchers.records import event_from_raw, person_from_raw
from matchers.scoring.compare import PairScorer, compare_records, pair_levels
from matchers.scoring.frequencies import TermFrequencies, tf_key, trained_count
from matchers.scoring.gate import identifying_agreement, uncommon_name_support
from matchers.scoring.model import FIELDS, MatchModel, TermFrequencyParams
from matchers.scoring.modelfile import default_model
from matchers.scoring.score import probability_of, score_comparisons, score_levels

MODEL = default_model()
# The shipped model scores names by its trained table; the counted tables (watchlist mode) are
# tested on the same weights with that mode.
COUNTED = replace(MODEL, tf=TermFrequencyParams())


def _c(field: str, level: str, key: str = "") -> FieldComparison:
    return FieldComparison(field, level, f"{field} {level}", f"{field} {level}", key)  # type: ignore[arg-type]


def _identifying(levels: dict[str, str]) -> bool:
    pair = PairLevels.of([_c(f, lv) for f, lv in levels.items()], frozenset())
    return identifying_agreement(
        id_number=pair.id_number,
        phone=pair.phone,
        address=pair.address,
        birth_date=pair.birth_date,
        gender=pair.gender,
    )


def _supported(model: MatchModel, comparisons: list[FieldComparison]) -> bool:
    return uncommon_name_support(model, PairLevels.of(comparisons, frozenset()))


@pytest.mark.parametrize(
    ("description", "levels", "eligible"),
    [
        ("name alone", {"name": "exact"}, False),
        ("name + gender", {"name": "exact", "gender": "exact"}, False),
        # A register without gender (FEBRL): the full date still identifies beside the name.
        ("name + birth date, no gender recorded", {"name": "exact", "birth_date": "exact"}, True),
        ("name + birth date typo, no gender", {"name": "exact", "birth_date": "typo"}, False),
        ("name + birth year, no gender", {"name": "exact", "birth_date": "partial"}, False),
        (
            "birth date but gender differs",
            {"name": "exact", "birth_date": "exact", "gender": "disagree"},
            False,
        ),
        ("birth date + gender", {"birth_date": "exact", "gender": "exact"}, True),
        ("birth date typo + gender", {"birth_date": "typo", "gender": "exact"}, True),
        ("birth year only + gender", {"birth_date": "partial", "gender": "exact"}, True),
        ("id exact", {"id_number": "exact"}, True),
        ("id typo", {"id_number": "typo"}, True),
        ("masked id", {"id_number": "partial"}, True),
        ("id disagrees", {"name": "exact", "id_number": "disagree"}, False),
        ("phone", {"phone": "exact"}, True),
        ("address", {"address": "exact"}, True),
        ("same road, other number", {"address": "typo"}, False),
        ("same district only", {"name": "exact", "address": "partial"}, False),
        ("address sounds alike only", {"name": "exact", "address": "sound"}, False),
        ("nothing", {}, False),
    ],
)
def test_identifying_gate(description: str, levels: dict[str, str], eligible: bool) -> None:
    assert _identifying(levels) is eligible, description


@pytest.mark.parametrize("rare", [True, False])
def test_a_name_alone_is_never_a_lead_however_rare(rare: bool) -> None:
    tf = TermFrequencies([(tf_key("name", "other"), 10_000_000)]) if rare else None
    comparisons = [_c("name", "exact", "符翀")] + [_c(f, "missing") for f in FIELDS[1:]]
    scored = score_comparisons(MODEL, comparisons, tf=tf)
    assert scored.tier is None and not scored.eligible


def test_weights_add_up_from_the_prior() -> None:
    comparisons = [_c("id_number", "exact"), _c("name", "disagree"), _c("phone", "missing")]
    scored = score_comparisons(MODEL, comparisons)
    expected = (
        MODEL.prior_weight + MODEL.weight("id_number", "exact") + MODEL.weight("name", "disagree")
    )
    assert scored.score == pytest.approx(expected)
    assert scored.probability == pytest.approx(probability_of(expected))
    assert [c.weight for c in scored.contributions][2] == 0.0


def test_tf_lowers_the_weight_of_a_common_name() -> None:
    tf = TermFrequencies()
    for _ in range(2000):
        tf.add([tf_key("name", "张伟")])
    for i in range(20000):
        tf.add([tf_key("name", f"rare{i}")])
    tf.add([tf_key("name", "符翀")])
    common = score_comparisons(COUNTED, [_c("name", "exact", "张伟")], tf=tf)
    rare = score_comparisons(COUNTED, [_c("name", "exact", "符翀")], tf=tf)
    plain = score_comparisons(COUNTED, [_c("name", "exact", "张伟")])
    assert common.score < plain.score < rare.score
    sound_common = score_comparisons(COUNTED, [_c("name", "sound", "张伟")], tf=tf)
    sound_plain = score_comparisons(COUNTED, [_c("name", "sound", "张伟")])
    assert sound_common.score < sound_plain.score


def test_a_small_table_barely_moves_the_weight() -> None:
    tf = TermFrequencies([(tf_key("name", "张伟"), 2), (tf_key("name", "王芳"), 1)])
    adjusted = score_comparisons(COUNTED, [_c("name", "exact", "张伟")], tf=tf).score
    plain = score_comparisons(COUNTED, [_c("name", "exact", "张伟")]).score
    assert abs(adjusted - plain) < 0.5


def test_tf_counts_add_and_remove() -> None:
    tf = TermFrequencies()
    tf.add(["a", "a", "b"])
    tf.remove(["a", "c"])
    assert (tf.count("a"), tf.count("b"), tf.count("c"), tf.total) == (1, 1, 0, 2)


PERSON: dict[str, Any] = {
    "person_id": "p1",
    "name": "张伟",
    "id_number": "460105199001017124",
    "status": "dropped_out",
    "status_changed_at": "2026-01-05T09:00:00+08:00",
}
EVENT: dict[str, Any] = {"event_id": "e1", "source": "hukou", "occurred_at": "2026-02-01T10:00:00Z"}


def _levels(person: dict[str, Any], event: dict[str, Any]) -> dict[str, str]:
    comparison = compare_records(person_from_raw(PERSON | person), event_from_raw(EVENT | event))
    return {c.field: c.level for c in comparison.fields} | {
        f"{f}_implied": "yes" for f in comparison.implied
    }


def test_birth_date_in_the_event_id_counts_against_the_persons_own_field() -> None:
    levels = _levels(
        {"id_number": None, "birth_date": "1990-01-01", "gender": "F"},
        {"id_number": "460105199001017124"},
    )
    assert levels["birth_date"] == "exact" and levels["gender"] == "exact"
    assert "birth_date_implied" not in levels


def test_the_persons_id_counts_against_the_events_own_fields() -> None:
    levels = _levels({}, {"birth_date": "1990-01-02", "gender": "M"})
    assert levels["birth_date"] == "typo" and levels["gender"] == "disagree"


def test_exact_id_implies_birth_date_and_gender_without_double_counting() -> None:
    person = person_from_raw(PERSON | {"birth_date": "1990-01-01", "gender": "F"})
    event = event_from_raw(EVENT | {"id_number": "460105199001017124", "birth_date": "1990-01-01"})
    comparison = compare_records(person, event)
    assert comparison.implied == frozenset({"birth_date", "gender"})
    scored = score_comparisons(MODEL, comparison.fields, implied=comparison.implied)
    by_field = {c.field: c for c in scored.contributions}
    assert by_field["birth_date"].weight == 0.0 and by_field["birth_date"].implied
    assert by_field["id_number"].weight > 10


def test_exact_id_with_a_contradicting_birth_date_still_counts_the_contradiction() -> None:
    person = person_from_raw(PERSON | {"birth_date": "1975-06-06"})
    event = event_from_raw(EVENT | {"id_number": "460105199001017124", "birth_date": "1975-06-06"})
    comparison = compare_records(person, event)
    assert "birth_date" in comparison.implied  # both records say 1975-06-06: nothing new
    event2 = event_from_raw(EVENT | {"id_number": "460105199001017124", "birth_date": "1961-03-03"})
    assert "birth_date" not in compare_records(person, event2).implied


_LEVEL = st.sampled_from(LEVELS)


@given(
    levels=st.lists(
        st.tuples(st.sampled_from(FIELDS), _LEVEL), max_size=6, unique_by=lambda x: x[0]
    ),
    counts=st.lists(st.integers(0, 10**7), max_size=3),
)
def test_scores_are_finite_bounded_and_order_free(
    levels: list[tuple[str, str]], counts: list[int]
) -> None:
    tf = TermFrequencies((tf_key("name", f"n{i}"), c) for i, c in enumerate(counts))
    comparisons = [_c(f, lv, "n0" if f == "name" else "") for f, lv in levels]
    forward = score_comparisons(COUNTED, comparisons, tf=tf)
    backward = score_comparisons(COUNTED, comparisons[::-1], tf=tf)
    assert math.isfinite(forward.score) and -60 <= forward.score <= 60
    assert 0.0 <= forward.probability <= 1.0
    assert forward.score == pytest.approx(backward.score)
    assert forward.tier == backward.tier
    if forward.tier is not None:
        assert forward.eligible


@given(st.floats(allow_nan=False))
def test_probability_is_monotone_and_bounded(score: float) -> None:
    p = probability_of(score)
    assert 0.0 <= p <= 1.0
    assert probability_of(score + 1) >= p


_ID = "460105199001017124"
_PHONE = "13812345678"


def _mutate(value: str, data: st.DataObject) -> str | None:
    how = data.draw(st.sampled_from(["same", "one", "swap", "drop", "other", "none", "mask"]))
    i = data.draw(st.integers(0, len(value) - 2))
    other = data.draw(st.text(alphabet="0123456789", min_size=len(value), max_size=len(value)))
    variants = {
        "same": value,
        "one": value[:i] + data.draw(st.sampled_from("0123456789")) + value[i + 1 :],
        "swap": value[:i] + value[i + 1] + value[i] + value[i + 2 :],
        "drop": value[:i] + value[i + 1 :],
        "mask": value[:6] + "*" * 8 + value[14:] if len(value) == 18 else value,
        "other": other,
        "none": None,
    }
    return variants[how]


_DATES = st.sampled_from(["1990-01-01", "1990-01-10", "1991-01-01", "1989-12-31", "1975-06-06"])


@given(data=st.data())
def test_the_early_exits_never_drop_a_pair_the_score_keeps(data: st.DataObject) -> None:
    person = person_from_raw(
        PERSON
        | {
            "birth_date": data.draw(_DATES),
            "gender": data.draw(st.sampled_from(["M", "F", None])),
            "phones": [_PHONE],
            "addresses": ["海南省海口市美兰区海府路12号"],
        }
    )
    address = data.draw(
        st.sampled_from(
            [
                None,
                "海南省海口市美兰区海府路12号",
                "海口市美兰区海府路14号",
                "三亚市吉阳区迎宾路1号",
            ]
        )
    )
    raw = {
        "id_number": _mutate(_ID, data),
        "phone": _mutate(_PHONE, data),
        "birth_date": data.draw(st.none() | _DATES),
        "gender": data.draw(st.sampled_from(["M", "F", None])),
        "address": address,
    }
    event = event_from_raw(EVENT | {k: v for k, v in raw.items() if v is not None})
    scorer = PairScorer(MODEL, None)
    full = score_levels(scorer.weights, pair_levels(person, event))
    levels = scorer.levels(person, event)
    if full.tier is not None:
        assert levels == pair_levels(person, event)
    assert (None if levels is None else scorer.score(levels).tier) == full.tier


@given(
    name_level=st.sampled_from(LEVELS),
    others=st.lists(
        st.tuples(
            st.sampled_from(FIELDS[1:]),
            st.sampled_from(["missing", "disagree", "sound"]),
        ),
        max_size=5,
        unique_by=lambda x: x[0],
    ),
    count=st.integers(0, 10**6),
)
def test_no_identifying_agreement_means_no_lead(
    name_level: str, others: list[tuple[str, str]], count: int
) -> None:
    tf = TermFrequencies([(tf_key("name", "other"), count), (tf_key("name", "符翀"), 1)])
    comparisons = [_c("name", name_level, "符翀"), *(_c(f, lv) for f, lv in others)]
    scored = score_comparisons(MODEL, comparisons, tf=tf)
    assert scored.tier is None


# --- the trained name table (tf.mode events) and the common-name rule --------------------------

TRAINED = replace(
    MODEL,
    tf=TermFrequencyParams(
        mode="events",
        pseudo_count=1.0,
        table={"name:张伟": 500, "name:符翀": 2},
        table_total=100_000,
        table_unlisted=1,
    ),
)
DOB_ONLY = [_c("id_number", "missing"), _c("birth_date", "exact"), _c("gender", "exact")]


def test_the_trained_table_lowers_a_common_name_and_never_raises_a_rare_one() -> None:
    base = MODEL.weight("name", "exact")
    common = score_comparisons(TRAINED, [_c("name", "exact", "张伟")]).contributions[0].weight
    listed_rare = score_comparisons(TRAINED, [_c("name", "exact", "符翀")]).contributions[0]
    unlisted = score_comparisons(TRAINED, [_c("name", "exact", "欧阳翀")]).contributions[0]
    u = MODEL.params("name", "exact").u  # type: ignore[union-attr]
    expected = base + math.log2(u / ((500 + 1) / (100_000 + 1 / u)))
    assert common == pytest.approx(expected)
    assert common < base - 1
    assert listed_rare.weight == unlisted.weight == pytest.approx(base)
    sound = score_comparisons(TRAINED, [_c("name", "sound", "张伟")]).contributions[0].weight
    assert sound == pytest.approx(MODEL.weight("name", "sound") + (expected - base))


def test_the_trained_table_wins_over_a_counted_one() -> None:
    counted = TermFrequencies([(tf_key("name", "张伟"), 1), (tf_key("name", "x"), 10**6)])
    with_counts = score_comparisons(TRAINED, [_c("name", "exact", "张伟")], tf=counted)
    alone = score_comparisons(TRAINED, [_c("name", "exact", "张伟")])
    assert with_counts.score == alone.score


@pytest.mark.parametrize(
    ("name", "support", "lead"),
    [
        ("张伟", {}, False),  # common name + birth date + gender: one of many
        ("符翀", {}, True),  # listed, but seen twice in 100,000 events: not common
        ("欧阳翀", {}, True),  # not in the table at all
        ("张伟", {"phone": "exact"}, True),  # an identifier beside it
        ("张伟", {"address": "exact"}, True),
        ("张伟", {"id_number": "typo"}, True),
    ],
)
def test_a_common_name_with_a_birthday_alone_is_no_lead(
    name: str, support: dict[str, str], lead: bool
) -> None:
    comparisons = [_c("name", "exact", name), *DOB_ONLY, *(_c(f, lv) for f, lv in support.items())]
    assert _supported(TRAINED, comparisons) is lead
    scored = score_comparisons(TRAINED, comparisons)
    assert scored.eligible is lead
    if not lead:
        assert scored.tier is None


def test_the_namesake_rule_needs_a_trained_table_and_a_gender() -> None:
    comparisons = [_c("name", "exact", "张伟"), *DOB_ONLY]
    assert _supported(COUNTED, comparisons)
    no_gender = [_c("name", "exact", "张伟"), _c("birth_date", "exact"), _c("gender", "missing")]
    assert _supported(TRAINED, no_gender)  # FEBRL-like: left to the score


@given(
    count=st.integers(1, 10**5),
    bound=st.floats(1e-4, 1.0),
    level=st.sampled_from(["exact", "sound"]),
)
def test_the_namesake_rule_follows_the_bound(count: int, bound: float, level: str) -> None:
    tf = replace(TRAINED.tf, table={"name:n": count}, namesake_bound=bound)
    model = replace(MODEL, tf=tf)
    comparisons = [_c("name", level, "n"), *DOB_ONLY]
    u_date = MODEL.params("birth_date", "exact").u  # type: ignore[union-attr]
    u_gender = MODEL.params("gender", "exact").u  # type: ignore[union-attr]
    # population x name share x an ordinary date's share x a gender's share
    expected = tf.population * (count / tf.table_total) * u_date * u_gender
    assert _supported(model, comparisons) is (expected < bound)


def test_a_lead_on_name_birth_date_and_gender_says_how_few_share_them() -> None:
    rare = score_comparisons(TRAINED, [_c("name", "exact", "欧阳翀"), *DOB_ONLY])
    assert rare.tier is not None
    birth = next(c for c in rare.contributions if c.field == "birth_date")
    assert "others expected to share name, birth date and gender" in birth.detail_en
    assert "同名同日生同性别者预计" in birth.detail_zh
    # With a phone agreeing the rule did not decide, and the lead does not say it.
    phoned = score_comparisons(
        TRAINED, [_c("name", "exact", "欧阳翀"), *DOB_ONLY, _c("phone", "exact")]
    )
    birth = next(c for c in phoned.contributions if c.field == "birth_date")
    assert "others expected" not in birth.detail_en


def test_a_lowered_name_says_so_in_its_detail() -> None:
    common = score_comparisons(TRAINED, [_c("name", "exact", "张伟")]).contributions[0]
    rare = score_comparisons(TRAINED, [_c("name", "exact", "欧阳翀")]).contributions[0]
    assert "常见姓名" in common.detail_zh and "a common name" in common.detail_en
    assert rare.detail_en == "name exact"
    quick = FieldComparison("name", "exact", "", "", "张伟")
    assert score_comparisons(TRAINED, [quick]).contributions[0].detail_en == ""


# --- name parts and birth dates in the trained table (issue 13) ------------------------------

PARTS = replace(
    MODEL,
    tf=TermFrequencyParams(
        mode="events",
        fields=("name", "birth_date"),
        pseudo_count=1.0,
        # 50,000 events: 王 on one in ten, 亚妹 on one in fifty; 1 January 1965 heaped.
        table={
            "name:张伟": 500,
            "surname:王": 5_000,
            "given:亚妹": 1_000,
            "surname:符": 2_000,
            "birth_date:1965-01-01": 120,
        },
        table_total=50_000,
        table_unlisted=1,
    ),
)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("王亚妹", 5_000 * 1_000 / 50_000),  # never seen whole: its parts are common
        ("张伟", 500),  # listed: its own count
        ("符翀", 1),  # 翀 not listed: the parts say nothing, so unlisted
        ("欧阳亚妹", 1),  # 欧阳 not listed
        ("wang ya mei", 1),  # romanised: no parts
    ],
)
def test_an_unseen_hanzi_name_counts_as_its_parts(name: str, count: float) -> None:
    assert trained_count(PARTS.tf, "name", name) == pytest.approx(count)


def test_a_heaped_date_and_a_name_of_common_parts_weigh_less_and_say_so() -> None:
    base_name = MODEL.weight("name", "exact")
    common = score_comparisons(PARTS, [_c("name", "exact", "王亚妹")]).contributions[0]
    assert common.weight < base_name - 3 and "a common name" in common.detail_en
    heaped = score_comparisons(PARTS, [_c("birth_date", "exact", "1965-01-01")]).contributions[0]
    ordinary = score_comparisons(PARTS, [_c("birth_date", "exact", "1972-03-04")]).contributions[0]
    assert ordinary.weight == pytest.approx(MODEL.weight("birth_date", "exact"))
    assert heaped.weight < ordinary.weight - 3
    assert "a birth date many are registered with" in heaped.detail_en


@pytest.mark.parametrize(
    ("name", "date", "lead"),
    [
        ("符翀", "1972-03-04", True),  # a name the table never saw twice, an ordinary date
        # Under 王, which one in ten carry, the same rare given name on a heaped 1 January:
        # 10M x 1/10 x 1/50,000 x 120/50,000 x 1/2 = 0.024 others expected.
        ("王翀", "1965-01-01", False),
        ("王翀", "1972-03-04", True),  # the same on an ordinary date: 0.0007
        ("王亚妹", "1972-03-04", False),  # common parts on an ordinary date
        ("张伟", "1972-03-04", False),  # listed as common
        ("wang chong", "1972-03-04", True),  # romanised, unlisted: seen at most once
        ("wang chong", "1965-01-01", False),  # ... on a heaped date: 0.24
    ],
)
def test_the_namesake_rule_weighs_name_and_date_together(name: str, date: str, lead: bool) -> None:
    dob = [_c("id_number", "missing"), _c("birth_date", "exact", date), _c("gender", "exact")]
    comparisons = [_c("name", "exact", name), *dob]
    assert _supported(PARTS, comparisons) is lead
    # An identifier beside them always passes.
    assert _supported(PARTS, [*comparisons, _c("phone", "exact")])
