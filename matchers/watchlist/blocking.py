"""Blocking: an in-memory multi-key index of the watchlist that finds a handful of candidates.

A person is filed under the block keys of each field (``id:``, ``idbody:``, ``idm6-4:``,
``bdg:``, ``bdgs:``, name sound keys, phone, address keys, ...); an event looks up its own keys.
The index changes in place (:meth:`WatchlistIndex.upsert`, :meth:`WatchlistIndex.remove`),
never rebuilt.

Memory is what limits the watchlist, so postings are compact: keys are kept as their 64-bit
``hash`` (a collision only adds a candidate that scoring rejects) in flat arrays
(:class:`matchers.watchlist.postings.Postings`), a person is a small int (its slot), a key filing
one person maps to that int and only a shared key holds an array of slots.

Guards: a key filing more than ``max_block_size`` people (张伟's sound key, a busy address)
finds nobody on its own (a name alone never makes a lead anyway), and at most
``max_candidates`` people are returned, those hit by the most keys first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

from matchers.fields.addresses import address_block_keys
from matchers.fields.dates import DateForms, date_block_keys
from matchers.fields.id_damage import one_slip_bodies
from matchers.fields.ids import IdForms, id_block_keys
from matchers.fields.name_variants import dialect_initials
from matchers.fields.names import NameForms, name_block_keys
from matchers.fields.phones import phone_block_keys
from matchers.records import EventRecord, Person
from matchers.watchlist import stored
from matchers.watchlist.postings import Postings
from matchers.watchlist.store import WatchlistStore

__all__ = [
    "FAMILY_CAPS",
    "Identified",
    "WatchlistIndex",
    "event_block_keys",
    "person_block_keys",
    "watchlist_index",
]


class Identified(Protocol):
    """Anything with a ``person_id``: what the index stores."""

    @property
    def person_id(self) -> str:
        """The person's stable id."""
        ...


P = TypeVar("P", bound=Identified)
E = TypeVar("E")


def _same(value: Any) -> Any:
    return value


def _person_id(person: Any) -> str:
    person_id: str = person.person_id
    return person_id


