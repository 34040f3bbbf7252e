"""Compact, shared forms for what the watchlist keeps in memory (a million people at a time).

A roster repeats names (80,000 people share 45,000 names; 张伟 has thousands of holders),
birth dates (about 40,000 real ones) and place names; each distinct value is held once:

    shared_name("张伟") is shared_name("张伟")       # one NameForms for every holder
    compact_id("460105199001017124", None)          # (IdForms, embedded birth DateForms)
    compact_address("海口市美兰区海甸五西路28号3栋")   # interned place names, no building

The shared tables are bounded; values beyond the bound are simply not shared.
"""

from __future__ import annotations

from matchers.addresses import AddressForms, normalise_address
from matchers.dates import DateForms, normalise_date
from matchers.ids import IdForms, normalise_id
from matchers.names import NameForms, normalise_name

__all__ = ["NO_DATE", "compact_address", "compact_id", "shared_date", "shared_name"]

NO_DATE = normalise_date(None)
# Keyed by (value, flags), which determine the rest of a parsed date: cheaper to hash than the
# whole dataclass.
_SHARED_DATES: dict[tuple[str, tuple[str, ...]], DateForms] = {}
_MAX_SHARED_DATES = 100_000
# The names module's own cache keeps only the recent names; this one keeps every roster name.
_SHARED_NAMES: dict[str, NameForms] = {}
_MAX_SHARED_NAMES = 2_000_000


def shared_date(forms: DateForms) -> DateForms:
    """The one shared object equal to ``forms`` (``forms`` itself beyond the bound).

    Args:
        forms: a date as :func:`matchers.dates.normalise_date` parsed it.
    """
    key = (forms.value, forms.flags)
    shared = _SHARED_DATES.get(key)
    if shared is not None:
        return shared
    if len(_SHARED_DATES) < _MAX_SHARED_DATES:
        _SHARED_DATES[key] = forms
    return forms


def shared_name(value: str) -> NameForms:
    """The normalised forms of a roster name, one object per distinct name."""
    forms = _SHARED_NAMES.get(value)
    if forms is None:
        forms = _compact_name(normalise_name(value))
        if len(_SHARED_NAMES) < _MAX_SHARED_NAMES:
            _SHARED_NAMES[value] = forms
    return forms


def _compact_name(forms: NameForms) -> NameForms:
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


def compact_id(value: object, id_type: str | None) -> tuple[IdForms, DateForms]:
    """Normalise an id with shared strings; also the birth date embedded in it (shared)."""
    forms = normalise_id(value, id_type)  # region and province come interned
    if not forms.birth_date:
        return forms, NO_DATE
    birth = shared_date(normalise_date(forms.birth_date))
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
