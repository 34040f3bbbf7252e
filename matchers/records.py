"""Raw roster and event dicts (the contract's fields) to normalised, frozen records.

    parse_event_bytes(b'{"event_id": "e1", "source": "bank", ...}', max_bytes=65536) -> dict
    event_from_raw(raw) -> EventRecord      # InvalidRecord when the envelope is unusable
    person_from_raw(raw) -> Person          # InvalidRecord when a required field is missing

An envelope is unusable (the event goes to the dead-letter topic with the reason) when it is not
UTF-8, too large, not JSON, not a JSON object, or lacks ``event_id``, a known ``source`` or an
``occurred_at`` with an offset. Any other field may be garbage: it is normalised by its field
module, left out of matching when invalid, and its flags travel on the record. Unknown extra
fields are ignored.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, get_args

import orjson

from matchers.addresses import AddressForms, normalise_address
from matchers.cards import luhn_ok, normalise_card
from matchers.compact import NO_DATE, compact_address, compact_id, shared_date, shared_name
from matchers.dates import DateForms, normalise_date
from matchers.errors import InvalidRecord
from matchers.frozen import builder
from matchers.ids import IdForms, normalise_id
from matchers.names import NameForms, normalise_name
from matchers.phones import PhoneForms, normalise_phone

__all__ = [
    "EventRecord",
    "Gender",
    "Person",
    "RosterStatus",
    "Source",
    "event_from_raw",
    "parse_event_bytes",
    "parse_timestamp",
    "person_from_raw",
    "validate_event_envelope",
]

Source = Literal["hukou", "bank", "telecom"]
RosterStatus = Literal["active", "dropped_out", "located", "closed"]
Gender = Literal["M", "F"]
_SOURCES: tuple[str, ...] = get_args(Source)
_STATUSES: tuple[str, ...] = get_args(RosterStatus)
_GENDERS = {"M": "M", "F": "F", "MALE": "M", "FEMALE": "F", "男": "M", "女": "F"}
# Bounds on list fields: a roster line with ten thousand phones must not slow every event.
_MAX_LIST = 16
# Shared "nothing given" forms: most records lack some field, and sharing saves memory.
_NO_ID = normalise_id(None)
_NO_DATE = NO_DATE
_NO_PHONE = normalise_phone(None)
_NO_ADDRESS = normalise_address(None)
# A timestamp in the shape ``datetime.isoformat`` writes (seconds, an offset in hours and
# minutes) is its own normal form; "-00:00" is written "+00:00".
_ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", re.ASCII)
# A watchlist of a million people is held in memory: names, dates and place names are
# shared (matchers.compact), short strings (statuses, districts) interned.


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


def parse_timestamp(value: object) -> dt.datetime | None:
    """Parse an ISO-8601 timestamp that carries an offset; ``None`` otherwise."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


