"""``matchers.frozen.builder`` makes the same objects as the frozen dataclasses' constructors."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.fields.addresses import AddressForms
from matchers.fields.dates import DateForms
from matchers.fields.ids import IdForms
from matchers.fields.names import NameForms
from matchers.fields.phones import PhoneForms
from matchers.fields.readings import NameParse
from matchers.frozen import builder
from matchers.native import COMPILED_MODULES

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


def _dataclasses_of_the_matchers() -> list[type[Any]]:
    found: dict[str, type[Any]] = {}
    for module_name in COMPILED_MODULES:
        module = importlib.import_module(f"matchers.{module_name}")
        for value in vars(module).values():
            if isinstance(value, type) and dataclasses.is_dataclass(value):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return sorted(found.values(), key=lambda cls: cls.__qualname__)


# A generated __init__ is compiled from a string; a written-out one comes from the module's file.
WRITTEN_OUT = [
    cls
    for cls in _dataclasses_of_the_matchers()
    if getattr(getattr(cls.__init__, "__code__", None), "co_filename", "<").endswith(".py")
]


@pytest.mark.skipif(bool(COMPILED), reason="compiled: checked in the Python run (--pure-python)")
def test_the_classes_built_for_every_event_write_their_init_out() -> None:
    assert {cls.__name__ for cls in CLASSES} <= {cls.__name__ for cls in WRITTEN_OUT}


@pytest.mark.skipif(bool(COMPILED), reason="compiled: checked in the Python run (--pure-python)")
@pytest.mark.parametrize("cls", WRITTEN_OUT, ids=lambda cls: cls.__name__)
def test_a_written_out_init_takes_and_sets_every_field(cls: type[Any]) -> None:
    fields = dataclasses.fields(cls)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in parameters] == [f.name for f in fields]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters)
    for parameter, field in zip(parameters, fields, strict=True):
        expected = (
            inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        )
        assert parameter.default == expected, field.name
    values = {f.name: object() for f in fields}
    built = cls(**values)
    assert all(getattr(built, name) is value for name, value in values.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, fields[0].name, None)
