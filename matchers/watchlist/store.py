"""The watchlist's store: the values a roster's people share, held once, owned by one ``Matcher``.

A roster repeats names (80,000 people share 45,000 names; 张伟 has thousands of holders),
birth dates (about 40,000 real ones) and the templates a slim record is built around (an id's
region and flags, a mobile's kind, an address's place names: :mod:`matchers.watchlist.stored`). The
store keeps one object for each distinct value:

    store = WatchlistStore()
    store.name("张伟") is store.name("张伟")       # one NameForms for every holder
    person = person_from_raw(raw, sharing=store)   # names and dates shared while parsing
    record = store.pack(person)                    # a slim record around shared templates

Each ``Matcher`` creates its own store and passes it to what parses and packs its people, so
two matchers (two watchlists in one job, or tests) share nothing, and a store's tables go
with the matcher that owns them. Every table is bounded; a value beyond its bound is simply
not shared (it costs memory, never a result).
"""

from __future__ import annotations

from typing import TypeVar

from matchers.fields.compact import compact_name
from matchers.fields.dates import DateForms
from matchers.fields.names import NameForms, normalise_name
from matchers.records import Person
from matchers.watchlist.stored import Record, pack

__all__ = ["WatchlistStore"]

T = TypeVar("T")


class WatchlistStore:
    """Shared names, dates and record templates of one watchlist (see the module docstring).

    Args:
        max_names: distinct roster names kept (the names module's own cache keeps only the
            recent ones; this keeps every roster name up to the bound).
        max_dates: distinct dates kept.
        max_templates: distinct record templates and profiles kept.
        max_name_lists: distinct lists of a person's names kept.
    """

    def __init__(
        self,
        *,
        max_names: int = 2_000_000,
        max_dates: int = 100_000,
        max_templates: int = 200_000,
        max_name_lists: int = 1_000_000,
    ) -> None:
        self._max_names = max_names
        self._max_dates = max_dates
        self._max_templates = max_templates
        self._max_name_lists = max_name_lists
        self._names: dict[str, NameForms] = {}
        # Keyed by (value, flags), which determine the rest of a parsed date: cheaper to hash
        # than the whole dataclass.
        self._dates: dict[tuple[str, tuple[str, ...]], DateForms] = {}
        self._templates: dict[object, object] = {}
        # Keyed by the names' identities (one NameForms per name, above): hashing their forms
        # would cost more than the whole record.
        self._name_lists: dict[tuple[int, ...], tuple[NameForms, ...]] = {}

    def sizes(self) -> dict[str, int]:
        """How many values each table holds (for tests and benchmarks)."""
        return {
            "names": len(self._names),
            "dates": len(self._dates),
            "templates": len(self._templates),
            "name_lists": len(self._name_lists),
        }

    def name(self, value: str) -> NameForms:
        """The normalised forms of a roster name, one object per distinct name."""
        forms = self._names.get(value)
        if forms is None:
            forms = compact_name(normalise_name(value))
            if len(self._names) < self._max_names:
                self._names[value] = forms
        return forms

    def date(self, forms: DateForms) -> DateForms:
        """The one shared object equal to ``forms`` (``forms`` itself beyond the bound).

        Args:
            forms: a date as :func:`matchers.fields.dates.normalise_date` parsed it.
        """
        key = (forms.value, forms.flags)
        shared = self._dates.get(key)
        if shared is not None:
            return shared
        if len(self._dates) < self._max_dates:
            self._dates[key] = forms
        return forms

    def template(self, value: T) -> T:
        """The one stored object equal to ``value`` (``value`` itself beyond the bound)."""
        found = self._templates.get(value)
        if found is not None:
            return found  # type: ignore[return-value]
        if len(self._templates) < self._max_templates:
            self._templates[value] = value
        return value

    def names(self, names: tuple[NameForms, ...]) -> tuple[NameForms, ...]:
        """The one stored tuple holding these very name objects."""
        key = tuple(map(id, names))
        found = self._name_lists.get(key)
        if found is not None and all(a is b for a, b in zip(found, names, strict=True)):
            return found
        if found is None and len(self._name_lists) < self._max_name_lists:
            self._name_lists[key] = names  # holds the forms: their ids stay theirs
        return names

    def pack(self, person: Person) -> Record:
        """The slim record of a person, around this store's templates (:func:`stored.pack`)."""
        return pack(person, self)
