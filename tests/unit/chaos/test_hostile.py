"""The hostile catalogue really is hostile, fits in a Kafka message, and is spread evenly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from matchers.errors import InvalidRecord
from matchers.records import parse_event_bytes
from tests.chaos.hostile import FEEDS, Hostile, catalogue, interleave

# Kinds no envelope check can accept, whatever the size limit: broken bytes, broken JSON,
# JSON that is not an object, a missing or mistyped envelope field.
ALWAYS_REJECTED = {
    "not_json",
    "not_utf8",
    "latin1_bytes",
    "array",
    "string",
    "number",
    "null",
    "empty",
    "truncated",
    "nan_infinity",
    "deep_nesting",
    "no_event_id",
    "no_source",
    "no_occurred_at",
    "empty_event_id",
    "bool_envelope",
}


def test_kinds_are_unique_and_every_copy_has_them_all() -> None:
    first, second = catalogue(0), catalogue(1)
    assert len({h.kind for h in first}) == len(first) >= 40
    assert [h.kind for h in first] == [h.kind for h in second]
    assert {h.key for h in first if h.key}.isdisjoint({h.key for h in second if h.key})


def test_every_message_fits_kafkas_default_limit_and_the_biggest_is_near_it() -> None:
    sizes = [len(h.value) for h in catalogue(0)]
    assert max(sizes) < 1_000_000
    assert max(sizes) > 900_000


def test_every_feed_gets_hostile_messages_some_without_a_key() -> None:
    messages = catalogue(0)
    assert {h.feed for h in messages} == set(FEEDS)
    assert any(h.key is None for h in messages)


BROKEN = [h for h in catalogue(0) if h.kind in ALWAYS_REJECTED]


def test_the_broken_kinds_are_all_in_the_catalogue() -> None:
    assert {h.kind for h in BROKEN} == ALWAYS_REJECTED


@pytest.mark.parametrize("hostile", BROKEN, ids=[h.kind for h in BROKEN])
def test_broken_messages_are_rejected_by_the_envelope_check(hostile: Hostile) -> None:
    with pytest.raises(InvalidRecord):
        parse_event_bytes(hostile.value, max_bytes=10_000_000)


def test_oversized_messages_exceed_the_default_event_limit() -> None:
    big = [h for h in catalogue(0) if h.kind.startswith("oversized")]
    assert len(big) == 3
    for hostile in big:
        with pytest.raises(InvalidRecord):
            parse_event_bytes(hostile.value, max_bytes=64 * 1024)


@given(st.lists(st.integers(), max_size=50), st.lists(st.text(max_size=2), max_size=20))
def test_interleave_keeps_both_orders_and_loses_nothing(valid: list[int], bad: list[str]) -> None:
    mixed = list(interleave(valid, bad))
    assert len(mixed) == len(valid) + len(bad)
    assert [x for x in mixed if isinstance(x, int)] == valid
    assert [x for x in mixed if isinstance(x, str)] == bad


def test_interleave_spreads_the_hostile_between_valid_ones() -> None:
    mixed = list(interleave(list(range(100)), ["a", "b", "c"]))
    positions = [n for n, x in enumerate(mixed) if isinstance(x, str)]
    assert positions == [25, 51, 77]


def test_the_kinds_kept_by_design_are_in_the_catalogue_and_have_a_usable_envelope() -> None:
    from tests.chaos.faults import KEPT_BY_DESIGN

    by_kind = {h.kind: h for h in catalogue(0)}
    assert set(by_kind) >= KEPT_BY_DESIGN
    for kind in KEPT_BY_DESIGN:
        try:
            parse_event_bytes(by_kind[kind].value, max_bytes=64 * 1024)
        except InvalidRecord as exc:  # pragma: no cover - the failure message says which
            raise AssertionError(f"{kind} is dead-lettered ({exc.reason})") from exc
