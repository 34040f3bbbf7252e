"""``matchers.frozen.builder`` makes the same objects as the frozen dataclasses' constructors."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.addresses import AddressForms
from matchers.dates import DateForms
from matchers.frozen import builder
from matchers.ids import IdForms
from matchers.names import NameForms
from matchers.phones import PhoneForms
from matchers.readings import NameParse

CLASSES = [AddressForms, DateForms, IdForms, NameForms, NameParse, PhoneForms]
_SCALAR: st.SearchStrategy[Any] = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_VALUE: st.SearchStrategy[Any] = st.one_of(
    _SCALAR, st.tuples(_SCALAR), st.frozensets(st.text(max_size=3), max_size=3)
)


# Compiled by mypyc (matchers.native), a class is its own builder: its constructor is native.
COMPILED = [cls for cls in CLASSES if hasattr(cls, "__mypyc_attrs__")]
PURE = [cls for cls in CLASSES if cls not in COMPILED]


@pytest.mark.skipif(not PURE, reason="the matchers run compiled: see test_compiled_classes_...")
@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PURE or CLASSES), st.data())
def test_built_objects_are_the_constructed_ones(cls: type[Any], data: st.DataObject) -> None:
    values = [data.draw(_VALUE) for _ in dataclasses.fields(cls)]
    built, constructed = builder(cls)(*values), cls(*values)
    assert type(built) is cls
    assert built == constructed
    assert repr(built) == repr(constructed)
    assert dataclasses.astuple(built) == dataclasses.astuple(constructed)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.__setattr__(dataclasses.fields(cls)[0].name, None)


@pytest.mark.skipif(not COMPILED, reason="the matchers run as Python")
@pytest.mark.parametrize("cls", COMPILED or CLASSES)
def test_compiled_classes_are_their_own_builder(cls: type[Any]) -> None:
    assert builder(cls) is cls


def test_every_field_is_required_in_order() -> None:
    make = builder(NameParse)
    assert make("zhang", ("wei",)) == NameParse("zhang", ("wei",))
    with pytest.raises(TypeError):
        make("zhang")


@dataclasses.dataclass(frozen=True)
class _NoSlots:
    x: int


@dataclasses.dataclass(frozen=True, slots=True)
class _PostInit:
    x: int

    def __post_init__(self) -> None:
        pass


@pytest.mark.parametrize("cls", [_NoSlots, _PostInit])
def test_classes_it_cannot_build_are_refused(cls: type[Any]) -> None:
    with pytest.raises(TypeError):
        builder(cls)
