"""Explanations: readable reasons in both languages, strongest field first, numbers masked."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matchers.records import event_from_raw, person_from_raw
from matchers.scoring.compare import score_pair
from matchers.scoring.explain import explain
from matchers.scoring.modelfile import default_model
from matchers.scoring.score import FieldContribution

ID = "460105199001017124"


def _fc(field: str, level: str, zh: str, en: str, implied: bool = False) -> FieldContribution:
    return FieldContribution(field, level, 1.0, zh, en, implied)  # type: ignore[arg-type]


def _w(field: str, level: str, weight: float, zh: str, en: str) -> FieldContribution:
    return FieldContribution(field, level, weight, zh, en, False)  # type: ignore[arg-type]


def test_reason_reads_id_first_and_says_what_moved_the_score() -> None:
    explanation = explain(
        [
            _w("name", "sound", 12.0, "姓名同音 张玮/张伟", "name sounds alike 张玮/张伟"),
            _w("phone", "missing", 0.0, "电话缺失", "phone missing"),
            _w("address", "partial", -0.7, "同一城市", "same city"),
            _w("gender", "disagree", -7.0, "性别不同（男/女）", "gender differs (male/female)"),
            _w("id_number", "exact", 18.0, "身份证号一致", "ID number identical"),
            _fc("birth_date", "exact", "出生日期一致（1990-01-01）", "birth date identical", True),
        ]
    )
    assert explanation.reason_zh == (
        "身份证号一致；姓名同音 张玮/张伟；出生日期与身份证一致；性别不同（男/女）"
    )
    assert explanation.reason_en == (
        "ID number identical; name sounds alike 张玮/张伟; birth date agrees with the ID; "
        "gender differs (male/female)"
    )
    fields = [c.field for c in explanation.fields]
    assert fields == ["id_number", "name", "birth_date", "gender", "phone", "address"]


def test_nothing_comparable_still_gives_a_sentence() -> None:
    explanation = explain([_fc("name", "missing", "", "")])
    assert explanation.reason_zh and explanation.reason_en


@pytest.mark.parametrize(
    "text", [f"证件号 {ID}", "phone 13812345678", "card 6222021234567890123 seen"]
)
def test_a_raw_number_in_a_detail_is_masked(text: str) -> None:
    explanation = explain([_fc("id_number", "exact", text, text)])
    for sentence in (explanation.reason_zh, explanation.reason_en, explanation.fields[0].detail_zh):
        assert not re.search(r"\d{7,}", sentence)


@given(digits=st.text(alphabet="0123456789", min_size=7, max_size=25), prefix=st.text(max_size=5))
def test_no_long_digit_run_survives(digits: str, prefix: str) -> None:
    explanation = explain([_fc("phone", "exact", prefix + digits, digits + prefix)])
    assert digits not in explanation.reason_zh
    assert digits not in explanation.reason_en


def test_explanation_of_a_real_pair_has_no_unmasked_numbers() -> None:
    person = person_from_raw(
        {
            "person_id": "p1",
            "name": "张伟",
            "id_number": ID,
            "phones": ["13812345678"],
            "status": "dropped_out",
            "status_changed_at": "2026-01-05T09:00:00+08:00",
        }
    )
    event = event_from_raw(
        {
            "event_id": "e1",
            "source": "bank",
            "occurred_at": "2026-02-01T10:00:00Z",
            "name": "张玮",
            "id_number": ID,
            "phone": "13812345679",
        }
    )
    _, scored = score_pair(default_model(), person, event)
    explanation = explain(scored.contributions)
    text = str(explanation.to_dict())
    assert ID not in text and "13812345678" not in text and "13812345679" not in text
    assert "张玮" in explanation.reason_zh
    assert explanation.reason_zh.startswith("证件号一致")
    assert "出生日期与身份证一致" in explanation.reason_zh


def test_the_name_is_said_even_when_it_weighs_little() -> None:
    # An exact id anchors the lead; the dropped character is what the officer must check.
    explanation = explain(
        [
            _w("id_number", "exact", 17.5, "证件号一致", "ID number identical"),
            _w("name", "partial", -0.4, "姓名少写一个字：陈玲春 / 陈玲", "a character dropped"),
            _w("phone", "disagree", -0.7, "电话不同", "phones differ"),
        ]
    )
    assert explanation.reason_en == "ID number identical; a character dropped"
    assert "少写一个字" in explanation.reason_zh


PERSON = {
    "person_id": "P1",
    "name": "王福光",
    "id_number": None,
    "birth_date": "1959-07-01",
    "gender": "M",
    "addresses": ["海南省海口市琼山区红城湖路92号万绿园小区13栋1603室"],
    "status": "dropped_out",
    "status_changed_at": "2026-11-01T00:00:00+08:00",
}
HUKOU = {
    "event_id": "e1",
    "source": "hukou",
    "occurred_at": "2026-11-29T10:00:00+08:00",
    "name": "王福光",
    "gender": "M",
    "birth_date": "1959年7月1日",
    "address": "海南省琼山市红城湖路92号万绿园小区13栋1603室",
}


def test_the_phenomena_are_said_old_place_name_and_a_heaped_birth_date() -> None:
    _, scored = score_pair(default_model(), person_from_raw(PERSON), event_from_raw(HUKOU))
    by_field = {c.field: c for c in scored.contributions}
    address, birth = by_field["address"], by_field["birth_date"]
    assert address.level == "exact"
    assert "old place name" in address.detail_en and "旧地名" in address.detail_zh
    # 1 July: heaped, many registered with it; it weighs less and says so.
    assert birth.level == "exact"
    assert birth.weight < default_model().weight("birth_date", "exact") - 1
    assert "a birth date many are registered with" in birth.detail_en
    assert "出生日期" in birth.detail_zh
