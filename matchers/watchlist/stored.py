"""How the watchlist keeps a person: a slim record, the full :class:`Person` rebuilt on demand.

A million people held as :class:`Person` objects cost about 2 KB each: every person has its own
``IdForms``, ``PhoneForms`` and ``AddressForms`` around the few strings that are really theirs.
A stored record keeps those strings in one text and everything else as shared *templates* (the
forms with the person's own string blanked: an id's region, type and flags; a mobile's kind;
an address's place names), so a person costs about 300 bytes:

    record = pack(person, store)  # (text, names, profile, birth, id_birth, addresses)
    unpack(record) == person  # checked by pack: a person that does not round-trip is kept whole

Only the few candidates of an event are rebuilt (see ``WatchlistIndex``'s cache). The shared
templates are held by the watchlist's :class:`matchers.watchlist.store.WatchlistStore`, whose
:meth:`~matchers.watchlist.store.WatchlistStore.pack` calls :func:`pack` here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from matchers.fields.addresses import AddressForms
from matchers.fields.dates import DateForms
from matchers.fields.ids import IdForms
from matchers.fields.phones import PhoneForms
from matchers.frozen import builder
from matchers.records import Person

if TYPE_CHECKING:  # the store packs with this module: no import at run time
    from matchers.watchlist.store import WatchlistStore

__all__ = ["Record", "pack", "record_id", "unpack"]

# (text, names, profile, birth_date, id_birth_date, address templates), or a Person kept whole
# when it would not round-trip. The text is UTF-8 (half the bytes of a str mixing hanzi and
# digits): the person id, status time, name when not the first name's, id, phones, addresses.
Record = tuple[Any, ...] | Person
_SEP = "\x1f"
_BYTE_SEP = b"\x1f"  # never inside a UTF-8 sequence
# Rebuilding a person builds a few frozen dataclasses without their ``__init__`` (see
# ``matchers.frozen``): three to four times faster. ``pack`` checks every person round-trips.
_make_id = builder(IdForms)
_make_phone = builder(PhoneForms)
_make_address = builder(AddressForms)
_make_person = builder(Person)


def _id_template(forms: IdForms, birth: DateForms, store: WatchlistStore) -> tuple[IdForms, str]:
    # The embedded birth date comes back from the person's ``id_birth_date``.
    if not forms.value or forms.birth_date != birth.value:
        return forms, ""
    return store.template(
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
    t = template
    return _make_id(
        t.id_type, value, t.valid, t.comparable, t.flags, t.masked, birth.value, t.gender,
        t.region, t.province,
    )  # fmt: skip


def _phone_template(forms: PhoneForms, store: WatchlistStore) -> tuple[PhoneForms, str]:
    if not forms.value or forms.local:
        return forms, ""  # a landline's local number is its own: kept whole
    f = forms
    return store.template(
        PhoneForms("", f.valid, f.comparable, f.flags, f.kind, f.country_code, f.area_code, "")
    ), forms.value


def _phone_forms(template: PhoneForms, value: str) -> PhoneForms:
    if not value:
        return template
    t = template
    return _make_phone(
        value, t.valid, t.comparable, t.flags, t.kind, t.country_code, t.area_code, t.local
    )


def _address_template(forms: AddressForms, store: WatchlistStore) -> tuple[AddressForms, str, str]:
    if not forms.display or forms.building or forms.words:
        return forms, "", ""
    f = forms
    template = AddressForms(
        "", f.valid, f.flags, f.latin, f.province, f.city, f.district, f.street, f.road, "", "",
        f.words,
    )  # fmt: skip
    return store.template(template), forms.display, forms.number


def _address_forms(template: AddressForms, display: str, number: str) -> AddressForms:
    if not display:
        return template
    t = template
    return _make_address(
        display, t.valid, t.flags, t.latin, t.province, t.city, t.district, t.street, t.road,
        number, t.building, t.words,
    )  # fmt: skip


def pack(person: Person, store: WatchlistStore) -> Record:
    """The slim record of a person (the person itself when it would not round-trip).

    Args:
        person: the person.
        store: the watchlist's store, which holds the templates the record shares.
    """
    id_template, id_value = _id_template(person.id, person.id_birth_date, store)
    phones = [_phone_template(p, store) for p in person.phones]
    addresses = [_address_template(a, store) for a in person.addresses]
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
    # Typed as a tuple of any length: mypyc keeps a fixed-length tuple unboxed and would box a
    # fresh copy into every record, and the point is that records share this one.
    profile: tuple[object, ...] = (
        person.status,
        person.district,
        person.case_officer,
        person.gender,
        person.flags,
        id_template,
        tuple(t for t, _ in phones),
    )
    record = (
        text,
        store.names(person.names),
        store.template(profile),
        person.birth_date,
        person.id_birth_date,
        store.template(tuple(t for t, _, _ in addresses)),
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
    phones: tuple[PhoneForms, ...]
    addresses: tuple[AddressForms, ...]
    if n == 1:  # most people: one phone, one address
        phones = (_phone_forms(phone_templates[0], rest[0]),)
    else:
        phones = tuple(map(_phone_forms, phone_templates, rest[:n]))
    if len(address_templates) == 1:
        addresses = (_address_forms(address_templates[0], rest[n], rest[n + 1]),)
    else:
        addresses = tuple(map(_address_forms, address_templates, rest[n::2], rest[n + 1 :: 2]))
    return _make_person(
        person_id,
        name or (names[0].display if names else ""),
        status,
        changed,
        district,
        officer,
        names,
        _id_forms(id_template, id_value, id_birth),
        birth,
        gender,
        phones,
        addresses,
        id_birth,
        flags,
    )


def record_id(record: Record) -> str:
    """The person id of a record, without rebuilding the person."""
    if isinstance(record, Person):
        return record.person_id
    text: bytes = record[0]
    return text[: text.find(_BYTE_SEP)].decode()
