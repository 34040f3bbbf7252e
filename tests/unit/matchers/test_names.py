"""Names: hanzi (simplified / traditional), polyphone surnames, pinyin in any order, Latin."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.fields.names import (
    compare_name,
    compare_name_sets,
    name_block_keys,
    normalise_name,
    segment_pinyin,
)
from matchers.levels import LEVELS

SETTINGS = settings(max_examples=200, deadline=None)

CASES = [
    # exact
    ("same characters", "张伟", "张伟", "exact"),
    ("traditional folded to simplified", "张伟", "張偉", "exact"),
    ("spaces and middle dot stripped", "买买提·艾力", "买买提 艾力", "exact"),
    ("pinyin, surname last", "ZHANG WEI", "Wei Zhang", "exact"),
    ("pinyin joined", "ZHANG WEI", "Zhangwei", "exact"),
    ("pinyin hyphenated", "zhang-wei", "ZHANG WEI", "exact"),
    ("pinyin spaced syllables vs joined given name", "ZHANG DE BIN", "Zhang Debin", "exact"),
    ("latin with comma", "John Smith", "SMITH, John", "exact"),
    ("latin accents and case", "MÜLLER, Hans", "hans muller", "exact"),
    ("vietnamese diacritics", "Nguyễn Văn An", "NGUYEN VAN AN", "exact"),
    ("cyrillic word order", "Иван Петров", "Петров Иван", "exact"),
    # sound
    ("homophone characters", "张伟", "张玮", "sound"),
    ("homophone three characters", "张德斌", "张德彬", "sound"),
    ("homophone surname", "章伟", "张伟", "sound"),
    ("hanzi vs pinyin", "张伟", "ZHANG WEI", "sound"),
    ("hanzi vs pinyin surname last", "张德斌", "Debin ZHANG", "sound"),
    ("hanzi vs joined pinyin", "张德斌", "zhangdebin", "sound"),
    ("traditional vs pinyin", "張偉", "zhang wei", "sound"),
    ("polyphone surname 单 as Shan", "单伟", "SHAN WEI", "sound"),
    ("polyphone surname 单 as Dan", "单伟", "DAN WEI", "sound"),
    ("polyphone surname 曾 as Zeng", "曾伟", "ZENG WEI", "sound"),
    ("polyphone surname 区 as Ou", "区伟", "OU WEI", "sound"),
    ("polyphone surname 仇 as Qiu", "仇伟", "QIU WEI", "sound"),
    ("polyphone surname 解 as Xie", "解伟", "XIE WEI", "sound"),
    ("polyphone surname 查 as Zha", "查伟", "ZHA WEI", "sound"),
    ("polyphone surname 朴 as Piao", "朴智", "PIAO ZHI", "sound"),
    ("polyphone surname 覃 as Qin", "覃伟", "QIN WEI", "sound"),
    ("polyphone surname 缪 as Miao", "缪伟", "MIAO WEI", "sound"),
    ("polyphone surname 盖 as Ge", "盖伟", "GE WEI", "sound"),
    ("polyphone surname 乐 as Yue", "乐伟", "YUE WEI", "sound"),
    ("polyphone surname 员 as Yun", "员伟", "YUN WEI", "sound"),
    ("compound surname 欧阳", "欧阳修", "OUYANG XIU", "sound"),
    ("compound surname last", "欧阳修", "Xiu Ouyang", "sound"),
    ("compound surname 尉迟", "尉迟恭", "YUCHI GONG", "sound"),
    ("compound surname 万俟", "万俟卨", "MOQI XIE", "sound"),
    ("compound surname 诸葛 joined", "诸葛亮", "ZHUGELIANG", "sound"),
    ("u-umlaut written lu", "吕伟", "LU WEI", "sound"),
    ("u-umlaut written lyu", "吕伟", "LYU WEI", "sound"),
    ("u-umlaut written lv", "吕伟", "LV WEI", "sound"),
    # typo
    ("one character differs in three", "张德斌", "张德武", "typo"),
    ("one letter in pinyin", "ZHANG WEI", "ZHANG WIE", "typo"),
    ("one letter off the reading", "张德斌", "ZHANG DEBING", "typo"),
    ("latin one letter", "John Smith", "Jon Smith", "typo"),
    # partial
    ("same given name, other surname", "张伟", "李伟", "partial"),
    ("same surname, one of two given syllables", "张德斌", "张斌", "partial"),
    ("pinyin same surname, one given syllable", "ZHANG DE BIN", "ZHANG BIN HUA", "partial"),
    ("initials", "ZHANG DEBIN", "ZHANG D B", "partial"),
    ("initials joined", "张德斌", "ZHANG DB", "partial"),
    ("latin initial", "John Smith", "J. Smith", "partial"),
    ("lü and lu are different characters", "吕伟", "卢伟", "partial"),
    # disagree
    ("different people", "张伟", "王芳", "disagree"),
    ("same surname only", "张伟", "张强", "disagree"),
    ("different pinyin", "ZHANG WEI", "WANG FANG", "disagree"),
    ("hanzi vs unrelated latin", "张伟", "John Smith", "disagree"),
    # missing
    ("empty", "张伟", "", "missing"),
    ("digits only", "张伟", "12345", "missing"),
    ("none", None, "张伟", "missing"),
]


@pytest.mark.parametrize(("description", "left", "right", "level"), CASES)
def test_compare_name(description: str, left: str, right: str, level: str) -> None:
    result = compare_name(normalise_name(left), normalise_name(right))
    assert result.level == level, f"{description}: {result.detail_en}"
    assert result.field == "name"


@pytest.mark.parametrize(("description", "left", "right", "level"), CASES)
def test_compare_name_is_symmetric(description: str, left: str, right: str, level: str) -> None:
    result = compare_name(normalise_name(right), normalise_name(left))
    assert result.level == level, description


@pytest.mark.parametrize(
    ("word", "syllables"),
    [
        ("zhangwei", ("zhang", "wei")),
        ("zhangdebin", ("zhang", "de", "bin")),
        ("xian", ("xian",)),
        ("ouyangxiu", ("ou", "yang", "xiu")),
        ("lyuwei", ("lv", "wei")),
        ("smith", None),
    ],
)
def test_segment_pinyin(word: str, syllables: tuple[str, ...] | None) -> None:
    assert segment_pinyin(word) == syllables


def test_forms_of_a_hanzi_name() -> None:
    forms = normalise_name("歐陽修")
    assert (forms.script, forms.hanzi, forms.surname_hanzi, forms.value_key) == (
        "hanzi",
        "欧阳修",
        "欧阳",
        "欧阳修",
    )
    assert "ouyangxiu" in forms.keys


def test_polyphone_surname_has_every_reading() -> None:
    assert {"shanwei", "danwei"} <= normalise_name("单伟").keys
    assert {"zengwei", "cengwei"} <= normalise_name("曾伟").keys


def test_romanised_value_key_ignores_order() -> None:
    assert normalise_name("ZHANG WEI").value_key == normalise_name("Wei Zhang").value_key
    assert normalise_name("Zhangwei").value_key == "wei zhang"


def test_flags() -> None:
    assert "name_empty" in normalise_name("").flags
    assert "name_empty" in normalise_name(None).flags
    assert "name_no_letters" in normalise_name("123 !!").flags
    assert "name_too_long" in normalise_name("张" * 100).flags


def test_value_key_reported_for_term_frequencies() -> None:
    assert compare_name(normalise_name("张伟"), normalise_name("ZHANG WEI")).value_key == "张伟"


def test_aliases() -> None:
    person = [normalise_name("张伟"), normalise_name("张大伟")]
    assert compare_name_sets(person, normalise_name("ZHANG DA WEI")).level == "sound"
    assert compare_name_sets(person, normalise_name("张伟")).level == "exact"
    assert compare_name_sets([], normalise_name("张伟")).level == "missing"


def test_block_keys() -> None:
    assert "nm:zhangwei" in name_block_keys(normalise_name("张伟"))
    assert {"nm:shanwei", "nm:danwei"} <= name_block_keys(normalise_name("单伟"))
    assert "nm:zhangwei" in name_block_keys(normalise_name("WEI ZHANG"))
    assert "nm:luwei" in name_block_keys(normalise_name("吕伟"))
    assert "nms:johnsmith" in name_block_keys(normalise_name("Smith John"))
    assert not any(k == "nm:zhang" for k in name_block_keys(normalise_name("张伟")))
    assert name_block_keys(normalise_name("")) == frozenset()


def test_hanzi_and_pinyin_share_a_block_key() -> None:
    for hanzi, roman in [("张德斌", "Debin Zhang"), ("欧阳修", "OUYANG XIU"), ("吕伟", "LYU WEI")]:
        assert name_block_keys(normalise_name(hanzi)) & name_block_keys(normalise_name(roman))


texts = st.one_of(
    st.text(),
    st.binary().map(lambda b: b.decode("utf-8", "replace")),
    st.text(alphabet="张王李伟芳德斌單曾区欧阳 ·𠀀𠀁", max_size=6),
    st.from_regex(r"[A-Za-z ,'\-]{0,20}"),
)


@SETTINGS
@given(texts)
def test_normalise_never_raises(raw: str) -> None:
    forms = normalise_name(raw)
    assert isinstance(forms.flags, tuple)
    assert isinstance(name_block_keys(forms), frozenset)


@SETTINGS
@given(texts, texts)
def test_compare_symmetric_and_bounded(a: str, b: str) -> None:
    left, right = normalise_name(a), normalise_name(b)
    level = compare_name(left, right).level
    assert level in LEVELS
    assert level == compare_name(right, left).level


@SETTINGS
@given(texts)
def test_identity(a: str) -> None:
    forms = normalise_name(a)
    level = compare_name(forms, forms).level
    assert level == ("exact" if forms.valid else "missing")


@SETTINGS
@given(texts, st.from_regex(r"\A1[3-9][0-9]{9}\Z"))
def test_details_never_carry_a_phone_or_id(name: str, number: str) -> None:
    left, right = normalise_name(f"{name} {number}"), normalise_name(name)
    result = compare_name(left, right)
    assert number not in result.detail_zh + result.detail_en + result.value_key
