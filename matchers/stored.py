"""How the watchlist keeps a person: a slim record, the full :class:`Person` rebuilt on demand.

A million people held as :class:`Person` objects cost about 2 KB each: every person has its own
``IdForms``, ``PhoneForms`` and ``AddressForms`` around the few strings that are really theirs.
A stored record keeps those strings in one text and everything else as shared *templates* (the
forms with the person's own string blanked: an id's region, type and flags; a mobile's kind;
an address's place names), so a person costs about 300 bytes:

    record = pack(person)     # (text, names, profile, birth, id_birth, addresses)
    unpack(record) == person  # checked by pack: a person that does not round-trip is kept whole

Only the few candidates of an event are rebuilt (see ``WatchlistIndex``'s cache). The shared
tables are bounded; beyond the bound a template is simply not shared.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from matchers.addresses import AddressForms
from matchers.dates import DateForms
from matchers.ids import IdForms
from matchers.names import NameForms
from matchers.phones import PhoneForms
from matchers.records import Person

__all__ = ["Record", "pack", "record_id", "unpack"]

# (text, names, profile, birth_date, id_birth_date, address templates), or a Person kept whole
# when it would not round-trip. The text is UTF-8 (half the bytes of a str mixing hanzi and
# digits): the person id, status time, name when not the first name's, id, phones, addresses.
Record = tuple[Any, ...] | Person
_SEP = "\x1f"
_BYTE_SEP = b"\x1f"  # never inside a UTF-8 sequence
_MAX_SHARED = 200_000
_MAX_SHARED_NAMES = 1_000_000
_SHARED: dict[object, object] = {}
# Names are shared by identity (matchers.compact keeps one NameForms per name): hashing their
# forms would cost more than the whole record.
_SHARED_NAMES: dict[tuple[int, ...], tuple[NameForms, ...]] = {}
T = TypeVar("T")


def _shared(value: T) -> T:
    """The one stored object equal to ``value`` (``value`` itself beyond the bound)."""
    found = _SHARED.get(value)
    if found is not None:
        return found  # type: ignore[return-value]
    if len(_SHARED) < _MAX_SHARED:
        _SHARED[value] = value
    return value


# Rebuilding a person builds a few frozen dataclasses, whose ``__init__`` sets each field
# through ``object.__setattr__`` (about 0.2 us a field, 10 us a person). These twins have the
# same slots and plain attributes; an instance is filled, then becomes the frozen class
# (``__class__`` assignment between classes of one layout), three to four times faster.
# ``pack`` checks every person round-trips, so a field added to a form fails loudly there.


class _Id:
    __slots__ = IdForms.__slots__

    def __init__(self, t: IdForms, value: str, birth_date: str) -> None:
        self.id_type = t.id_type
        self.value = value
        self.valid = t.valid
        self.comparable = t.comparable
        self.flags = t.flags
        self.masked = t.masked
        self.birth_date = birth_date
        self.gender = t.gender
        self.region = t.region
        self.province = t.province


class _Phone:
    __slots__ = PhoneForms.__slots__

    def __init__(self, t: PhoneForms, value: str) -> None:
        self.value = value
        self.valid = t.valid
        self.comparable = t.comparable
        self.flags = t.flags
        self.kind = t.kind
        self.country_code = t.country_code
        self.area_code = t.area_code
        self.local = t.local


class _Address:
    __slots__ = AddressForms.__slots__

    def __init__(self, t: AddressForms, display: str, number: str) -> None:
        self.display = display
        self.valid = t.valid
        self.flags = t.flags
        self.latin = t.latin
        self.province = t.province
        self.city = t.city
        self.district = t.district
        self.street = t.street
        self.road = t.road
        self.number = number
        self.building = t.building
        self.words = t.words


class _Person:
    __slots__ = Person.__slots__
    person_id: str
    name: str
    status: str
    status_changed_at: str
    district: str
    case_officer: str
    names: tuple[NameForms, ...]
    id: IdForms
    birth_date: DateForms
    gender: str | None
    phones: tuple[PhoneForms, ...]
    addresses: tuple[AddressForms, ...]
    id_birth_date: DateForms
    flags: tuple[str, ...]


def _become(twin: Any, cls: type[T]) -> T:
    twin.__class__ = cls
    return cast(T, twin)


def _shared_names(names: tuple[NameForms, ...]) -> tuple[NameForms, ...]:
    key = tuple(map(id, names))
    found = _SHARED_NAMES.get(key)
    if found is not None and all(a is b for a, b in zip(found, names, strict=True)):
        return found
    if found is None and len(_SHARED_NAMES) < _MAX_SHARED_NAMES:
        _SHARED_NAMES[key] = names  # holds the forms: their ids stay theirs
    return names


def _id_template(forms: IdForms, birth: DateForms) -> tuple[IdForms, str]:
    # The embedded birth date comes back from the person's ``id_birth_date``.
    if not forms.value or forms.birth_date != birth.value:
        return forms, ""
    return _shared(
        IdForms(
            forms.id_type,
            "",
            forms.valid,
            forms.comparable,
            forms.flags,
            forms.masked,
            "",
            forms.gender,
            forms.region,
            forms.province,
        )
    ), forms.value


def _id_forms(template: IdForms, value: str, birth: DateForms) -> IdForms:
    if not value:
        return template
    return _become(_Id(template, value, birth.value), IdForms)


def _phone_template(forms: PhoneForms) -> tuple[PhoneForms, str]:
    if not forms.value or forms.local:
        return forms, ""  # a landline's local number is its own: kept whole
    f = forms
    return _shared(
        PhoneForms("", f.valid, f.comparable, f.flags, f.kind, f.country_code, f.area_code, "")
    ), forms.value


def _phone_forms(template: PhoneForms, value: str) -> PhoneForms:
    return _become(_Phone(template, value), PhoneForms) if value else template


def _address_template(forms: AddressForms) -> tuple[AddressForms, str, str]:
    if not forms.display or forms.building or forms.words:
        return forms, "", ""
    f = forms
    template = AddressForms(
        "", f.valid, f.flags, f.latin, f.province, f.city, f.district, f.street, f.road, "", "",
        f.words,
    )  # fmt: skip
    return _shared(template), forms.display, forms.number


def _address_forms(template: AddressForms, display: str, number: str) -> AddressForms:
    if not display:
        return template
    return _become(_Address(template, display, number), AddressForms)


def pack(person: Person) -> Record:
    """The slim record of a person (the person itself when it would not round-trip)."""
    id_template, id_value = _id_template(person.id, person.id_birth_date)
    phones = [_phone_template(p) for p in person.phones]
    addresses = [_address_template(a) for a in person.addresses]
    name = "" if person.names and person.names[0].display == person.name else person.name
    parts = [person.person_id, person.status_changed_at, name, id_value]
    parts += [v for _, v in phones]
    for _, display, number in addresses:
        parts += (display, number)
    if any(_SEP in p for p in parts):
        return person
    try:
        text = _SEP.join(parts).encode()
    except UnicodeEncodeError:  # a lone surrogate
        return person
    profile = _shared(
        (
            person.status,
            person.district,
            person.case_officer,
            person.gender,
            person.flags,
            id_template,
            tuple(t for t, _ in phones),
        )
    )
    record = (
        text,
        _shared_names(person.names),
        profile,
        person.birth_date,
        person.id_birth_date,
        _shared(tuple(t for t, _, _ in addresses)),
    )
    return record if unpack(record) == person else person


def unpack(record: Record) -> Person:
    """The person a record was packed from."""
    if isinstance(record, Person):
        return record
    text, names, profile, birth, id_birth, address_templates = record
    status, district, officer, gender, flags, id_template, phone_templates = profile
    person_id, changed, name, id_value, *rest = text.decode().split(_SEP)
    n = len(phone_templates)
    person = _Person()
    person.person_id = person_id
    person.name = name or (names[0].display if names else "")
    person.status = status
    person.status_changed_at = changed
    person.district = district
    person.case_officer = officer
    person.names = names
    person.id = _id_forms(id_template, id_value, id_birth)
    person.birth_date = birth
    person.gender = gender
    if n == 1:  # most people: one phone, one address
        person.phones = (_phone_forms(phone_templates[0], rest[0]),)
    else:
        person.phones = tuple(map(_phone_forms, phone_templates, rest[:n]))
    if len(address_templates) == 1:
        person.addresses = (_address_forms(address_templates[0], rest[n], rest[n + 1]),)
    else:
        person.addresses = tuple(
            map(_address_forms, address_templates, rest[n::2], rest[n + 1 :: 2])
        )
    person.id_birth_date = id_birth
    person.flags = flags
    return _become(person, Person)


def record_id(record: Record) -> str:
    """The person id of a record, without rebuilding the person."""
    if isinstance(record, Person):
        return record.person_id
    text: bytes = record[0]
    return text[: text.find(_BYTE_SEP)].decode()
