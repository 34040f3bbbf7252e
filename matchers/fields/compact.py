"""Compact forms for what the watchlist keeps in memory (a million people at a time).

Stateless: the sharing itself (one object per distinct name or date) is the watchlist's
:class:`matchers.watchlist.store.WatchlistStore`, which the functions here take as a
:class:`Sharing`; events and people parsed outside a watchlist use :data:`UNSHARED`.

    compact_id("460105199001017124", None, store)      # (IdForms, embedded birth DateForms)
    compact_address("海口市美兰区海甸五西路28号3栋")   # interned place names, no building
"""

from __future__ import annotations

from typing import Final, Protocol

from matchers.fields.addresses import AddressForms, normalise_address
from matchers.fields.dates import DateForms, normalise_date
from matchers.fields.ids import IdForms, normalise_id
from matchers.fields.names import NameForms, normalise_name

__all__ = [
    "NO_DATE",
    "UNSHARED",
    "Sharing",
    "Unshared",
    "compact_address",
    "compact_id",
    "compact_name",
]

NO_DATE = normalise_date(None)


class Sharing(Protocol):
    """What parsing a person asks of a watchlist's store: one object per name and date."""

    def name(self, value: str) -> NameForms:
        """The normalised forms of a roster name (shared between its holders)."""
        ...

    def date(self, forms: DateForms) -> DateForms:
        """The shared object equal to ``forms``."""
        ...


class Unshared:
    """Shares nothing: for events, and for people parsed outside a watchlist."""

    def name(self, value: str) -> NameForms:
        """The name's compact forms, a new object each time."""
        return compact_name(normalise_name(value))

    def date(self, forms: DateForms) -> DateForms:
        """``forms`` itself."""
        return forms


#: Stateless: one instance serves every caller.
UNSHARED: Final = Unshared()


def compact_name(forms: NameForms) -> NameForms:
    """``forms`` with one tuple for its keys and roman keys when they are equal."""
    if forms.roman_keys is forms.keys or forms.roman_keys != forms.keys:
        return forms
    # Most readings have no u-umlaut, so the romaniser's spellings are the keys themselves.
    return NameForms(
        forms.display,
        forms.script,
        forms.valid,
        forms.flags,
        forms.hanzi,
        forms.surname_hanzi,
        forms.parses,
        forms.keys,
        forms.keys,
        forms.tokens,
        forms.value_key,
    )


def compact_id(
    value: object, id_type: str | None, sharing: Sharing = UNSHARED
) -> tuple[IdForms, DateForms]:
    """Normalise an id with shared strings; also the birth date embedded in it.

    Args:
        value: the id number as given.
        id_type: its declared type, if any.
        sharing: shares the birth date (a watchlist's store), or :data:`UNSHARED`.
    """
    forms = normalise_id(value, id_type)  # region and province come interned
    if not forms.birth_date:
        return forms, NO_DATE
    birth = sharing.date(normalise_date(forms.birth_date))
    if birth.value is forms.birth_date or not forms.region:
        return forms, birth
    # One birth-date string for the date and the id. A constructor call: ``dataclasses.replace``
    # costs several times more, per roster person.
    return IdForms(
        forms.id_type,
        forms.value,
        forms.valid,
        forms.comparable,
        forms.flags,
        forms.masked,
        birth.value,
        forms.gender,
        forms.region,
        forms.province,
    ), birth


def compact_address(value: object) -> AddressForms:
    """Normalise an address with interned place names and nothing matching never reads.

    ``words`` serves Latin-script addresses only (addresses.py), and the building (unit, room)
    is shown in ``display`` but never compared: a Chinese address keeps neither.
    """
    return normalise_address(value, compact=True)
