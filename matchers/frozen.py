"""Building frozen, slotted dataclasses on the hot path without their ``__init__``.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (about 0.1 us a
field): the forms of one event (a name and its parses, an id, a phone, an address, the record)
cost several microseconds that way. :func:`builder` returns a constructor that fills an instance
of a *twin* class (the same slots, plain attributes) and makes it an instance of the frozen class
by assigning ``__class__`` (allowed between classes of one layout), three to five times faster:

    make_parse = builder(NameParse)
    make_parse("zhang", ("wei",)) == NameParse("zhang", ("wei",))   # and of that class

The constructor takes every field, positionally and in field order (defaults are not applied),
and runs no ``__post_init__``: use it for classes that have none. ``matchers.watchlist.stored``
rebuilds people with it, ``matchers.records`` builds events.

Compiled with mypyc (:mod:`matchers.native`), a dataclass's generated methods stay interpreted
Python, and its frozen ``__init__`` is then the slowest part of building an event. The classes
built for every event therefore write their ``__init__`` out with ``object.__setattr__`` (the
generated one's own idiom, which mypyc turns into a native store), and :func:`builder` returns
such a compiled class itself: its constructor is the fast path there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["builder"]

T = TypeVar("T")


def builder(cls: type[T]) -> Callable[..., T]:
    """A positional constructor for a frozen, slotted dataclass that skips ``__setattr__``.

    Args:
        cls: a dataclass made with ``frozen=True, slots=True`` and no ``__post_init__``.

    Returns:
        ``build(*fields) -> cls``, every field given in field order.

    Raises:
        TypeError: ``cls`` has no slots, or has a ``__post_init__``.
    """
    if hasattr(cls, "__mypyc_attrs__"):
        # Compiled by mypyc (matchers.native): the class's own constructor is native code,
        # already faster than the twin, and a native class cannot take another's __class__.
        return cls
    fields: tuple[str, ...] = getattr(cls, "__slots__", ())
    if not fields or hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: not a slotted dataclass without __post_init__")
    twin = type(f"_{cls.__name__}Twin", (), {"__slots__": fields})
    # Straight-line code, as dataclasses writes __init__: a loop over setters costs as much as
    # the frozen __init__ itself.
    lines = [f"def build({', '.join(fields)}):", "    twin = Twin()"]
    lines += [f"    twin.{name} = {name}" for name in fields]
    lines += ["    twin.__class__ = cls", "    return twin"]
    namespace: dict[str, Any] = {"Twin": twin, "cls": cls}
    exec("\n".join(lines), namespace)  # the source holds field names only, never input
    build: Callable[..., T] = namespace["build"]
    build.__qualname__ = f"builder({cls.__name__})"
    build.__doc__ = f"{cls.__name__}(*fields) without the frozen __init__ (matchers.frozen)."
    return build
