"""Feed events from household registration, banks and carriers, damaged as real feeds are.

Every event, about a watchlisted person or not, goes through the same per-source damage rates,
so a matcher cannot tell a true event by its damage. ``FeedWriter.event`` builds one contract
event (``../shared/contract.md``) for one identity and says what it did to it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from contract import Source

from simulator.corruption import (
    ID_FORM_GROUP,
    Corruptor,
    DateForm,
    IdForm,
    IdGroup,
    NameForm,
    PhoneForm,
)
from simulator.population import Identity, district_of
from simulator.tables import BANKS, CARRIERS, ROADS

__all__ = ["DamagePlan", "FeedWriter", "Source", "SubjectView"]


_NAME_FORMS: tuple[NameForm, ...] = ("hanzi", "traditional", "homophone", "pinyin")
_ID_FORMS: tuple[IdForm, ...] = ("intact", "legacy15", "typo", "swap", "masked", "missing")
_PHONE_FORMS: tuple[PhoneForm, ...] = ("plain", "plus86", "spaced", "dashed", "missing")
_DATE_FORMS: tuple[DateForm, ...] = ("intact", "impossible", "missing")

# Per-source shares of each form, in the order of the tuples above. Banks romanise names on
# cards and mask ids when sharing; carriers mask ids most and often lack them.
_NAME_RATES: dict[Source, tuple[float, ...]] = {
    "hukou": (0.90, 0.03, 0.04, 0.03),
    "bank": (0.55, 0.03, 0.04, 0.38),
    "telecom": (0.72, 0.04, 0.06, 0.18),
}
_ID_RATES: dict[Source, tuple[float, ...]] = {
    "hukou": (0.85, 0.05, 0.03, 0.02, 0.0, 0.05),
    "bank": (0.68, 0.02, 0.03, 0.02, 0.20, 0.05),
    "telecom": (0.47, 0.01, 0.02, 0.02, 0.35, 0.13),
}
_PHONE_RATES: dict[Source, tuple[float, ...]] = {
    "hukou": (1.0, 0.0, 0.0, 0.0, 0.0),
    "bank": (0.60, 0.15, 0.10, 0.10, 0.05),
    "telecom": (0.65, 0.15, 0.10, 0.10, 0.0),
}
_DATE_RATES: tuple[float, ...] = (0.96, 0.03, 0.01)
_LOWER_X_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class DamagePlan:
    """Which form each field of one event takes."""

    name: NameForm
    id_number: IdForm
    phone: PhoneForm
    birth_date: DateForm

    @property
    def id_group(self) -> IdGroup:
        """The id's group for reporting: present, damaged, masked or missing."""
        return ID_FORM_GROUP[self.id_number]


@dataclass(frozen=True, slots=True)
class SubjectView:
    """What an event says about its subject: an identity, and the phone and address it shows."""

    identity: Identity
    phone: str
    address: str
    district_code: str


class FeedWriter:
    """Build contract events, one per call, with per-source damage."""

    def __init__(self, rng: random.Random, corruptor: Corruptor) -> None:
        self._rng = rng
        self._corruptor = corruptor

    def plan(self, source: Source, *, allow_missing_id: bool = True) -> DamagePlan:
        """Draw the damage one event from ``source`` gets."""
        rng = self._rng
        id_rates = _ID_RATES[source]
        if not allow_missing_id:
            id_rates = (*id_rates[:-1], 0.0)
        return DamagePlan(
            name=rng.choices(_NAME_FORMS, weights=_NAME_RATES[source])[0],
            id_number=rng.choices(_ID_FORMS, weights=id_rates)[0],
            phone=rng.choices(_PHONE_FORMS, weights=_PHONE_RATES[source])[0],
            birth_date=rng.choices(_DATE_FORMS, weights=_DATE_RATES)[0],
        )

    def event(
        self,
        source: Source,
        subject: SubjectView,
        plan: DamagePlan,
        *,
        event_id: str,
        occurred_at: str,
    ) -> tuple[dict[str, Any], tuple[str, ...], DamagePlan]:
        """One event about ``subject``; returns it, the corruption words and the plan applied."""
        person = subject.identity
        c = self._corruptor
        name, name_flags = c.name(person.surname, person.given, plan.name)
        id_form = plan.id_number
        if id_form == "intact" and person.id_number.endswith("X"):
            id_form = "lower_x" if self._rng.random() < _LOWER_X_SHARE else "intact"
        id_number, id_flags = c.id_number(person.id_number, id_form)
        if id_number == person.id_number:
            id_form = "intact"
        plan = DamagePlan(
            plan.name if name_flags else "hanzi", id_form, plan.phone, plan.birth_date
        )
        event: dict[str, Any] = {
            "event_id": event_id,
            "source": source,
            "occurred_at": occurred_at,
            "name": name,
            "id_type": "cn_resident",
        }
        if id_number is not None or self._rng.random() < 0.7:
            event["id_number"] = id_number  # a missing id is sometimes null, sometimes absent
        flags = [*name_flags, *id_flags]
        if source == "hukou":
            flags.extend(self._hukou(event, subject, plan))
        elif source == "bank":
            flags.extend(self._bank(event, subject, plan))
        else:
            flags.extend(self._telecom(event, subject, plan))
        return event, tuple(flags), plan

    def _hukou(self, event: dict[str, Any], subject: SubjectView, plan: DamagePlan) -> list[str]:
        birth, flags = self._corruptor.birth_date(subject.identity.birth_date, plan.birth_date)
        event["gender"] = subject.identity.gender
        event["birth_date"] = birth
        event["address"] = subject.address
        event["region_code"] = subject.district_code
        event["change_type"] = self._rng.choice(
            ("move_in", "move_in", "move_out", "update", "new_registration")
        )
        return list(flags)

    def _bank(self, event: dict[str, Any], subject: SubjectView, plan: DamagePlan) -> list[str]:
        rng = self._rng
        code, bin_prefix, bank_name = rng.choice(BANKS)
        phone, flags = self._corruptor.phone(subject.phone, plan.phone)
        district = district_of(subject.district_code)
        road = rng.choice(ROADS)
        place = district.name or district.towns[0]
        event["bank_code"] = code
        event["phone"] = phone
        event["card_number"] = _luhn_card(bin_prefix, rng)
        event["branch_address"] = (
            f"海南省{district.city}{place}{road}{rng.randint(1, 299)}号{bank_name}{road[:2]}支行"
        )
        event["event_type"] = rng.choice(
            ("account_opened", "card_issued", "contact_updated", "transaction", "transaction")
        )
        return list(flags)

    def _telecom(self, event: dict[str, Any], subject: SubjectView, plan: DamagePlan) -> list[str]:
        phone, flags = self._corruptor.phone(subject.phone, plan.phone)
        event["carrier"] = self._rng.choice(CARRIERS)
        event["phone"] = phone
        event["registered_address"] = subject.address
        event["event_type"] = self._rng.choice(
            ("sim_registered", "number_ported", "subscriber_updated")
        )
        return list(flags)


def _luhn_card(bin_prefix: str, rng: random.Random) -> str:
    body = bin_prefix + "".join(str(rng.randrange(10)) for _ in range(18 - len(bin_prefix)))
    total = 0
    for i, char in enumerate(reversed(body)):
        digit = int(char)
        if i % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)