class WatchlistIndex(Generic[P, E]):
    """Multi-key blocking index of watchlist people.

    Args:
        person_keys: the block keys of a person (a pure function of the stored person).
        event_keys: the block keys of an event.
        max_block_size: keys filing more people than this are ignored at lookup.
        max_candidates: at most this many candidates per event.
        family_caps: tighter block-size caps per key family (the part before ``:``).
        pack: what is kept of a person (by default the person itself).
        unpack: the person back from what ``pack`` kept.
        packed_id: the person id of what ``pack`` kept (without unpacking it).
        cache_size: how many unpacked people are kept for the next events (0: none).
        whole_limit: people are kept whole (not packed, never rebuilt) while the index holds
            at most this many; the upsert that would pass it packs them all, and the index
            packs from then on (0: always pack).
    """

    __slots__ = (
        "_by_id",
        "_cache",
        "_cache_size",
        "_count",
        "_event_keys",
        "_family_caps",
        "_free",
        "_max_block",
        "_max_candidates",
        "_pack",
        "_packed_id",
        "_person_keys",
        "_postings",
        "_records",
        "_unpack",
        "_whole",
        "_whole_limit",
    )

    def __init__(
        self,
        *,
        person_keys: Callable[[P], frozenset[str]],
        event_keys: Callable[[E], frozenset[str]],
        max_block_size: int = 100,
        max_candidates: int = 20,
        family_caps: Mapping[str, int] = MappingProxyType({}),
        pack: Callable[[P], Any] = _same,
        unpack: Callable[[Any], P] = _same,
        packed_id: Callable[[Any], str] = _person_id,
        cache_size: int = 0,
        whole_limit: int = 0,
    ) -> None:
        self._person_keys = person_keys
        self._event_keys = event_keys
        self._max_block = max_block_size
        self._family_caps = dict(family_caps)
        self._max_candidates = max_candidates
        self._pack = pack
        self._unpack = unpack
        self._packed_id = packed_id
        self._cache_size = cache_size
        self._cache: OrderedDict[int, P] = OrderedDict()
        self._whole_limit = whole_limit
        self._whole = whole_limit > 0  # records are the people themselves
        # Slot -> packed person (``None`` when free); person id (by its hash) -> slot.
        self._records: list[Any] = []
        self._by_id = Postings()
        self._count = 0
        self._free: list[int] = []
        self._postings = Postings()

    def __len__(self) -> int:
        return self._count

    def __contains__(self, person_id: object) -> bool:
        return isinstance(person_id, str) and self._slot(person_id) is not None

    def __iter__(self) -> Iterator[P]:
        return (self._unpack(r) for r in self._records if r is not None)

    def get(self, person_id: str) -> P | None:
        """The stored person, or ``None``."""
        slot = self._slot(person_id)
        return None if slot is None else self._person(slot)

    def _slot(self, person_id: str) -> int | None:
        posting = self._by_id.get(hash(person_id))
        if posting is None:
            return None
        for slot in (posting,) if isinstance(posting, int) else posting:
            if self._packed_id(self._records[slot]) == person_id:
                return slot
        return None

    def _person(self, slot: int) -> P:
        if self._whole:
            whole: P = self._records[slot]
            return whole
        person = self._cache.get(slot)
        if person is None:
            person = self._unpack(self._records[slot])
            if self._cache_size:
                if len(self._cache) >= self._cache_size:
                    # The oldest (``next(iter(dict))`` would walk the holes deletes leave).
                    self._cache.popitem(last=False)
                self._cache[slot] = person
        return person

    def upsert(self, person: P) -> P | None:
        """File a person under its keys, replacing an earlier version in place.

        Returns:
            The version it replaced, or ``None``.
        """
        old = self.remove(person.person_id)
        if self._whole and self._count >= self._whole_limit:
            self._pack_all()
        record = person if self._whole else self._pack(person)
        if self._free:
            slot = self._free.pop()
            self._records[slot] = record
        else:
            slot = len(self._records)
            self._records.append(record)
        self._count += 1
        self._by_id.add(hash(person.person_id), slot)
        for key in self._person_keys(person):
            self._postings.add(hash(key), slot)
        return old

    def _pack_all(self) -> None:
        """Pack every person kept whole; from now on every new person is packed too."""
        self._records = [None if r is None else self._pack(r) for r in self._records]
        self._whole = False

    def remove(self, person_id: str) -> P | None:
        """Unfile a person (no-op when absent).

        Returns:
            The removed person, or ``None``.
        """
        slot = self._slot(person_id)
        if slot is None:
            return None
        person = self._person(slot)
        self._cache.pop(slot, None)
        self._records[slot] = None
        self._free.append(slot)
        self._count -= 1
        self._by_id.discard(hash(person_id), slot)
        for key in self._person_keys(person):
            self._postings.discard(hash(key), slot)
        return person

    def candidates(self, event: E) -> set[str]:
        """The person ids sharing a usable key with the event, at most ``max_candidates``."""
        return {p.person_id for p in self.candidate_people(event)}

    def candidate_people(self, event: E, keys: frozenset[str] | None = None) -> list[P]:
        """The people sharing a usable key with the event, at most ``max_candidates``.

        Those hit by the most keys come first when there are more (ties by person id).
        ``keys``: the event's keys when the caller computed them already (the event archive
        stores them too), else they are computed here.
        """
        hits: dict[int, int] = {}
        get, caps, max_block = self._postings.get, self._family_caps, self._max_block
        for key in self._event_keys(event) if keys is None else keys:
            posting = get(hash(key))
            if posting is None:
                continue
            if isinstance(posting, int):
                hits[posting] = hits.get(posting, 0) + 1
            elif len(posting) <= caps.get(key[: key.find(":")], max_block):
                for slot in posting:
                    hits[slot] = hits.get(slot, 0) + 1
        if len(hits) > self._max_candidates:
            records, packed_id = self._records, self._packed_id
            ranked = sorted((-n, packed_id(records[s]), s) for s, n in hits.items())
            return [self._person(s) for *_, s in ranked[: self._max_candidates]]
        return [self._person(s) for s in hits]

    def postings(self) -> dict[int, frozenset[str]]:
        """Every key (by its hash) with the person ids it files (for tests and diagnostics)."""
        out: dict[int, frozenset[str]] = {}
        for key, posting in self._postings.items():
            slots = [posting] if isinstance(posting, int) else list(posting)
            out[key] = frozenset(self._packed_id(self._records[s]) for s in slots)
        return out

    def block_size(self, key: str) -> int:
        """How many people a key files."""
        posting = self._postings.get(hash(key))
        if posting is None:
            return 0
        return 1 if isinstance(posting, int) else len(posting)


