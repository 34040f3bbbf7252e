"""Hard decoys: events that look like a roster person on more than a name, yet are someone else.

The plain decoys (``relative``, ``namesake``, ``recycled_phone``) either carry a conflicting
identifier or nothing but the name. Real feeds also hold the cases below, each drawn as often
as the world makes it likely (an owner is chosen by how many people share their name, and
for a namesake born the same day also their birth date, not uniformly), at about 1.4 % of
events together (``HARD_DECOY_SHARES``):

- ``namesake_same_dob``: a household-registration event of someone with the roster person's
  (common) name, birth date and gender, and no id. 张伟 has hundreds of namesakes in a
  province; one in about 20,000 shares a birthday, and where older registrations heaped
  estimated dates on 1 January and 1 July (the hainan mix) dozens of times more share those.
- ``recycled_phone_common_name``: a carrier or bank event of a new subscriber given a moved
  roster person's abandoned number; the subscriber has one of the most common names (often
  the roster person's surname too).
- ``relative_shared_household``: a sibling at the roster person's address and household
  phone, often with the family's generation character (张伟明 / 张伟强), born a few years
  apart, now and then a twin (same birth date).
- ``masked_id_collision``: a bank or carrier event with a masked id whose visible region
  prefix and last four characters are the roster person's, of a stranger of the same gender.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Final, Literal

from simulator.feeds import DamagePlan, Source, SubjectView
from simulator.population import Identity, IdentityFactory, resident_id_check_char
from simulator.watchlist import WatchedPerson

__all__ = [
    "HARD_DECOY_SHARES",
    "HARD_SOURCE_WEIGHTS",
    "HardDecoys",
    "HardKind",
    "masked_collision_id",
]

HardKind = Literal[
    "namesake_same_dob",
    "recycled_phone_common_name",
    "relative_shared_household",
    "masked_id_collision",
]
HARD_DECOY_SHARES: Final[dict[HardKind, float]] = {
    "namesake_same_dob": 0.004,
    "recycled_phone_common_name": 0.003,
    "relative_shared_household": 0.004,
    "masked_id_collision": 0.003,
}
# (hukou, bank, telecom): only household registration carries birth date and gender; masked
# ids and recycled numbers come from banks and carriers.
HARD_SOURCE_WEIGHTS: Final[dict[HardKind, tuple[float, float, float]]] = {
    "namesake_same_dob": (1.0, 0.0, 0.0),
    "recycled_phone_common_name": (0.0, 0.3, 0.7),
    "relative_shared_household": (0.3, 0.35, 0.35),
    "masked_id_collision": (0.0, 0.45, 0.55),
}
_TWIN_SHARE = 0.02  # twins are about 1-2 % of births
_GENERATION_SHARE = 0.6  # siblings sharing the generation character of the given name
_SAME_SURNAME_SHARE = 0.4  # a recycled number's new holder with the old holder's surname
_COMMON_NAMES = 50


class HardDecoys:
    """Draws hard decoys for a roster, given the population they come from.

    Args:
        factory: the world's identity factory (ids and phones stay unique).
        watchlist: the roster people.
        population: everyone in the world, to know how common each name is.
        heaped_dates: the population's birth dates are heaped (the hainan mix): a namesake born
            the same day is drawn by how many share the date too.
    """

    def __init__(
        self,
        factory: IdentityFactory,
        watchlist: Sequence[WatchedPerson],
        population: Sequence[Identity],
        *,
        heaped_dates: bool = False,
    ) -> None:
        self._factory = factory
        self._rng = factory.rng
        self._watchlist = list(watchlist)
        counts = Counter(p.name for p in population)
        # Namesakes born the same day: everyone else with the name, times (where birth dates are
        # heaped) how many were born on the person's date, names and dates being drawn
        # independently. Owners are drawn in proportion, as the world would produce them: a
        # 1 January where estimates were heaped is shared by dozens of times more strangers than
        # an ordinary day. Where no date is heaped (the classic mix) every date is equally
        # shared, and the name alone decides, as it always did there.
        births = Counter(p.birth_date for p in population) if heaped_dates else Counter()
        self._by_namesakes = _cumulative(
            [(counts[p.then.name] - 1) * births.get(p.then.birth_date, 1) for p in watchlist]
        )
        moved = [p for p in watchlist if p.moved] or list(watchlist)
        self._moved = moved
        self._moved_cum = _cumulative([counts[p.then.name] for p in moved])
        holders: dict[str, Identity] = {}
        for person in population:
            holders.setdefault(person.name, person)
        common = [name for name, _ in counts.most_common(_COMMON_NAMES)]
        self._common = [holders[name] for name in common]
        self._common_cum = _cumulative([counts[name] for name in common])

    def draw(self, kind: HardKind) -> tuple[SubjectView, str]:
        """One decoy subject of ``kind`` and the roster person it imitates."""
        if kind == "namesake_same_dob":
            return self._namesake_same_dob()
        if kind == "recycled_phone_common_name":
            return self._recycled_common_name()
        if kind == "relative_shared_household":
            return self._sibling()
        return self._masked_collision()

    @staticmethod
    def plan(kind: HardKind, plan: DamagePlan, source: Source) -> DamagePlan:
        """The damage plan a decoy's event gets.

        No id for namesakes, a masked id for collisions; the rest as drawn for ``source``.
        """
        del source
        if kind == "namesake_same_dob":
            return replace(plan, id_number="missing")
        if kind == "masked_id_collision":
            return replace(plan, id_number="masked")
        return plan

    def _pick(self, people: list[WatchedPerson], cum: list[float]) -> WatchedPerson:
        if cum and cum[-1] > 0:
            return self._rng.choices(people, cum_weights=cum)[0]
        return self._rng.choice(people)

    def namesake_owner(self) -> WatchedPerson:
        """A roster person, drawn by how many others share their name and their birth date."""
        return self._pick(self._watchlist, self._by_namesakes)

    def _namesake_same_dob(self) -> tuple[SubjectView, str]:
        person = self.namesake_owner()
        owner = person.then
        other = self._factory.namesake(owner)
        twin = other._replace(
            birth_date=owner.birth_date,
            id_number=self._factory.resident_id(other.region_code, owner.birth_date, owner.gender),
        )
        view = SubjectView(twin, twin.phone, twin.address, twin.district_code)
        return view, person.person_id

    def _recycled_common_name(self) -> tuple[SubjectView, str]:
        rng = self._rng
        owner = self._pick(self._moved, self._moved_cum)
        stranger = self._factory.people(1)[0]
        holder = rng.choices(self._common, cum_weights=self._common_cum)[0]
        surname = owner.then.surname if rng.random() < _SAME_SURNAME_SHARE else holder.surname
        stranger = stranger._replace(surname=surname, given=holder.given, gender=holder.gender)
        stranger = stranger._replace(
            id_number=self._factory.resident_id(
                stranger.region_code, stranger.birth_date, holder.gender
            )
        )
        view = SubjectView(stranger, owner.then.phone, stranger.address, stranger.district_code)
        return view, owner.person_id

    def _sibling(self) -> tuple[SubjectView, str]:
        rng, factory = self._rng, self._factory
        person = rng.choice(self._watchlist)
        owner = person.then
        gender = owner.gender if rng.random() < 0.5 else ("F" if owner.gender == "M" else "M")
        given = factory.given_name(gender)
        if len(owner.given) == 2 and rng.random() < _GENERATION_SHARE:
            given = owner.given[0] + given[-1]
        while given == owner.given:
            given = factory.given_name(gender)
        if rng.random() < _TWIN_SHARE:
            birth = owner.birth_date
        else:
            year = int(owner.birth_date[:4]) + rng.choice((-4, -3, -2, -1, 1, 2, 3, 4))
            year = min(max(year, 1940), 2008)
            birth = f"{year:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        sibling = owner._replace(
            given=given,
            gender=gender,
            birth_date=birth,
            id_number=factory.resident_id(owner.region_code, birth, gender),
        )
        view = SubjectView(sibling, owner.phone, owner.address, owner.district_code)
        return view, person.person_id

    def _masked_collision(self) -> tuple[SubjectView, str]:
        rng = self._rng
        person = rng.choice(self._watchlist)
        stranger = self._factory.people(1)[0]
        collided = masked_collision_id(person.then.id_number, rng)
        gender = person.then.gender
        stranger = stranger._replace(
            id_number=collided,
            region_code=collided[:6],
            birth_date=f"{collided[6:10]}-{collided[10:12]}-{collided[12:14]}",
            gender=gender,
            given=stranger.given if stranger.gender == gender else self._factory.given_name(gender),
        )
        view = SubjectView(stranger, stranger.phone, stranger.address, stranger.district_code)
        return view, person.person_id


def masked_collision_id(id18: str, rng: random.Random) -> str:
    """Another valid id with the same region (first six) and last four characters.

    Same sequence digits (so the same gender digit), another birth date whose check character
    happens to equal the original's: what a masked ``460108********1234`` cannot tell apart.
    """
    region, seq, check = id18[:6], id18[14:17], id18[17]
    start = dt.date(1950, 1, 1).toordinal()
    span = dt.date(2006, 12, 31).toordinal() - start
    while True:
        birth = dt.date.fromordinal(start + rng.randrange(span)).strftime("%Y%m%d")
        first17 = f"{region}{birth}{seq}"
        if first17 != id18[:17] and resident_id_check_char(first17) == check:
            return first17 + check


def _cumulative(weights: list[int]) -> list[float]:
    total, out = 0.0, []
    for w in weights:
        total += max(w, 0)
        out.append(total)
    return out
