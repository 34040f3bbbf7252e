"""Phones, birth dates and addresses as Hainan's clerks write them (issue 13)."""

from __future__ import annotations

import pytest

from matchers.fields.addresses import compare_address, normalise_address
from matchers.fields.dates import normalise_date
from matchers.fields.phones import compare_phone, normalise_phone

HOME = "海南省海口市琼山区滨海大道62号绿城小区20栋305室"
SANYA = "海南省三亚市吉阳区迎宾路3号椰林小区2栋101室"


@pytest.mark.parametrize("raw", ["1997年2月24日", "1997/2/24", "1997年02月24号", "1997-02-24"])
def test_birth_dates_with_year_month_day_or_slashes(raw: str) -> None:
    forms = normalise_date(raw)
    assert forms.valid and forms.value == "1997-02-24"


@pytest.mark.parametrize(
    "raw", ["0086 13812345678", "0086-13812345678", "+86 138-1234-5678", "138-1234-5678"]
)
def test_phones_with_0086_plus86_and_dashes(raw: str) -> None:
    assert compare_phone(normalise_phone("13812345678"), normalise_phone(raw)).level == "exact"


ADDRESSES = [
    ("without the province", HOME, HOME.removeprefix("海南省"), "exact"),
    ("old city name 琼山市", HOME, HOME.replace("海口市琼山区", "琼山市"), "exact"),
    ("other building and room words", HOME, HOME.replace("栋", "号楼").replace("室", "房"), "exact"),  # noqa: E501
    ("full-width digits", HOME, HOME.translate(str.maketrans("0123456789", "０１２３４５６７８９")), "exact"),  # noqa: E501
    ("三亚 河东区 is today's 吉阳区", SANYA, SANYA.replace("吉阳区", "河东区"), "exact"),
    ("河西区 is 天涯区, not 吉阳区", SANYA, SANYA.replace("吉阳区", "河西区"), "partial"),
    ("another number on the road", HOME, HOME.replace("62号", "64号"), "typo"),
]  # fmt: skip


@pytest.mark.parametrize(("description", "person", "event", "level"), ADDRESSES)
def test_addresses_as_clerks_write_them(
    description: str, person: str, event: str, level: str
) -> None:
    comparison = compare_address([normalise_address(person)], normalise_address(event))
    assert comparison.level == level, (description, comparison.detail_en)