def person_block_keys(person: Person) -> frozenset[str]:
    """Every key a watchlist person is filed under (ids, birth date + gender, names, phones...).

    The birth date and gender come from the record's own fields and from its id, so an event
    carrying only one of them still finds the person.
    """
    keys = _id_keys(person.id)
    gender = person.gender or person.id.gender
    keys.update(date_block_keys(person.birth_date, gender))
    keys.update(date_block_keys(person.id_birth_date, gender))
    keys.update(_with_surnames(keys, person.names))
    years = _years(person.birth_date, person.id_birth_date)
    for name in person.names:
        keys.update(_with_years(name_block_keys(name), years))
    for phone in person.phones:
        keys.update(phone_block_keys(phone))
    for address in person.addresses:
        keys.update(address_block_keys(address))
    return frozenset(keys)


def event_block_keys(event: EventRecord) -> frozenset[str]:
    """Every key an event looks up (the same families as :func:`person_block_keys`).

    A full id looks up ``idbody:`` only: its mask-pattern keys (region + last digits) exist so
    that *masked* events find a person, and would otherwise pull in every neighbour who
    happens to share four trailing digits (and two equal ids share their body). A full id
    that fails its check (damaged: ``valid`` false) also looks up ``idm6-4:`` (region + last
    four): a slipped or swapped birth-date digit loses the body and ``bdg:`` keys; and the
    ``idbody:`` of each valid number one substitution or adjacent swap away
    (:func:`~matchers.fields.id_damage.one_slip_bodies`, at most 34): a slip in the last four
    loses the tail too, and a slipped sequence digit can flip the gender ``bdg:`` reads.
    With a gender, only ``bdg:`` (the sharper key; ``bd:`` is for the people whose gender is
    unknown); with a name too, ``bdgs:`` (+ the surname's initial) instead: a million people
    share a birthday in blocks of ten, and the initial keeps a typo'd given name.

    Built directly, without the person side's intermediate sets (every event pays for this);
    ``tests/unit/matchers/test_blocking.py`` checks it against the rules stated on the
    person's keys.
    """
    id_ = event.id
    keys = _event_id_keys(id_)
    gender = event.gender or id_.gender
    dates = [d for d in (event.birth_date, event.id_birth_date) if d.comparable]
    if gender is None:
        keys.update(["bd:" + d.digits for d in dates])
    else:
        days = {d.digits + gender for d in dates}
        if id_.birth_date and id_.gender and _has_id_keys(id_) and id_.id_type == "cn_resident":
            days.add(id_.birth_date.replace("-", "") + id_.gender)  # id_block_keys' bdg:
        initials = {p.surname[0] for n in event.names for p in n.parses if p.surname}
        for name in event.names:  # a dialect passport name: TAY for 郑 (zheng) looks under z
            if name.script != "hanzi":
                initials.update(*[dialect_initials(p.surname) for p in name.parses])
        if initials:
            keys.update([f"bdgs:{day}|{i}" for day in days for i in initials])
        else:
            keys.update(["bdg:" + day for day in days])
    # The id's birth date is most often the one given: its year once, not once per date.
    years = {d.year for d in dates} if event.names else set()
    for name in event.names:
        name_keys = name_block_keys(name)
        keys.update(name_keys)
        for year in years:
            keys.update([f"{k}|{year}" for k in name_keys])
    keys.update(phone_block_keys(event.phone))
    keys.update(address_block_keys(event.address))
    return frozenset(keys)


def _has_id_keys(forms: IdForms) -> bool:
    return forms.comparable and bool(forms.value)


