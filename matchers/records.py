"""Raw roster and event dicts (the contract's fields) to normalised, frozen records.

    parse_event_bytes(b'{"event_id": "e1", "source": "bank", ...}', max_bytes=65536) -> dict
    event_from_raw(raw, not_after=...) -> EventRecord  # InvalidRecord: the envelope is unusable
    person_from_raw(raw) -> Person                     # InvalidRecord: a required field is bad

An envelope is unusable (the event goes to the dead-letter topic with the reason, a word of
``matchers.errors.Reason``) when it is too large, not UTF-8, not JSON, not a JSON object, nested
too deep, or lacks an ``event_id`` of the documented set, a known ``source`` or an
``occurred_at`` with an offset inside the window (not before 1990, not after ``not_after``,
which the caller computes from its clock). Any other field may be garbage: its text goes
through the one sanitiser (``matchers.fields.text``), it is normalised by its field module, left out
of matching when invalid or of the wrong type, and its flags travel on the record. Unknown extra
fields are ignored. The envelope checks live in ``matchers.envelope`` and are re-exported here;
docs/design.md, "Validation and hostile input", has the whole picture.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from contract import ROSTER_STATUSES, RosterStatus, Source

from matchers.envelope import (
    EVENT_ID_MAX_CHARS,
    FUTURE_MARGIN,
    MAX_DEPTH,
    OCCURRED_AT_FLOOR,
    OccurredAtLimit,
    closed_word,
    normal_timestamp,
    occurred_at_limit,
    parse_event_bytes,
    parse_timestamp,
    validate_event_envelope,
)
from matchers.errors import InvalidRecord
from matchers.fields.addresses import AddressForms, normalise_address
from matchers.fields.cards import luhn_ok, normalise_card
from matchers.fields.compact import NO_DATE, UNSHARED, Sharing, compact_address, compact_id
from matchers.fields.dates import DateForms, normalise_date
from matchers.fields.ids import IdForms, normalise_id
from matchers.fields.names import NameForms, normalise_name
from matchers.fields.phones import PhoneForms, normalise_phone
from matchers.fields.text import CONTROL_CHARS_FLAG, clean_text
from matchers.frozen import builder

__all__ = [
    "EVENT_ID_MAX_CHARS",
    "FUTURE_MARGIN",
    "MAX_DEPTH",
    "OCCURRED_AT_FLOOR",
    "PERSON_ID_MAX_CHARS",
    "EventRecord",
    "Gender",
    "OccurredAtLimit",
    "Person",
    "event_from_raw",
    "occurred_at_limit",
    "parse_event_bytes",
    "parse_timestamp",
    "person_from_raw",
    "validate_event_envelope",
]

Gender = Literal["M", "F"]
_GENDERS: Final = {"M": "M", "F": "F", "MALE": "M", "FEMALE": "F", "男": "M", "女": "F"}
# Bounds on list fields: a roster line with ten thousand phones must not slow every event.
_MAX_LIST: Final = 16
# Shared "nothing given" forms: most records lack some field, and sharing saves memory.
_NO_ID: Final = normalise_id(None)
_NO_DATE: Final = NO_DATE
_NO_PHONE: Final = normalise_phone(None)
_NO_ADDRESS: Final = normalise_address(None)
#: ``person_id``: 1 to this many printable characters (the supervision system's own ids).
PERSON_ID_MAX_CHARS: Final = 128
# Contract fields no matcher reads: only their type is checked (flagged when not text).
_UNREAD_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "hukou": ("region_code",),
    "bank": ("bank_code", "branch_address"),
    "telecom": ("carrier",),
}
# A watchlist of a million people is held in memory: names, dates and place names are
# shared (the watchlist's store, matchers.watchlist.store), short strings (statuses, districts)
# interned.


@dataclass(frozen=True, slots=True)
class Person:
    """A roster person, normalised.

    Attributes:
        person_id: stable id in the supervision system.
        name: the name as given (for display).
        status: ``active``, ``dropped_out``, ``located`` or ``closed``.
        status_changed_at: ISO-8601 with offset (normalised).
        district: owning district (``""`` when not given).
        case_officer: the officer (``""`` when not given).
        names: normalised forms of the name and every alias that could be read.
        id: the identity number.
        birth_date: the birth date as given (not the one embedded in the id).
        gender: the gender as given, or ``None``.
        phones: the phones that could be read.
        addresses: the addresses that could be read.
        id_birth_date: the birth date embedded in the id (empty forms when none).
        flags: validation flags of every field.
    """

    person_id: str
    name: str
    status: RosterStatus
    status_changed_at: str
    district: str
    case_officer: str
    names: tuple[NameForms, ...]
    id: IdForms
    birth_date: DateForms
    gender: Gender | None
    phones: tuple[PhoneForms, ...]
    addresses: tuple[AddressForms, ...]
    id_birth_date: DateForms
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A source event, normalised.

    Attributes:
        event_id: unique id from the feed.
        source: ``hukou``, ``bank`` or ``telecom``.
        occurred_at: ISO-8601 with offset (normalised).
        event_type: ``event_type`` (bank, telecom) or ``change_type`` (hukou), or ``None``.
        name: the name as given (``""`` when none).
        names: normalised forms of the name (empty when none could be read).
        id: the identity number.
        birth_date: the birth date as given.
        gender: the gender as given, or ``None``.
        phone: the phone.
        address: the address (hukou ``address``, telecom ``registered_address``).
        id_birth_date: the birth date embedded in the id.
        flags: validation flags of the fields the event carried.
    """

    event_id: str
    source: Source
    occurred_at: str
    event_type: str | None
    name: str
    names: tuple[NameForms, ...]
    id: IdForms
    birth_date: DateForms
    gender: Gender | None
    phone: PhoneForms
    address: AddressForms
    id_birth_date: DateForms
    flags: tuple[str, ...]

    # Written out, not generated by dataclass, so that the compiled build constructs natively
    # (matchers.frozen); tests/unit/matchers/test_frozen.py holds it to the fields above.
    def __init__(  # noqa: PLR0917 - positional, as the generated one is
        self,
        event_id: str,
        source: Source,
        occurred_at: str,
        event_type: str | None,
        name: str,
        names: tuple[NameForms, ...],
        id: IdForms,
        birth_date: DateForms,
        gender: Gender | None,
        phone: PhoneForms,
        address: AddressForms,
        id_birth_date: DateForms,
        flags: tuple[str, ...],
    ) -> None:
        object.__setattr__(self, "event_id", event_id)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "occurred_at", occurred_at)
        object.__setattr__(self, "event_type", event_type)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "birth_date", birth_date)
        object.__setattr__(self, "gender", gender)
        object.__setattr__(self, "phone", phone)
        object.__setattr__(self, "address", address)
        object.__setattr__(self, "id_birth_date", id_birth_date)
        object.__setattr__(self, "flags", flags)


