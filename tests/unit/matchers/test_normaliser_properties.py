"""What the field normalisers must give, stated as properties, not as copies of old code.

An id built from its parts reads back as those parts; a hanzi name's forms rebuild the name and
do not care whether it was written traditional or simplified; a pinyin word's syllables join
back to the word, each from the syllable table; an address's levels stand in its text in
order. Libraries the project already depends on (python-stdnum, pypinyin, OpenCC) are asked
directly where they state the rule.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from dataclasses import replace
from importlib import resources

import opencc
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin, pinyin
from stdnum.iso7064 import mod_11_2

from matchers.fields import addresses
from matchers.fields.ids import check_char, normalise_id
from matchers.fields.names import normalise_name
from matchers.fields.pinyin import (
    given_readings,
    segment_pinyin,
    simplified,
    split_surname,
    surname_readings,
)

SETTINGS = settings(max_examples=100, deadline=None)

# --- resident ids: built from their parts (GB 11643), read back as those parts ---------------

# Province prefixes of GB/T 2260 (Beijing, Shanghai, Guangdong, Hainan, Xinjiang).
_PROVINCES = st.sampled_from(["11", "31", "44", "46", "65"])
_IDS = st.tuples(
    _PROVINCES,
    st.text("0123456789", min_size=4, max_size=4),
    st.dates(dt.date(1800, 1, 1), dt.date(2099, 12, 31)),
    st.text("0123456789", min_size=3, max_size=3),
)


def _resident_id(region: str, born: dt.date, sequence: str) -> str:
    body = region + born.strftime("%Y%m%d").zfill(8) + sequence
    return body + check_char(body)


@settings(max_examples=300, deadline=None)
@given(st.text("0123456789", min_size=17, max_size=17), st.sampled_from(["", "0", "X"]))
def test_check_char_is_iso_7064_mod_11_2(body: str, tail: str) -> None:
    assert check_char(body + tail) == mod_11_2.calc_check_digit(body)  # the body only
    assert mod_11_2.is_valid(body + check_char(body))


def test_check_char_of_published_ids() -> None:
    # GB 11643's own example, and the one in python-stdnum's cn.ric documentation.
    assert check_char("11010519491231002") == "X"
    assert check_char("36042619910101007") == "1"
    forms = normalise_id("360426199101010071")
    assert (forms.valid, forms.birth_date, forms.gender, forms.region) == (
        True,
        "1991-01-01",
        "M",
        "360426",
    )


@SETTINGS
@given(_IDS)
def test_a_valid_id_reads_back_as_its_parts(parts: tuple[str, str, dt.date, str]) -> None:
    province, county, born, sequence = parts
    number = _resident_id(province + county, born, sequence)
    forms = normalise_id(number)
    assert (forms.value, forms.valid, forms.comparable, forms.flags) == (number, True, True, ())
    assert forms.birth_date == born.isoformat()
    assert forms.gender == ("M" if int(sequence[2]) % 2 else "F")
    assert (forms.region, forms.province) == (province + county, province)


@SETTINGS
@given(_IDS)
def test_a_region_missing_from_the_table_is_read_not_rejected(
    parts: tuple[str, str, dt.date, str],
) -> None:
    _, county, born, sequence = parts
    forms = normalise_id(_resident_id("99" + county, born, sequence))
    assert forms.valid
    assert forms.flags == ("id_region_unknown",)
    assert forms.region == "99" + county


@SETTINGS
@given(_IDS, st.integers(0, 16), st.integers(1, 9))
def test_any_one_body_digit_changed_fails_the_check(
    parts: tuple[str, str, dt.date, str], at: int, shift: int
) -> None:
    province, county, born, sequence = parts
    number = _resident_id(province + county, born, sequence)
    typo = number[:at] + str((int(number[at]) + shift) % 10) + number[at + 1 :]
    forms = normalise_id(typo)
    assert "id_checksum_failed" in forms.flags
    assert not forms.valid
    assert forms.comparable  # a typo is still worth comparing


_EARLY = st.dates(dt.date(1000, 1, 1), dt.date(1799, 12, 31))  # before the registry's earliest
_DAYS = st.tuples(st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99))


@SETTINGS
@given(
    _PROVINCES,
    _EARLY.map(lambda d: (d.year, d.month, d.day)) | _DAYS,
    st.text("0123456789", min_size=7, max_size=7),
)
def test_an_impossible_birth_date_is_flagged(
    province: str, day: tuple[int, int, int], rest: str
) -> None:
    try:
        possible = dt.date(*day).year >= 1800
    except ValueError:
        possible = False
    assume(not possible)
    body = province + rest[:4] + "{:04d}{:02d}{:02d}".format(*day) + rest[4:]
    forms = normalise_id(body + check_char(body))
    assert forms.flags == ("id_birth_date_impossible",)
    assert (forms.valid, forms.birth_date) == (False, "")


# Letters that clerks and OCR write for digits (module docstring of matchers.fields.ids).
_LOOKALIKES = {"0": "OoQD", "1": "IiLl", "2": "Zz", "5": "Ss", "6": "G", "8": "B"}
_GAPS = st.sampled_from(["", " ", "-", "\u3000", " - "])


@SETTINGS
@given(
    _IDS,
    st.sets(st.integers(0, 16), max_size=5),
    st.sampled_from(["ascii", "full_width", "lower_x"]),
    st.tuples(_GAPS, _GAPS),
)
def test_ids_as_clerks_write_them_read_as_the_clean_id(
    parts: tuple[str, str, dt.date, str],
    lettered: set[int],
    width: str,
    gaps: tuple[str, str],
) -> None:
    province, county, born, sequence = parts
    clean = _resident_id(province + county, born, sequence)
    chars = list(clean)
    swapped = False
    for i in sorted(lettered):
        if chars[i] in _LOOKALIKES:
            letters = _LOOKALIKES[chars[i]]
            chars[i] = letters[i % len(letters)]
            swapped = True
    if width == "full_width":  # as a Chinese keyboard types digits
        chars = [chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in chars]
    elif width == "lower_x":
        chars[17] = chars[17].lower()
    text = "".join(chars)
    written = text[:6] + gaps[0] + text[6:14] + gaps[1] + text[14:]
    expected = replace(normalise_id(clean), flags=("id_ocr_letters",) if swapped else ())
    assert normalise_id(written) == expected


@SETTINGS
@given(_PROVINCES, st.text("0123456789", min_size=4, max_size=4), st.data())
def test_a_legacy_15_digit_id_is_the_18_digit_one(
    province: str, county: str, data: st.DataObject
) -> None:
    born = data.draw(st.dates(dt.date(1900, 1, 1), dt.date(1999, 12, 31)))
    sequence = data.draw(st.text("0123456789", min_size=3, max_size=3))
    legacy = province + county + born.strftime("%y%m%d") + sequence
    forms = normalise_id(legacy)
    assert forms.value == _resident_id(province + county, born, sequence)
    assert (forms.valid, forms.flags, forms.birth_date) == (True, ("id_legacy_15",), str(born))


# --- hanzi names --------------------------------------------------------------------------

# Surnames (compound 欧阳 among them) and given-name characters, polyphones included (单 长 乐).
HANZI = "张王李赵趙劉刘陈陳單单曾区歐欧阳陽吕呂女律绿略虐强国德斌娜偉伟军軍华華乐樂长長行重"
_TO_TRADITIONAL = opencc.OpenCC("s2t")


@SETTINGS
@given(st.text(HANZI, min_size=1, max_size=5))
def test_a_hanzi_name_is_its_surname_and_given_name_read(text: str) -> None:
    forms = normalise_name(text)
    hanzi = simplified(text)
    surname, given_name = split_surname(hanzi)
    assert surname + given_name == hanzi
    assert (forms.valid, forms.script, forms.hanzi, forms.surname_hanzi) == (
        True,
        "hanzi",
        hanzi,
        surname,
    )
    assert forms.display == forms.value_key == hanzi
    assert forms.keys == {p.key for p in forms.parses}
    assert 1 <= len(forms.parses) <= 16
    assert len(set(forms.parses)) == len(forms.parses)
    readings = given_readings(given_name)
    assert forms.parses[0].surname == surname_readings(surname)[0]  # the likely reading first
    assert forms.parses[0].given == readings[0]
    for parse in forms.parses:
        assert parse.surname in surname_readings(surname)
        assert parse.given in readings


@SETTINGS
@given(st.text(HANZI, min_size=1, max_size=5))
def test_a_hanzi_name_reads_alike_traditional_or_simplified(text: str) -> None:
    forms = normalise_name(text)
    for written in (simplified(text), _TO_TRADITIONAL.convert(text)):
        other = normalise_name(written)
        assert (other.hanzi, other.keys, other.roman_keys, other.parses) == (
            forms.hanzi,
            forms.keys,
            forms.roman_keys,
            forms.parses,
        )


def test_a_compound_surname_is_cut_whole() -> None:
    assert split_surname("欧阳娜娜") == ("欧阳", "娜娜")
    assert split_surname("欧阳") == ("欧", "阳")  # two characters: surname and given name
    assert normalise_name("歐陽娜娜").surname_hanzi == "欧阳"


# --- pinyin readings of given names: pypinyin's own -----------------------------------------

_GIVEN_CHARS = HANZI + "江庆银观音曲调和平安明月英秀兰梅红霞丽芳敏静燕玲桂珍凤〇㐀𠀀"
_CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)


def _heteronyms(char: str) -> list[str]:
    return pinyin(char, style=Style.NORMAL, heteronym=True)[0][:3]


# Words of pypinyin's phrase table, read otherwise than character by character (长 chang, not
# zhang), and a character more: random characters seldom make one.
_PHRASES = st.builds(
    str.__add__,
    st.sampled_from(["长江", "重庆", "银行", "乐观", "音乐", "长安", "调和", "曲调"]),
    st.text(_GIVEN_CHARS, max_size=1),
)


@SETTINGS
@given(_PHRASES | st.text(st.sampled_from(_GIVEN_CHARS) | _CJK, min_size=1, max_size=5))
def test_given_readings_are_pypinyins_readings(given_name: str) -> None:
    readings = given_readings(given_name)
    phrase = lazy_pinyin(given_name, style=Style.NORMAL)
    assert len(set(readings)) == len(readings)
    assert all(len(r) == len(given_name) for r in readings)
    if len(given_name) == 1:
        assert readings == tuple((r,) for r in _heteronyms(given_name))
        return
    if len(phrase) == len(given_name):  # pypinyin read each character as one syllable
        assert readings[0] == tuple(phrase)  # the phrase reading first (长江: chang, not zhang)
    if len(given_name) > 3:
        assert len(readings) == 1
        return
    first = readings[0]
    options = [
        list(dict.fromkeys((first[i], *_heteronyms(c))))[:3] for i, c in enumerate(given_name)
    ]
    # Up to three readings a character, the phrase's first: every combination of them.
    assert len(readings) == math.prod(map(len, options))
    for reading in readings:
        assert all(s in o for s, o in zip(reading, options, strict=True))


def test_given_readings_of_known_names() -> None:
    assert given_readings("德斌")[0] == ("de", "bin")
    assert given_readings("长江")[0] == ("chang", "jiang")
    assert ("hang",) in given_readings("行")


# --- pinyin segmentation -------------------------------------------------------------------

_SYLLABLES = frozenset(
    line.strip()
    for line in resources.files("matchers.data")
    .joinpath("pinyin_syllables.txt")
    .read_text("utf-8")
    .splitlines()
    if line.strip() and not line.startswith("#")
)
# Passport (lyu) and loose (lue) spellings of u-umlaut syllables, and the syllable they are.
_SPELLINGS = {"lyu": "lv", "nyu": "nv", "lue": "lve", "nue": "nve"}
_WRITTEN = _SYLLABLES | frozenset(_SPELLINGS)


@functools.cache
def _cuttable(word: str) -> bool:
    """Whether ``word`` is a run of written syllables: the definition, by brute force."""
    return not word or any(
        word[:k] in _WRITTEN and _cuttable(word[k:]) for k in range(1, len(word) + 1)
    )


_SYLLABLE_LIST = sorted(_SYLLABLES)


@SETTINGS
@given(
    st.text("zhangweilvyuxiaoqnr", max_size=14)
    | st.lists(st.sampled_from(_SYLLABLE_LIST + sorted(_SPELLINGS)), max_size=4).map("".join)
)
def test_segment_pinyin_cuts_into_syllables_longest_first(word: str) -> None:
    pieces = segment_pinyin(word)
    if not word or not _cuttable(word):
        assert pieces is None
        return
    assert pieces is not None
    at = 0
    for piece in pieces:
        assert piece in _SYLLABLES
        # As written in the word: the syllable itself, or a spelling the table says it is.
        written = next(
            w
            for w in (piece, *_SPELLINGS)
            if _SPELLINGS.get(w, w) == piece and word.startswith(w, at)
        )
        # Longest first: no longer syllable here leaves a rest that can still be cut.
        assert not any(
            word[at:end] in _WRITTEN and _cuttable(word[end:])
            for end in range(at + len(written) + 1, len(word) + 1)
        )
        at += len(written)
    assert at == len(word)  # the syllables join back to the whole word


def test_segment_pinyin_of_known_words() -> None:
    assert segment_pinyin("zhangdebin") == ("zhang", "de", "bin")
    assert segment_pinyin("lyuxiao") == ("lv", "xiao")
    assert segment_pinyin("xian") == ("xian",)  # longest first: not xi'an
    assert segment_pinyin("qqq") is None


# --- address cut ---------------------------------------------------------------------------

_SUFFIXES = (
    (),
    ("市", "自治州", "地区", "盟"),
    ("自治县", "区", "县", "市", "旗"),
    ("街道", "镇", "乡"),
    (),
    ("号",),
)


@SETTINGS
@given(
    st.sampled_from(
        [("海南省", "海南", ""), ("北京市", "北京", "北京"), ("广东", "广东", ""), ("", "", "")]
    ),
    st.sampled_from(["海口市", "三亚市", "儋州市", ""]),
    st.sampled_from(["美兰区", "琼中黎族苗族自治县", "龙华区", ""]),
    st.sampled_from(["海甸街道", "嘉积镇", ""]),
    st.sampled_from(["海府路", "人民大道", "五西路", "解放大街", ""]),
    st.sampled_from(["12号", "3-5号", ""]),
    st.sampled_from(["3栋2单元501室", "2号楼", ""]),
)
def test_an_address_cut_gives_back_its_levels(  # noqa: PLR0917 - one argument a level
    province: tuple[str, str, str],
    city: str,
    district: str,
    street: str,
    road: str,
    number: str,
    building: str,
) -> None:
    written, province_core, municipality = province
    if municipality:
        city = ""  # a municipality is its own city
    text = written + city + district + street + road + number + building
    parts, end = addresses._cut(text)
    core = re.compile("(?:" + "|".join(s for ss in _SUFFIXES for s in ss) + ")$")
    expected = [
        province_core,
        municipality or core.sub("", city),
        core.sub("", district),
        core.sub("", street),
        road,
        number.removesuffix("号"),
    ]
    assert parts == expected
    assert text[end:] == building


ADDRESS_PIECES = [
    "海南省", "北京市", "上海", "广西壮族自治区", "香港特别行政区", "广东", "海口市", "三亚",
    "美兰区", "琼海市", "嘉积镇", "海甸街道", "人民大道", "海府路", "五西路", "12号", "3-5号",
    "号楼", "3栋", "2单元", "501室", "市场", "区域", "小区", "9", "-", "號", "区", "县", "路",
]  # fmt: skip


@SETTINGS
@given(st.lists(st.sampled_from(ADDRESS_PIECES), min_size=1, max_size=9))
def test_an_address_cut_invents_nothing(pieces: list[str]) -> None:
    text = "".join(pieces)
    parts, end = addresses._cut(text)
    assert 0 <= end <= len(text)
    at = 0
    for level, part in enumerate(parts):
        if not part or (level == 1 and part == parts[0]):  # a municipality: its own city
            continue
        found = text.find(part, at)
        assert found >= 0, (level, part)  # each level stands in the text, after the one before
        at = found + len(part)
        assert text.startswith(_SUFFIXES[level], at) or not _SUFFIXES[level]
        if level in {1, 2, 3}:  # a level's name never runs across a road, number or building
            assert not set(part) & set("路街巷道号栋幢室")
        if level == 5:
            assert re.fullmatch(r"\d+(?:-\d+)?", part)
    assert at <= end


def test_a_province_written_without_its_suffix_keeps_the_city() -> None:
    # Once read as a municipality (北京市): the city was lost, the district read as 海口.
    written = addresses.normalise_address("海南省海口市美兰区海府路12号")
    bare = addresses.normalise_address("海南海口市美兰区海府路12号")
    assert (bare.province, bare.city, bare.district, bare.road) == (
        "海南",
        "海口",
        "美兰",
        "海府路",
    )
    assert addresses.compare_address((written,), bare).level == "exact"