def parse_event_bytes(
    data: bytes, *, max_bytes: int, check_envelope: bool = True
) -> dict[str, Any]:
    """Decode one event message and check its envelope.

    Args:
        data: the message bytes.
        max_bytes: the largest message accepted.
        check_envelope: check ``event_id``, ``source`` and ``occurred_at`` here; a caller that
            hands the dict straight to :func:`event_from_raw` (which checks them with the same
            reasons) leaves it to that.

    Returns:
        The decoded JSON object.

    Raises:
        InvalidRecord: oversized, not UTF-8, not JSON, not an object, or a bad envelope.
    """
    if len(data) > max_bytes:
        raise InvalidRecord(f"oversized: {len(data)} bytes > {max_bytes}")
    try:
        value = orjson.loads(data)  # rejects invalid UTF-8 too: decode only to say where
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise InvalidRecord(f"not UTF-8: invalid byte at offset {bad.start}") from bad
        raise InvalidRecord(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidRecord(f"not a JSON object (got {type(value).__name__})")
    if check_envelope:
        validate_event_envelope(value)
    return value


def validate_event_envelope(raw: Mapping[str, Any]) -> tuple[str, Source, str]:
    """Check ``event_id``, ``source`` and ``occurred_at``.

    Returns:
        ``(event_id, source, occurred_at)`` normalised (timestamp in ISO form with offset).

    Raises:
        InvalidRecord: naming the first field that is missing or unusable.
    """
    if type(raw) is dict:  # a decoded message whose envelope is as it should be, first
        event_id, source, occurred = raw.get("event_id"), raw.get("source"), raw.get("occurred_at")
        if type(event_id) is str and type(source) is str and type(occurred) is str:
            event_id = event_id.strip()
            if event_id and source in _SOURCES and occurred.strip():
                occurred_at = _normal_timestamp(occurred)
                if occurred_at is not None:
                    return event_id, source, occurred_at  # type: ignore[return-value]
    if not isinstance(raw, Mapping):
        raise InvalidRecord(f"not a JSON object (got {type(raw).__name__})")
    event_id = _required_text(raw, "event_id")
    source = _required_text(raw, "source").lower()
    if source not in _SOURCES:
        raise InvalidRecord(f"source: must be one of {'|'.join(_SOURCES)}, got {source[:40]!r}")
    _required_text(raw, "occurred_at")
    occurred_at = _normal_timestamp(raw["occurred_at"])
    if occurred_at is None:
        raise InvalidRecord("occurred_at: not an ISO-8601 timestamp with an offset")
    return event_id, source, occurred_at  # type: ignore[return-value]


def _normal_timestamp(value: object) -> str | None:
    """:func:`parse_timestamp`'s result in ISO form, ``None`` when there is none."""
    if type(value) is str and len(value) == 25 and _ISO_SECONDS.match(value):
        # Already in the form isoformat writes, but for "-00:00" (written "+00:00").
        try:
            dt.datetime.fromisoformat(value)  # a real date and time?
        except ValueError:
            return None
        if not value.endswith("-00:00"):
            return value
    parsed = parse_timestamp(value)
    return None if parsed is None else parsed.isoformat()


def _required_text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if type(value) is str and (stripped := value.strip()):  # the common case, first
        return stripped
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value is None:
        raise InvalidRecord(f"{key}: missing")
    if not isinstance(value, str):
        raise InvalidRecord(f"{key}: must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidRecord(f"{key}: empty")
    return value.strip()


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):  # a tuple of types checks faster than a union
        return [v for v in value[:_MAX_LIST] if isinstance(v, str) and v.strip()] if value else []
    return []


def _gender(value: object, flags: list[str]) -> Gender | None:
    if value is None or value == "":
        return None
    gender = _GENDERS.get(value.strip().upper()) if isinstance(value, str) else None
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


def _person_names(values: list[str], flags: list[str]) -> tuple[NameForms, ...]:
    out = []
    for value in values:
        forms = shared_name(value)  # one object per distinct name, not per person
        flags.extend(forms.flags)
        if forms.valid:
            out.append(forms)
    return tuple(out)


def _id(raw: Mapping[str, Any], flags: list[str]) -> tuple[IdForms, DateForms]:
    value = raw.get("id_number")
    if value is None or value == "":
        return _NO_ID, _NO_DATE
    id_type = raw.get("id_type")
    forms, birth = compact_id(value, id_type if isinstance(id_type, str) else None)
    flags.extend(forms.flags)
    return forms, birth


def _date(value: object, flags: list[str]) -> DateForms:
    if value is None or value == "":
        return _NO_DATE
    forms = normalise_date(value)
    if forms.flags:
        flags.extend(f"birth_{f}" for f in forms.flags)
    return shared_date(forms)


def _phone(value: object, flags: list[str]) -> PhoneForms:
    if value is None or value == "":
        return _NO_PHONE
    forms = normalise_phone(value)
    flags.extend(forms.flags)
    return forms


def _address(value: object, flags: list[str]) -> AddressForms:
    if value is None or value == "":
        return _NO_ADDRESS
    forms = compact_address(value)
    flags.extend(forms.flags)
    return forms


def _dedupe(flags: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(flags)) if flags else ()


def person_from_raw(raw: Mapping[str, Any]) -> Person:
    """Build a normalised person from a roster record.

    Raises:
        InvalidRecord: not an object, or ``person_id``, ``name``, ``status`` (one of
            active|dropped_out|located|closed) or ``status_changed_at`` missing or unusable.
    """
    if not isinstance(raw, Mapping):
        raise InvalidRecord(f"not a JSON object (got {type(raw).__name__})")
    person_id = _required_text(raw, "person_id")
    name = _required_text(raw, "name")
    status = _required_text(raw, "status").lower()
    if status not in _STATUSES:
        raise InvalidRecord(f"status: must be one of {'|'.join(_STATUSES)}, got {status[:40]!r}")
    changed = _normal_timestamp(_required_text(raw, "status_changed_at"))
    if changed is None:
        raise InvalidRecord("status_changed_at: not an ISO-8601 timestamp with an offset")
    flags: list[str] = []  # in field order: id, phones, addresses, names, birth date, gender
    id_forms, id_birth = _id(raw, flags)
    phones = []
    for value in _strings(raw.get("phones")):
        phone = _phone(value, flags)
        if phone.comparable:
            phones.append(phone)
    addresses = []
    for value in _strings(raw.get("addresses")):
        address = _address(value, flags)
        if address.valid:
            addresses.append(address)
    names = _person_names([name, *_strings(raw.get("aliases"))], flags)
    if names and names[0].display == name:
        name = names[0].display  # one string for every holder of the name
    return Person(
        person_id=person_id,
        name=name,
        status=sys.intern(status),  # type: ignore[arg-type]
        status_changed_at=changed,
        district=sys.intern(_text(raw.get("district"))),
        case_officer=sys.intern(_text(raw.get("case_officer"))),
        names=names,
        id=id_forms,
        birth_date=_date(raw.get("birth_date"), flags),
        gender=_gender(raw.get("gender"), flags),
        phones=tuple(phones),
        addresses=tuple(addresses),
        id_birth_date=id_birth,
        flags=_dedupe(flags),
    )


def event_from_raw(raw: Mapping[str, Any]) -> EventRecord:
    """Build a normalised event from a feed message.

    Raises:
        InvalidRecord: the envelope is unusable (see :func:`validate_event_envelope`).
    """
    event_id, source, occurred_at = validate_event_envelope(raw)
    get = raw.get
    flags: list[str] = []  # in field order: id, card, name, birth date, gender, phone, address
    id_forms, id_birth_date = _event_id(get("id_number"), get("id_type"), flags)
    if source == "bank":
        card = get("card_number")
        if card is not None and card != "" and not _plain_card(card):
            flags.extend(normalise_card(card).flags)
    name = get("name")
    name = name.strip() if isinstance(name, str) else ""
    names = _event_names(name, flags) if name else ()
    birth_date = _date(get("birth_date"), flags)
    gender = _gender(get("gender"), flags)
    phone = _event_phone(get("phone"), flags)
    address = get("registered_address") if source == "telecom" else get("address")
    address_forms = _event_address(address, flags)
    kind = get("change_type") if source == "hukou" else get("event_type")
    return _make_event(
        event_id,
        source,
        occurred_at,
        kind if isinstance(kind, str) and kind else None,
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
_make_event = builder(EventRecord)


def _event_id(value: object, id_type: object, flags: list[str]) -> tuple[IdForms, DateForms]:
    if type(value) is str and value and (id_type is None or type(id_type) is str):
        forms, birth = _cached_id(value, id_type)
        if forms.flags:
            flags.extend(forms.flags)
        return forms, birth
    return _id({"id_number": value, "id_type": id_type}, flags)


def _event_names(name: str, flags: list[str]) -> tuple[NameForms, ...]:
    forms = _cached_name(name)
    if forms.flags:
        flags.extend(forms.flags)
    return (forms,) if forms.valid else ()


def _event_phone(value: object, flags: list[str]) -> PhoneForms:
    if type(value) is not str or not value:
        return _phone(value, flags)
    forms = _cached_phone(value)
    if forms.flags:
        flags.extend(forms.flags)
    return forms


def _event_address(value: object, flags: list[str]) -> AddressForms:
    if type(value) is not str or not value:
        return _address(value, flags)
    forms = _cached_address(value)
    if forms.flags:
        flags.extend(forms.flags)
    return forms


# Per-value caches of the event path, keyed by the raw string: feeds repeat values (the same
# people's bank and telecom events, common names, the same streets) and the forms are frozen,
# so one object serves every repeat. Bounded (least recently used out); the roster path does
# not use them (its values are shared through matchers.compact instead).
@lru_cache(maxsize=32768)
def _cached_name(value: str) -> NameForms:
    return normalise_name(value)


@lru_cache(maxsize=32768)
def _cached_id(value: str, id_type: str | None) -> tuple[IdForms, DateForms]:
    return compact_id(value, id_type)


@lru_cache(maxsize=16384)
def _cached_phone(value: str) -> PhoneForms:
    return normalise_phone(value)


@lru_cache(maxsize=16384)
def _cached_address(value: str) -> AddressForms:
    return compact_address(value)


def _plain_card(value: object) -> bool:
    """A card that :func:`normalise_card` would find valid (no flags): plain digits, Luhn."""
    return (
        type(value) is str
        and 16 <= len(value) <= 19
        and value.isdigit()
        and value.isascii()
        and luhn_ok(value)
    )