def _clean(value: str, flags: list[str]) -> str:
    """``value`` through the one sanitiser (``matchers.fields.text``), flagged when it changed."""
    if value.isprintable():  # clean_text's own first test, here: most fields, every event
        return value
    text, changed = clean_text(value)
    if changed:
        flags.append(CONTROL_CHARS_FLAG)
    return text


def _optional_text(value: object, field: str, flags: list[str]) -> str | None:
    """A text field: cleaned; ``None`` when absent, or of another type (then flagged)."""
    if type(value) is str:
        return _clean(value, flags)
    if value is None:
        return None
    if isinstance(value, str):  # a str subclass: its plain value
        return _clean(str(value), flags)
    # The flag names the field, never the value: a closed set of words.
    flags.append(f"{field}_wrong_type")
    return None


def _text(value: object, field: str, flags: list[str]) -> str:
    text = _optional_text(value, field, flags)
    return text.strip() if text else ""


def _strings(value: object, field: str, flags: list[str]) -> list[str]:
    """A list of texts (a single text reads as a list of one), cleaned, blanks left out."""
    if isinstance(value, str):
        value = [value]
    elif not isinstance(value, (list, tuple)):  # a tuple of types checks faster than a union
        if value is not None:
            flags.append(f"{field}_wrong_type")
        return []
    out = []
    for item in value[:_MAX_LIST]:
        text = _optional_text(item, field, flags)
        if text and text.strip():
            out.append(text)
    return out


def _gender(value: object, flags: list[str]) -> Gender | None:
    if value is None or value == "":
        return None
    text = _optional_text(value, "gender", flags)
    if text is None:
        return None
    gender = _GENDERS.get(text.strip().upper())
    if gender is None:
        flags.append("gender_invalid")
    return gender  # type: ignore[return-value]


def _names(values: list[str], flags: list[str]) -> tuple[NameForms, ...]:
    out = []
    for value in values:
        forms = normalise_name(value)
        flags.extend(forms.flags)
        if forms.valid:
            out.append(forms)
    return tuple(out)


def _person_names(values: list[str], flags: list[str], sharing: Sharing) -> tuple[NameForms, ...]:
    out = []
    for value in values:
        forms = sharing.name(value)  # one object per distinct name, not per person
        flags.extend(forms.flags)
        if forms.valid:
            out.append(forms)
    return tuple(out)


