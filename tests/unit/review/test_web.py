"""What a user sends, parsed once for the pages and the API (review/web.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.datastructures import FormData, QueryParams, UploadFile

from review.service import Invalid
from review.web import change_from, filters_from


def test_search_filters_from_query_parameters() -> None:
    filters = filters_from(
        QueryParams(
            "tier=high&status=new&source=bank&district=%E7%BE%8E%E5%85%B0%E5%8C%BA"
            "&since=2026-01-02&q=%20%E5%BC%A0%E4%B8%89%20&sort=time&page=3"
        )
    )
    assert (filters.tier, filters.status, filters.source) == ("high", "new", "bank")
    assert filters.district == "美兰区"
    assert filters.since == dt.date(2026, 1, 2) and filters.until is None
    assert (filters.text, filters.sort, filters.page) == ("张三", "time", 3)


def test_empty_search_is_every_lead_by_score_page_one() -> None:
    filters = filters_from(QueryParams(""))
    assert (filters.tier, filters.status, filters.source, filters.text) == (None,) * 4
    assert (filters.sort, filters.page) == ("score", 1)


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("status=deleted", "status must be one of"),
        ("source=post", "source must be one of"),
        ("tier=top", "tier must be one of"),
        ("since=yesterday", "since must be a date"),
        ("page=two", "page must be a number"),
    ],
)
def test_a_bad_search_parameter_is_a_400_with_its_reason(query: str, reason: str) -> None:
    with pytest.raises(Invalid) as caught:
        filters_from(QueryParams(query))
    assert caught.value.status == 400 and reason in caught.value.reason


def test_page_and_text_are_bounded() -> None:
    filters = filters_from(QueryParams(f"page=99999&q={'x' * 500}"))
    assert filters.page == 1000 and filters.text == "x" * 200


def test_a_change_reads_the_same_from_a_json_body_and_a_form() -> None:
    body = {"verdict": "confirmed", "note": "seen at the bank", "seq_no": 7, "primary_term": 1}
    form = FormData(
        [("verdict", "confirmed"), ("note", "seen at the bank"), ("seq_no", "7"),
         ("primary_term", "1"), ("csrf", "t")]
    )  # fmt: skip
    assert change_from(body) == change_from(form)
    assert change_from(body).seen == (7, 1) and change_from(body).assignee is None


@pytest.mark.parametrize(
    "values",
    [{}, {"seq_no": "", "primary_term": ""}, {"seq_no": None, "primary_term": None}],
)
def test_no_version_sent_is_none(values: dict[str, object]) -> None:
    assert change_from(values).seen is None


@pytest.mark.parametrize(
    "values",
    [
        {"seq_no": 3},
        {"primary_term": "1"},
        {"seq_no": "3", "primary_term": "one"},
        {"seq_no": [3], "primary_term": 1},
        {"seq_no": True, "primary_term": 1},
        {"seq_no": 2.5, "primary_term": 1},
    ],
)
def test_a_half_or_bad_version_is_a_400(values: dict[str, object]) -> None:
    with pytest.raises(Invalid) as caught:
        change_from(values)
    assert caught.value.status == 400
    assert caught.value.reason == "seq_no and primary_term must be numbers"


def test_a_file_where_text_belongs_is_no_value() -> None:
    upload = UploadFile(file=None, filename="note.txt")  # type: ignore[arg-type]
    change = change_from(FormData([("note", upload), ("verdict", "confirmed")]))
    assert (change.note, change.verdict) == (None, "confirmed")


def test_the_module_example_holds() -> None:
    import doctest

    import review.web

    failed, tried = doctest.testmod(review.web)
    assert (failed, tried > 0) == (0, True)