def _event_id_keys(forms: IdForms) -> set[str]:
    """The id keys an event looks up (those of :func:`id_block_keys` but ``bdg:``)."""
    if not _has_id_keys(forms):
        return set()
    if forms.id_type == "cn_resident" and not forms.masked:
        # A full number: its body only. Any other shape files nothing else but ``bdg:``.
        if len(forms.value) != 18:
            return set()
        keys = {"idbody:" + forms.value[:17]}
        if not forms.valid:
            # A number that fails its check is damaged: a slipped digit in the birth date
            # loses its body and its ``bdg:`` keys, so look it up by its region and tail too,
            # and by the body of each valid number one slip away (a slip in the sequence
            # digits changes the tail and can flip the gender its parity gives ``bdg:``).
            keys.add(f"idm6-4:{forms.value[:6]}|{forms.value[14:]}")
            keys.update(["idbody:" + body for body in one_slip_bodies(forms.value)])
        return keys
    return {k for k in id_block_keys(forms) if not k.startswith("bdg:")}


# Families whose keys are shared by design (a name, a building, a birthday without gender):
# alone they add candidates that the identifying-field gate then mostly rejects, at a cost.
# ``nm:zhang wei|1990`` (name + birth year) and ``bdg:`` keep recall for those people.
FAMILY_CAPS: Mapping[str, int] = MappingProxyType({"nm": 10, "nms": 10, "adr": 5, "bd": 20})
# Unpacked watchlist people kept for the next events (a rebuilt person costs a few us).
CACHE_SIZE = 4096
# A watchlist of up to this many people is kept whole: rebuilding an event's candidates from
# their slim records is about a third of its matching time (the records are scattered over the
# heap: cache misses), and a whole person costs about 900 bytes more (100 MB at this size).
# A larger watchlist is packed (a million people fit in 1 GB only so).
WHOLE_LIMIT = 120_000


def _id_keys(forms: IdForms) -> set[str]:
    keys = set(id_block_keys(forms))
    if any(k.startswith("idbody:") for k in keys):
        # Two equal ids share their 17-digit body: ``id:`` would only cost memory.
        keys = {k for k in keys if not k.startswith("id:")}
    return keys


def _with_surnames(keys: set[str], names: tuple[NameForms, ...]) -> set[str]:
    """``bdgs:<date><gender>|<initial>`` per ``bdg:`` key and initial of a surname reading."""
    initials = {p.surname[0] for n in names for p in n.parses if p.surname}
    return {f"bdgs:{k[4:]}|{i}" for k in keys if k.startswith("bdg:") for i in initials}


def _years(*dates: DateForms) -> frozenset[int]:
    return frozenset(d.year for d in dates if d.comparable)


def _with_years(name_keys: frozenset[str], years: frozenset[int]) -> set[str]:
    # A common name's key (zhang wei) files too many people to be used alone; the same key
    # with the birth year keeps it selective while an id or phone typo still finds the person.
    out = set(name_keys)
    out.update(f"{k}|{y}" for k in name_keys for y in years)
    return out


def watchlist_index(
    *,
    max_block_size: int = 100,
    max_candidates: int = 20,
    whole_limit: int = WHOLE_LIMIT,
    store: WatchlistStore | None = None,
) -> WatchlistIndex[Person, EventRecord]:
    """A :class:`WatchlistIndex` of :class:`Person` keyed by the field modules' block keys.

    Up to ``whole_limit`` people are kept whole; a larger watchlist is kept as slim records
    (:mod:`matchers.watchlist.stored`), the candidates of recent events unpacked in a small cache.
    Their templates are shared in ``store`` (the owning matcher's; a new one by default).
    """
    return WatchlistIndex(
        person_keys=person_block_keys,
        event_keys=event_block_keys,
        max_block_size=max_block_size,
        max_candidates=max_candidates,
        family_caps=FAMILY_CAPS,
        pack=(store or WatchlistStore()).pack,
        unpack=stored.unpack,
        packed_id=stored.record_id,
        cache_size=CACHE_SIZE,
        whole_limit=whole_limit,
    )
