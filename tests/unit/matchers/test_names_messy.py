"""Names as real registries write them: shape-alike, dropped, dialect and Wade-Giles (issue 13)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matchers.fields.name_variants import (
    dialect_surnames,
    dropped_character,
    shape_alike,
    surname_romanisations,
    wade_giles,
)
from matchers.fields.names import compare_name, normalise_name

CASES = [
    ("shape-alike surname 王/玉", "王志豪", "玉志豪", "typo", "shape-alike character 玉 for 王"),
    ("shape-alike in a two-character name 明/朋", "吴明", "吴朋", "typo", "shape-alike"),
    ("shape-alike 己/已", "李己芳", "李已芳", "typo", "shape-alike"),
    ("a dropped given-name character", "陈玲春", "陈玲", "partial", "a character dropped"),
    ("a dropped middle character", "符亚妹", "符妹", "partial", "a character dropped"),
    (
        "Hokkien surname, Wade-Giles given name",
        "王志豪",
        "ONG CHIH-HAO",
        "sound",
        "Hokkien/Hainanese: ONG = 王",
    ),
    ("Cantonese, given name first", "王志豪", "Chih Hao Wong", "sound", "Cantonese: WONG = 王"),
    ("Hainanese 符 Foo", "符明光", "FOO MING KUANG", "sound", "Hainanese: FOO = 符"),
    (
        "Hokkien 陈 Tan with pinyin given name",
        "陈志豪",
        "TAN ZHI HAO",
        "sound",
        "Hokkien/Teochew/Hainanese: TAN = 陈",
    ),
    ("Teochew 张 Teo", "张国强", "TEO KUO-CHIANG", "sound", "Teochew: TEO = 张"),
    ("Wade-Giles 许 Hsu", "许建华", "HSU CHIEN-HUA", "sound", "Wade-Giles: HSU = 许"),
    # A dialect spelling one letter off the pinyin is the dialect, not a slip (issue 13).
    ("Cantonese 刘 Lau, one letter off liu", "刘亚妹", "LAU YA MEI", "sound", "Cantonese"),
    ("Cantonese 陈 Chan, one letter off chen", "陈媛春", "CHAN YUAN CHUN", "sound", "CHAN = 陈"),
    # The surname as in pinyin, the given name in Wade-Giles: said as such.
    (
        "Wade-Giles given name, pinyin surname",
        "林亚国",
        "LIN YA-KUO",
        "sound",
        "given name romanised in Wade-Giles, surname LIN = 林",
    ),
    (
        "Wade-Giles bin -> pin",
        "李斌文",
        "LI PIN WEN",
        "sound",
        "given name romanised in Wade-Giles",
    ),
    ("a real slip stays a typo", "张伟", "ZHANG WIE", "typo", "one letter off"),
    # What must stay apart.
    ("two-character names, not shape-alike", "吴明", "吴强", "disagree", "names differ"),
    ("another given name under a dialect surname", "王志豪", "ONG MING KUANG", "disagree", ""),
    ("a dialect spelling of another surname", "李志豪", "ONG CHIH-HAO", "disagree", ""),
    ("a dropped surname is no dropped character", "陈玲春", "玲春", "disagree", ""),
]


@pytest.mark.parametrize(("description", "left", "right", "level", "said"), CASES)
def test_compare_messy_names(
    description: str, left: str, right: str, level: str, said: str
) -> None:
    a, b = normalise_name(left), normalise_name(right)
    comparison = compare_name(a, b)
    assert comparison.level == level, description
    assert said in comparison.detail_en, comparison.detail_en
    assert compare_name(b, a).level == level  # symmetric


def test_the_tables_hold_what_the_issue_lists() -> None:
    # 王 Ong / Wong / Heng, 符 Foo / Phu, 林 Lim / Lam, 陈 Tan / Chan, 吴 Ng / Goh,
    # 张 Chang / Cheung / Teo, 黄 Wong / Ng, 蔡 Chua / Tsai, 许 Khoo / Hsu, 刘 Lau / Low.
    listed = {
        "王": {"ong", "wong", "heng"}, "符": {"foo", "phu"}, "林": {"lim", "lam"},
        "陈": {"tan", "chan"}, "吴": {"ng", "goh"}, "张": {"chang", "cheung", "teo"},
        "黄": {"wong", "ng"}, "蔡": {"chua", "tsai"}, "许": {"khoo", "hsu"}, "刘": {"lau", "low"},
    }  # fmt: skip
    for surname, spellings in listed.items():
        table = set().union(*surname_romanisations(surname).values())
        assert spellings <= table, surname
        assert all(surname in dialect_surnames(s) for s in spellings)
    assert shape_alike("王", "玉") and shape_alike("未", "末") and shape_alike("己", "已")
    assert not shape_alike("王", "李")


@pytest.mark.parametrize(
    ("pinyin", "wade"),
    [("zhi", "chih"), ("hao", "hao"), ("qiang", "chiang"), ("xiong", "hsiung"), ("guo", "kuo"),
     ("jian", "chien"), ("zhong", "chung"), ("ri", "jih"), ("si", "ssu"), ("cai", "tsai"),
     ("de", "te"), ("xue", "hsueh"), ("ye", "yeh"), ("er", "erh")],
)  # fmt: skip
def test_wade_giles_spellings(pinyin: str, wade: str) -> None:
    assert wade_giles(pinyin) == wade


@given(st.text("王李张刘陈杨黄赵吴周徐孙马朱林符", min_size=1, max_size=1),
       st.text("伟强磊军勇杰涛斌明亚妹文", min_size=1, max_size=2))  # fmt: skip
def test_a_name_never_drops_into_itself_and_comparison_stays_symmetric(
    surname: str, given_name: str
) -> None:
    full = surname + given_name
    assert not dropped_character(full, full, surname)
    a, b = normalise_name(full), normalise_name(full[:-1] if len(given_name) > 1 else full)
    assert compare_name(a, b).level == compare_name(b, a).level
