"""The flat-array postings table behaves like a dict of slot sets, through growth and deletes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.watchlist.postings import Postings

SETTINGS = settings(max_examples=150, deadline=None)
# Few distinct keys and slots, so adds, shared keys and deletes collide often; the extremes of
# the int64 range (the table's reserved values) included.
keys = st.sampled_from([0, 1, -1, 2, 7, 1024, 2**63 - 1, -(2**63), -(2**63) + 1, 12345678901])
ops = st.lists(st.tuples(st.booleans(), keys, st.integers(0, 6)), max_size=200)


def _as_sets(table: Postings) -> dict[int, frozenset[int]]:
    out = {}
    for key, value in table.items():
        out[key] = frozenset([value] if isinstance(value, int) else value)
    return out


@SETTINGS
@given(ops)
def test_matches_a_dict_of_sets(operations: list[tuple[bool, int, int]]) -> None:
    table = Postings()
    model: dict[int, set[int]] = {}
    for add, key, slot in operations:
        if add:
            if slot in model.get(key, set()):
                continue  # the index files a slot under a key once
            table.add(key, slot)
            model.setdefault(key, set()).add(slot)
        else:
            table.discard(key, slot)
            model.get(key, set()).discard(slot)
            if not model.get(key, True):
                del model[key]
    assert len(table) == len(model)
    for key, slots in model.items():
        got = table.get(key)
        assert got is not None
        assert set([got] if isinstance(got, int) else got) == slots
        assert isinstance(got, int) == (len(slots) == 1)
    expected = {k if k > -(2**63) + 1 else k + 2: frozenset(v) for k, v in model.items()}
    assert _as_sets(table) == expected


def test_grows_and_sweeps_tombstones() -> None:
    table = Postings()
    for round_ in range(3):
        for i in range(5_000):
            table.add(i * 7919 + round_, i)
        for i in range(5_000):
            table.discard(i * 7919 + round_, i)
        assert len(table) == 0
    for i in range(20_000):
        table.add(hash(f"k{i}"), i)
    assert len(table) == 20_000
    assert all(table.get(hash(f"k{i}")) == i for i in range(0, 20_000, 97))
    assert table.get(hash("absent")) is None


def test_grows_by_doubling_and_stays_at_least_a_third_full() -> None:
    table = Postings()
    for i in range(100_000):
        table.add(hash(f"k{i}"), i)
        if i % 997 == 0 and table.capacity > 1024:
            assert 0.34 < len(table) / table.capacity <= 0.7
