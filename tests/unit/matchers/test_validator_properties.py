"""Every validator and normaliser: no input makes it raise, and none takes more than linear time.

Two properties over each public function that reads outside text (the record parsers, names and
pinyin, ids, dates, phones, addresses, cards, masking, the sanitiser):

* **never raises**: Hypothesis feeds it anything its signature admits (any JSON-like value for
  the ones that take ``object``; any text, surrogates and controls included, for the ones that
  take ``str``);
* **linear**: inputs of 1 KB, 10 KB and 100 KB of several shapes (hanzi, pinyin letters, digits
  and separators, controls, a mix); ten times the size must not take thirty times the time.
  Timing on a shared machine is noisy, so each size is the best of a few runs on fresh inputs
  (the functions cache by value), a floor of a few milliseconds absorbs the scheduler, and a
  failing ratio is measured again before it counts. A quadratic function fails by a factor of
  ten at these sizes, a cubic one (the phrase search this test found) by a hundred.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import random
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from matchers.errors import REASONS, InvalidRecord
from matchers.fields.addresses import normalise_address
from matchers.fields.cards import normalise_card
from matchers.fields.compact import compact_address, compact_id
from matchers.fields.dates import normalise_date
from matchers.fields.ids import normalise_id
from matchers.fields.masking import (
    as_text,
    mask_card,
    mask_digits,
    mask_id,
    mask_phone,
    redact_numbers,
)
from matchers.fields.names import normalise_name
from matchers.fields.phones import normalise_phone
from matchers.fields.pinyin import (
    given_readings,
    segment_pinyin,
    simplified,
    split_surname,
    surname_readings,
)
from matchers.fields.text import clean_text
from matchers.records import (
    event_from_raw,
    occurred_at_limit,
    parse_event_bytes,
    parse_timestamp,
    person_from_raw,
    validate_event_envelope,
)
from matchers.scoring.modelfile import default_model
from matchers.watchlist.matcher import Matcher

# --- never raises -------------------------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=())  # surrogates and controls included
    | st.sampled_from(
        "张伟王芳欧阳單曾區 zhangwei-ZHANG,·'0123456789Xx*+/年月日号路\u202e\u200b\u3000"
    ),
    max_size=40,
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities included
    | _TEXT
    | st.binary(max_size=20)
    | st.dates()
    | st.datetimes()
)
_ANY = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_OBJECT_FUNCTIONS: dict[str, Callable[[Any], object]] = {
    "normalise_name": normalise_name,
    "normalise_id": normalise_id,
    "normalise_id other": lambda v: normalise_id(v, "other"),
    "normalise_id passport": lambda v: normalise_id(v, "passport"),
    "normalise_date": normalise_date,
    "normalise_phone": normalise_phone,
    "normalise_address": normalise_address,
    "normalise_address compact": lambda v: normalise_address(v, compact=True),
    "normalise_card": normalise_card,
    "compact_id": lambda v: compact_id(v, None),
    "compact_address": compact_address,
    "as_text": lambda v: as_text(v, 64),
    "parse_timestamp": parse_timestamp,
}
_TEXT_FUNCTIONS: dict[str, Callable[[str], object]] = {
    "clean_text": clean_text,
    "mask_id": mask_id,
    "mask_phone": mask_phone,
    "mask_card": mask_card,
    "mask_digits": lambda v: mask_digits(v, head=3, tail=4),
    "redact_numbers": redact_numbers,
    "segment_pinyin": lambda v: segment_pinyin(v.lower()),
    "simplified": simplified,
    "given_readings": given_readings,
    "surname_readings": surname_readings,
    "split_surname": split_surname,
    "normalise_id cn_resident": lambda v: normalise_id(v, "cn_resident"),
}


@pytest.mark.parametrize("name", sorted(_OBJECT_FUNCTIONS))
@settings(max_examples=150)
@given(value=_ANY)
def test_normalisers_never_raise_on_any_value(name: str, value: Any) -> None:
    _OBJECT_FUNCTIONS[name](value)


@pytest.mark.parametrize("name", sorted(_TEXT_FUNCTIONS))
@settings(max_examples=150)
@given(value=_TEXT | st.text(min_size=200, max_size=2000))
def test_text_functions_never_raise_on_any_text(name: str, value: str) -> None:
    _TEXT_FUNCTIONS[name](value)


_NASTY = ["", " ", "\ud800", "张\udfff伟", "\x00", "\u202e", "\ufeff", "Ǆ", "ß" * 40, "\U0010ffff"]


@pytest.mark.parametrize("value", _NASTY)
def test_lone_surrogates_and_controls_never_raise(value: str) -> None:
    # Found by the property above: OpenCC (simplified) could not encode a lone surrogate.
    for function in [*_TEXT_FUNCTIONS.values(), *_OBJECT_FUNCTIONS.values()]:
        function(value)


_FIELDS = st.sampled_from(
    ["event_id", "source", "occurred_at", "name", "aliases", "id_type", "id_number",
     "birth_date", "gender", "phone", "phones", "address", "addresses", "registered_address",
     "card_number", "event_type", "change_type", "person_id", "status", "status_changed_at",
     "district", "case_officer", "region_code", "bank_code", "carrier"]
)  # fmt: skip
_GOOD = {
    "event_id": "e1",
    "source": "bank",
    "occurred_at": "2026-02-01T10:00:00+08:00",
    "person_id": "p1",
    "name": "张伟",
    "status": "dropped_out",
    "status_changed_at": "2026-01-05T09:00:00+08:00",
}
_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
    max_size=3),
    max_leaves=8,
)  # fmt: skip


@settings(max_examples=300)
@given(fields=st.dictionaries(_FIELDS, _ANY_JSON, max_size=8), keep=st.booleans())
@example(fields={"event_id": "\ud800", "name": "\udfff"}, keep=False)
def test_records_and_the_matcher_raise_only_invalid_record(
    fields: dict[str, Any], keep: bool
) -> None:
    raw = (_GOOD | fields) if keep else fields
    now = occurred_at_limit(dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    for read in (
        lambda: validate_event_envelope(raw, not_after=now),
        lambda: event_from_raw(raw, not_after=now),
        lambda: person_from_raw(raw),
        lambda: _MATCHER.match(raw, not_after=now),
    ):
        try:
            read()
        except InvalidRecord as exc:
            assert exc.reason in REASONS
    change = _MATCHER.apply_roster(raw)  # never raises: an invalid record says why
    assert change.action != "invalid" or change.reason in REASONS
    try:
        data = orjson.dumps(raw)
    except TypeError:  # a lone surrogate: no message can carry it
        return
    try:  # the JSON the parser sees, with orjson's own checks
        parse_event_bytes(data, max_bytes=4096, not_after=now)
    except InvalidRecord as exc:
        assert exc.reason in REASONS


_MATCHER = Matcher(default_model())
_MATCHER.apply_roster(
    _GOOD | {"id_number": "460105199001017124", "phones": ["13812345678"], "gender": "F"}
)


def _segment_by_backtracking(word: str) -> tuple[str, ...] | None:
    """``segment_pinyin`` as it was first written (recursive), the reference for short words."""
    from matchers.fields.pinyin import _LONGEST_SYLLABLE, _ROMAN_ALIASES, _VOCABULARY

    memo: dict[int, tuple[str, ...] | None] = {len(word): ()}

    def cut(start: int) -> tuple[str, ...] | None:
        if start in memo:
            return memo[start]
        found = None
        for end in range(min(len(word), start + _LONGEST_SYLLABLE), start, -1):
            piece = word[start:end]
            if piece in _VOCABULARY:
                rest = cut(end)
                if rest is not None:
                    found = (piece, *rest)
                    break
        memo[start] = found
        return found

    pieces = cut(0) if word else None
    return None if pieces is None else tuple(_ROMAN_ALIASES.get(p, p) for p in pieces)


_SYLLABLES = ["zhang", "wei", "ou", "yang", "xi", "an", "er", "n", "g", "a", "e", "li", "ang"]


@settings(max_examples=300)
@given(st.lists(st.sampled_from(_SYLLABLES), max_size=12).map("".join) | st.text("aegnoruxz"))
def test_segment_pinyin_cuts_as_the_backtracking_search_did(word: str) -> None:
    assert segment_pinyin(word) == _segment_by_backtracking(word)


def test_segment_pinyin_reads_a_long_word_without_recursion() -> None:
    word = "zhangwei" * 5000  # the recursive search ran out of stack past ~1000 letters
    pieces = segment_pinyin(word)
    assert pieces is not None and "".join(pieces) == word
    assert segment_pinyin("zhangwei" * 5000 + "q") is None


# --- linear time --------------------------------------------------------------------------------

_HANZI = "张伟王芳李娜刘洋陈静杨磊黄敏赵丽周强吴军徐涛孙艳马超朱勇胡杰郭平何明高华林霞罗刚"
_SHAPES: dict[str, str] = {
    "hanzi": _HANZI,
    # characters that form no phrase of pypinyin's in any order: its phrase search's worst case
    "no phrase": "伟玮琰磊",
    "letters": "aeiouzhangwei",
    "digits": "0123456789-/ +Xx*",
    "controls": "a张1\u202e\u2066\u2069\u200b\ufeff\x00\x1b\x85\t",
    "mixed": _HANZI + "zhangwei ZHANG,·'-0123456789Xx*+/年月日号路()（）\u3000\u202e",
}


def _text(rng: random.Random, shape: str, size: int) -> str:
    return "".join(rng.choices(_SHAPES[shape], k=size))


def _event(text: str) -> dict[str, Any]:
    fields = ("name", "id_number", "id_type", "phone", "address", "birth_date", "event_type")
    return _GOOD | dict.fromkeys(fields, text)


def _person(text: str) -> dict[str, Any]:
    return _GOOD | {
        "name": "张伟" + text,
        "aliases": [text],
        "id_number": text,
        "phones": [text],
        "addresses": [text],
        "birth_date": text,
        "district": text,
    }


def _message(text: str) -> bytes:
    # a long text, many keys and nested lists (within the depth limit): what orjson and the
    # depth walk see
    quarter = len(text) // 4
    keys = {f"k{i}": i for i in range(quarter // 8)}
    nested: Any = []
    for _ in range(20):
        nested = [nested, 1]
    return orjson.dumps(_event(text[:quarter]) | keys | {"n": [nested] * (quarter // 200 + 1)})


# name -> (function of one text, shapes it reads, sizes)
_LINEAR: dict[str, tuple[Callable[[str], object], tuple[str, ...]]] = {
    "clean_text": (clean_text, ("mixed", "controls", "hanzi")),
    "normalise_name": (normalise_name, ("hanzi", "no phrase", "letters", "mixed", "controls")),
    "normalise_id": (normalise_id, ("digits", "mixed")),
    "normalise_date": (normalise_date, ("digits", "mixed")),
    "normalise_phone": (normalise_phone, ("digits", "mixed")),
    "normalise_address": (normalise_address, ("hanzi", "mixed", "digits")),
    "normalise_card": (normalise_card, ("digits", "mixed")),
    "masking": (lambda v: (mask_id(v), mask_phone(v), mask_card(v)), ("digits", "mixed")),
    "redact_numbers": (redact_numbers, ("digits", "mixed")),
    "segment_pinyin": (segment_pinyin, ("letters",)),
    "simplified": (simplified, ("hanzi", "mixed")),
    "given_readings": (given_readings, ("no phrase", "hanzi", "mixed")),
    "event_from_raw": (lambda v: event_from_raw(_event(v)), ("mixed", "controls", "digits")),
    "person_from_raw": (lambda v: person_from_raw(_person(v)), ("mixed", "controls")),
    "parse_event_bytes": (
        lambda v: parse_event_bytes(_message(v), max_bytes=10**7),
        ("mixed", "digits"),
    ),
}
# pypinyin reads about 15 us a character, and names are cut to 64 characters before they get
# there: 1 KB and 10 KB of UTF-8 hanzi (three bytes a character) still show a quadratic.
_SIZES: dict[str, tuple[int, ...]] = {"given_readings": (340, 3_400)}
_FLOOR_S = 0.003  # below this, a ratio is the scheduler's, not the function's


def _best_time(function: Callable[[str], object], rng: random.Random, shape: str, n: int) -> float:
    """The best of three CPU times of this thread (other processes' load is not counted)."""
    best = float("inf")
    for _ in range(3):
        text = _text(rng, shape, n)  # fresh each run: most of these cache by value
        gc.disable()  # a collection started by earlier garbage is not this call's cost
        try:
            started = time.thread_time()
            function(text)
            best = min(best, time.thread_time() - started)
        finally:
            gc.enable()
    return best


def _grows_linearly(function: Callable[[str], object], shape: str, sizes: tuple[int, ...]) -> str:
    """``""`` when ten times the size takes less than thirty times the time, else the figures."""
    rng = random.Random(f"{shape}{sizes}")
    for attempt in range(3):
        times = [_best_time(function, rng, shape, n) for n in sizes]
        slow = [
            (small, big)
            for small, big in itertools.pairwise(times)
            if big > 30 * max(small, _FLOOR_S / 30) and big > _FLOOR_S
        ]
        if not slow:
            return ""
        if attempt == 2:
            return f"{shape}: " + ", ".join(f"{t * 1e3:.2f} ms" for t in times)
    return ""


@pytest.mark.parametrize("name", sorted(_LINEAR))
def test_time_per_input_byte_does_not_grow(name: str) -> None:
    function, shapes = _LINEAR[name]
    sizes = _SIZES.get(name, (1_000, 10_000, 100_000))
    function(_text(random.Random(0), shapes[0], 100))  # warm the tables
    failures = [f for f in (_grows_linearly(function, s, sizes) for s in shapes) if f]
    assert not failures, f"{name} grows faster than linear: {failures}"