def _id(
    raw: Mapping[str, Any], flags: list[str], sharing: Sharing = UNSHARED
) -> tuple[IdForms, DateForms]:
    value = _optional_text(raw.get("id_number"), "id_number", flags)
    id_type = _optional_text(raw.get("id_type"), "id_type", flags)
    if not value:
        return _NO_ID, _NO_DATE
    forms, birth = compact_id(value, id_type, sharing)
    flags.extend(forms.flags)
    return forms, birth


def _date(value: object, flags: list[str], sharing: Sharing = UNSHARED) -> DateForms:
    if value is None or value == "":
        return _NO_DATE
    text = _optional_text(value, "birth_date", flags)
    if text is None:
        return _NO_DATE
    forms = normalise_date(text)
    if forms.flags:
        flags.extend(f"birth_{f}" for f in forms.flags)
    return sharing.date(forms)


def _phone(value: object, flags: list[str]) -> PhoneForms:
    if value is None or value == "":
        return _NO_PHONE
    text = _optional_text(value, "phone", flags)
    if text is None:
        return _NO_PHONE
    forms = normalise_phone(text)
    flags.extend(forms.flags)
    return forms


def _address(value: object, flags: list[str]) -> AddressForms:
    if value is None or value == "":
        return _NO_ADDRESS
    text = _optional_text(value, "address", flags)
    if text is None:
        return _NO_ADDRESS
    forms = compact_address(text)
    flags.extend(forms.flags)
    return forms


def _dedupe(flags: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(flags)) if flags else ()


def person_from_raw(raw: Mapping[str, Any], *, sharing: Sharing = UNSHARED) -> Person:
    """Build a normalised person from a roster record.

    Args:
        raw: the roster record.
        sharing: a watchlist's store (names and dates shared between its people), or none.

    Raises:
        InvalidRecord: not an object, or ``person_id`` (1 to 128 printable characters),
            ``name`` (text), ``status`` (one of active|dropped_out|located|closed) or
            ``status_changed_at`` (ISO-8601 with an offset) missing or unusable.
    """
    if not isinstance(raw, Mapping):
        raise InvalidRecord("not_object", type(raw).__name__)
    flags: list[str] = []  # in field order: name, id, phones, addresses, names, birth, gender
    person_id = _person_id_of(raw.get("person_id"))
    name = _person_name_of(raw.get("name"), flags)
    status = closed_word(
        raw.get("status"), ROSTER_STATUSES, missing="missing_status", unknown="unknown_status"
    )
    changed = _status_changed_at_of(raw.get("status_changed_at"))
    id_forms, id_birth = _id(raw, flags, sharing)
    phones = []
    for value in _strings(raw.get("phones"), "phones", flags):
        phone = _phone(value, flags)
        if phone.comparable:
            phones.append(phone)
    addresses = []
    for value in _strings(raw.get("addresses"), "addresses", flags):
        address = _address(value, flags)
        if address.valid:
            addresses.append(address)
    aliases = _strings(raw.get("aliases"), "aliases", flags)
    names = _person_names([name, *aliases], flags, sharing)
    if names and names[0].display == name:
        name = names[0].display  # one string for every holder of the name
    return Person(
        person_id=person_id,
        name=name,
        status=sys.intern(status),  # type: ignore[arg-type]
        status_changed_at=changed,
        district=sys.intern(_text(raw.get("district"), "district", flags)),
        case_officer=sys.intern(_text(raw.get("case_officer"), "case_officer", flags)),
        names=names,
        id=id_forms,
        birth_date=_date(raw.get("birth_date"), flags, sharing),
        gender=_gender(raw.get("gender"), flags),
        phones=tuple(phones),
        addresses=tuple(addresses),
        id_birth_date=id_birth,
        flags=_dedupe(flags),
    )


def _person_id_of(value: object) -> str:
    if value is None:
        raise InvalidRecord("missing_person_id")
    if not isinstance(value, str):
        raise InvalidRecord("bad_person_id", type(value).__name__)
    person_id = value.strip()
    if not person_id:
        raise InvalidRecord("missing_person_id", "empty")
    if len(person_id) > PERSON_ID_MAX_CHARS:
        raise InvalidRecord("bad_person_id", f"longer than {PERSON_ID_MAX_CHARS} characters")
    # An id is compared, not read: an invisible character would make another person of it.
    if not person_id.isprintable():
        raise InvalidRecord("bad_person_id", "a control or format character")
    return person_id


