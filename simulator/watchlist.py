"""The supervision roster: watchlisted people as the supervision system recorded them.

The roster is itself messy: a few names in traditional characters, aliases, wrong birth dates,
legacy 15-digit ids. Dropped-out people have often moved since: the roster keeps their old
phone and address while the world (``WatchedPerson.now``) has new ones.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from simulator.corruption import Corruptor
from simulator.population import Identity, IdentityFactory, district_of

__all__ = ["STATUS_WEIGHTS", "Status", "WatchedPerson", "build_watchlist"]

Status = Literal["active", "dropped_out", "located", "closed"]
STATUS_WEIGHTS: dict[Status, float] = {
    "dropped_out": 0.80,
    "active": 0.10,
    "located": 0.06,
    "closed": 0.04,
}
_MOVED_SHARE: dict[Status, float] = {
    "dropped_out": 0.7,
    "active": 0.1,
    "located": 0.2,
    "closed": 0.2,
}
_CHANGED_FIRST = dt.date(2023, 1, 1).toordinal()
_CHANGED_DAYS = 3 * 365


class WatchedPerson(NamedTuple):
    """One roster entry and the truth behind it.

    Attributes:
        person_id: the supervision system's id.
        status: roster status.
        then: the identity as the roster knew it (old phone and address).
        now: the identity today (new phone and address when ``moved``).
        moved: whether the person moved and changed phone since.
        record: the roster record exactly as written to ``roster.jsonl``.
        roster_flags: what is wrong or unusual in the roster record itself.
    """

    person_id: str
    status: Status
    then: Identity
    now: Identity
    moved: bool
    record: dict[str, Any]
    roster_flags: tuple[str, ...]


def build_watchlist(
    identities: list[Identity],
    factory: IdentityFactory,
    corruptor: Corruptor,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> list[WatchedPerson]:
    """Turn identities into roster entries, ids ``P0000001``..., moving some of them."""
    rng = factory.rng
    statuses: list[Status] = list(STATUS_WEIGHTS)
    drawn = rng.choices(statuses, weights=list(STATUS_WEIGHTS.values()), k=len(identities))
    out: list[WatchedPerson] = []
    for n, (person, status) in enumerate(zip(identities, drawn, strict=True), start=1):
        moved = rng.random() < _MOVED_SHARE[status]
        now = factory.moved(person) if moved else person
        record, flags = _roster_record(
            f"P{n:07d}", person, status, rng=rng, factory=factory, corruptor=corruptor
        )
        out.append(WatchedPerson(record["person_id"], status, person, now, moved, record, flags))
        if on_progress is not None and n % 10_000 == 0:
            on_progress(10_000)
    if on_progress is not None:
        on_progress(len(identities) % 10_000)
    return out


def _roster_record(
    person_id: str,
    person: Identity,
    status: Status,
    *,
    rng: random.Random,
    factory: IdentityFactory,
    corruptor: Corruptor,
) -> tuple[dict[str, Any], tuple[str, ...]]:
    flags: list[str] = []
    name = person.name
    if rng.random() < 0.05:
        name, done = corruptor.name(person.surname, person.given, "traditional")
        flags.extend(f"roster_{f}" for f in done)
    id_number: str | None = person.id_number
    roll = rng.random()
    if roll < 0.06 and person.birth_date < "1999":
        id_number, _ = corruptor.id_number(person.id_number, "legacy15")
        flags.append("roster_id_legacy15")
    elif roll > 0.98:
        id_number = None
        flags.append("roster_id_missing")
    birth_date = person.birth_date
    if rng.random() < 0.05:
        birth_date = corruptor.wrong_birth_date(birth_date)
        flags.append("roster_birth_date_wrong")
    phones = [person.phone]
    if rng.random() < 0.2:
        phones.append(factory.phone())
    district = district_of(person.district_code)
    changed = _CHANGED_FIRST + int(rng.random() * _CHANGED_DAYS)
    second = int(rng.random() * 86_400)
    changed_at = (
        f"{dt.date.fromordinal(changed).isoformat()}"
        f"T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}+08:00"
    )
    record: dict[str, Any] = {
        "person_id": person_id,
        "name": name,
        "aliases": _aliases(person, rng, factory, corruptor, flags),
        "id_type": "cn_resident",
        "id_number": id_number,
        "birth_date": birth_date,
        "gender": person.gender,
        "phones": phones,
        "addresses": [person.address],
        "status": status,
        "status_changed_at": changed_at,
        "district": district.name or district.city,
        "case_officer": f"officer-{district.code}-{1 + int(rng.random() * 12):02d}",
    }
    return record, tuple(flags)


def _aliases(
    person: Identity,
    rng: random.Random,
    factory: IdentityFactory,
    corruptor: Corruptor,
    flags: list[str],
) -> list[str]:
    roll = rng.random()
    if roll >= 0.12:
        return []
    flags.append("roster_alias")
    if roll < 0.04:
        return [corruptor.pinyin(person.surname, person.given)[0]]
    if roll < 0.08:
        return [person.surname + factory.given_name(person.gender)]  # a former name
    return [rng.choice(("阿", "小")) + person.given[-1]]  # a nickname