def _person_name_of(value: object, flags: list[str]) -> str:
    if value is None:
        raise InvalidRecord("missing_name")
    if not isinstance(value, str):
        raise InvalidRecord("bad_name", type(value).__name__)
    name = _clean(value, flags).strip()
    if not name:
        raise InvalidRecord("missing_name", "empty")
    return name


def _status_changed_at_of(value: object) -> str:
    if value is None:
        raise InvalidRecord("missing_status_changed_at")
    if not isinstance(value, str):
        raise InvalidRecord("bad_status_changed_at", type(value).__name__)
    if not value.strip():
        raise InvalidRecord("missing_status_changed_at", "empty")
    changed = normal_timestamp(value)
    if changed is None:
        raise InvalidRecord("bad_status_changed_at", "not ISO-8601 with an offset")
    return changed


def event_from_raw(
    raw: Mapping[str, Any], *, not_after: OccurredAtLimit | None = None
) -> EventRecord:
    """Build a normalised event from a feed message.

    Every text field goes through the sanitiser (``matchers.fields.text``); a field of the wrong
    type (a number for a name, an object for ``id_number``) is left out of matching and flagged
    ``<field>_wrong_type``.

    Args:
        raw: the decoded event.
        not_after: the latest ``occurred_at`` accepted (see :func:`occurred_at_limit`).

    Raises:
        InvalidRecord: the envelope is unusable (see :func:`validate_event_envelope`).
    """
    event_id, source, occurred_at = validate_event_envelope(raw, not_after=not_after)
    get = raw.get
    flags: list[str] = []  # in field order: id, card, name, birth date, gender, phone, address
    id_forms, id_birth_date = _event_id(get("id_number"), get("id_type"), flags)
    if source == "bank":
        card = get("card_number")
        if card is not None and card != "" and not _plain_card(card):
            card_text = _optional_text(card, "card_number", flags)
            if card_text is not None:
                flags.extend(normalise_card(card_text).flags)
    name = _text(get("name"), "name", flags)
    names = _event_names(name, flags) if name else ()
    birth_date = _date(get("birth_date"), flags)
    gender = _gender(get("gender"), flags)
    phone = _event_phone(get("phone"), flags)
    address_field = "registered_address" if source == "telecom" else "address"
    address_forms = _event_address(get(address_field), address_field, flags)
    kind_field = "change_type" if source == "hukou" else "event_type"
    kind = _optional_text(get(kind_field), kind_field, flags)
    for field in _UNREAD_FIELDS[source]:  # not matched, but the contract says text
        value = get(field)
        if value is not None and not isinstance(value, str):
            flags.append(f"{field}_wrong_type")
    return _make_event(
        event_id,
        source,
        occurred_at,
        kind if kind else None,
        name,
        names,
        id_forms,
        birth_date,
        gender,
        phone,
        address_forms,
        id_birth_date,
        tuple(dict.fromkeys(flags)) if flags else (),
    )


# Every event builds one: without the frozen ``__init__`` (see ``matchers.frozen``).
_make_event: Final = builder(EventRecord)


def _event_id(value: object, id_type: object, flags: list[str]) -> tuple[IdForms, DateForms]:
    if type(value) is str and value and (id_type is None or type(id_type) is str):
        value = _clean(value, flags)
        if id_type is not None:
            id_type = _clean(id_type, flags)
        if not value:
            return _NO_ID, _NO_DATE
        forms, birth = compact_id(value, id_type)
        if forms.flags:
            flags.extend(forms.flags)
        return forms, birth
    return _id({"id_number": value, "id_type": id_type}, flags)


def _event_names(name: str, flags: list[str]) -> tuple[NameForms, ...]:
    forms = normalise_name(name)
    if forms.flags:
        flags.extend(forms.flags)
    return (forms,) if forms.valid else ()


def _event_phone(value: object, flags: list[str]) -> PhoneForms:
    if type(value) is not str or not value:
        return _phone(value, flags)
    forms = normalise_phone(_clean(value, flags))
    if forms.flags:
        flags.extend(forms.flags)
    return forms


def _event_address(value: object, field: str, flags: list[str]) -> AddressForms:
    if type(value) is str and value:
        forms = compact_address(_clean(value, flags))
        if forms.flags:
            flags.extend(forms.flags)
        return forms
    if value is None or value == "":
        return _NO_ADDRESS
    text = _optional_text(value, field, flags)  # a str subclass, or the wrong type (flagged)
    return _NO_ADDRESS if text is None else _address(text, flags)


def _plain_card(value: object) -> bool:
    """A card that :func:`normalise_card` would find valid (no flags): plain digits, Luhn."""
    return (
        type(value) is str
        and 16 <= len(value) <= 19
        and value.isdigit()
        and value.isascii()
        and luhn_ok(value)
    )
