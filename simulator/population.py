"""Synthetic people: Chinese names, resident ids, phones and Hainan addresses.

Everything is drawn from a caller's ``random.Random`` so a seed fixes the whole population. People
are made in bulk (one ``choices`` call per column) because the speed benchmark needs a
million-person watchlist in seconds, not minutes.

Example:
    >>> import random
    >>> factory = IdentityFactory(random.Random(7))
    >>> person = factory.people(1)[0]
    >>> is_valid_resident_id(person.id_number)
    True
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import operator
import random
from collections.abc import Sequence
from typing import Literal, NamedTuple, TypeVar

from simulator.tables import (
    COMPOUND_SURNAMES,
    DISTRICTS,
    ESTATES,
    FEMALE_CHARS,
    GIVEN_BIGRAMS,
    MALE_CHARS,
    MOBILE_PREFIXES,
    ROADS,
    SURNAMES,
    District,
)

__all__ = [
    "Gender",
    "Identity",
    "IdentityFactory",
    "PopulationProfile",
    "district_of",
    "format_address",
    "is_valid_resident_id",
    "resident_id_check_char",
]

Gender = Literal["M", "F"]
T = TypeVar("T")

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_BIRTH_FIRST = dt.date(1950, 1, 1).toordinal()
_BIRTH_SPAN = dt.date(2006, 12, 31).toordinal() - _BIRTH_FIRST + 1
_DISTRICT_BY_CODE = {d.code: d for d in DISTRICTS}


def resident_id_check_char(first17: str) -> str:
    """Return the GB 11643 check character (ISO 7064 MOD 11-2) for 17 digits.

    Example:
        >>> resident_id_check_char("11010519491231002")
        'X'
    """
    total = sum(map(operator.mul, map(int, first17), _WEIGHTS))
    return _CHECK_CHARS[total % 11]


def is_valid_resident_id(value: str) -> bool:
    """Say whether an 18-character id has digits where digits belong and a matching check char."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    return resident_id_check_char(value[:17]) == value[17]


class Identity(NamedTuple):
    """One synthetic person as the world knows them (the truth, before any corruption).

    A named tuple, not a dataclass: it is built a million times for the speed benchmark.

    Attributes:
        surname: hanzi surname (one or two characters).
        given: hanzi given name (one or two characters).
        gender: ``M`` or ``F``, matching the id's gender digit.
        birth_date: ISO date, matching the id's birth date.
        id_number: valid 18-digit resident id.
        region_code: the id's six-digit region code (the birth registration place).
        phone: current mobile number, 11 digits.
        address: current home address.
        district_code: region code of the district the address is in.
    """

    surname: str
    given: str
    gender: Gender
    birth_date: str
    id_number: str
    region_code: str
    phone: str
    address: str
    district_code: str

    @property
    def name(self) -> str:
        """The full hanzi name, surname first."""
        return self.surname + self.given


def format_address(district: District, road: str, number: int, estate: str, room: str) -> str:
    """Compose a Hainan street address, e.g. ``海南省海口市美兰区海府路12号金海花园3栋1502室``."""
    place = district.name if district.name else district.towns[0]
    return f"海南省{district.city}{place}{road}{number}号{estate}{room}"


_PLACE_PREFIX = {d.code: f"海南省{d.city}{d.name or d.towns[0]}" for d in DISTRICTS}


def _pick(rng: random.Random, options: Sequence[T]) -> T:
    # ``random()`` scaled is several times faster than ``choice`` and just as reproducible.
    return options[int(rng.random() * len(options))]


def _zipf(n: int, exponent: float = 1.0) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(n)))


class PopulationProfile(NamedTuple):
    """Who lives in a world other than the default population (``simulator.hainan``).

    Attributes:
        surnames: (surname, weight) pairs replacing ``tables.SURNAMES``.
        male_chars: given-name characters for men, most common first.
        female_chars: the same for women.
        heaped_before: birth years before this one may be heaped on a round date.
        heap_share: share of those people whose registered birth date is 1 January or 1 July
            (older rural registrations recorded an estimate).
    """

    surnames: tuple[tuple[str, float], ...]
    male_chars: str
    female_chars: str
    heaped_before: int
    heap_share: float


class IdentityFactory:
    """Draw synthetic identities and their parts from one random generator.

    Ids and phones are unique across everything one factory makes, unless a caller shares
    them on purpose (relatives, recycled numbers).
    """

    def __init__(self, rng: random.Random, profile: PopulationProfile | None = None) -> None:
        self._rng = rng
        self._profile = profile
        surnames = [*(SURNAMES if profile is None else profile.surnames), *COMPOUND_SURNAMES]
        self._surnames = [s for s, _ in surnames]
        self._surname_cum = list(itertools.accumulate(w for _, w in surnames))
        male = MALE_CHARS if profile is None else profile.male_chars
        female = FEMALE_CHARS if profile is None else profile.female_chars
        self._chars: dict[Gender, str] = {
            "M": "".join(dict.fromkeys(male)),
            "F": "".join(dict.fromkeys(female)),
        }
        self._char_cum = {g: _zipf(len(c)) for g, c in self._chars.items()}
        self._bigrams: dict[Gender, list[str]] = {
            g: [b for b, bg in GIVEN_BIGRAMS if bg == g] for g in ("M", "F")
        }
        self._used_ids: set[str] = set()
        self._used_phones: set[str] = set()

    @property
    def rng(self) -> random.Random:
        """The generator every draw comes from."""
        return self._rng

    def people(self, n: int) -> list[Identity]:
        """Make ``n`` unrelated people in bulk."""
        rng = self._rng
        surnames = rng.choices(self._surnames, cum_weights=self._surname_cum, k=n)
        genders: list[Gender] = ["M" if rng.random() < 0.5 else "F" for _ in range(n)]
        districts = rng.choices(DISTRICTS, k=n)
        births = [int(rng.random() * _BIRTH_SPAN) for _ in range(n)]
        if self._profile is not None:
            births = [self._heaped(birth, self._profile) for birth in births]
        out: list[Identity] = []
        for surname, gender, district, birth in zip(
            surnames, genders, districts, births, strict=True
        ):
            birth_date = dt.date.fromordinal(_BIRTH_FIRST + birth).isoformat()
            code = district.code
            out.append(
                Identity(  # positional: this line runs a million times for the speed benchmark
                    surname,
                    self.given_name(gender),
                    gender,
                    birth_date,
                    self.resident_id(code, birth_date, gender),
                    code,
                    self.phone(),
                    self.address(district),
                    code,
                )
            )
        return out

    def _heaped(self, birth: int, profile: PopulationProfile) -> int:
        date = dt.date.fromordinal(_BIRTH_FIRST + birth)
        if date.year >= profile.heaped_before or self._rng.random() >= profile.heap_share:
            return birth
        # Estimated dates went down as New Year's Day mostly, else mid-year.
        month = 1 if self._rng.random() < 0.7 else 7
        return dt.date(date.year, month, 1).toordinal() - _BIRTH_FIRST

    def claim_id(self, value: str) -> bool:
        """Reserve ``value`` as an id of this world; ``False`` when it is already taken."""
        if value in self._used_ids:
            return False
        self._used_ids.add(value)
        return True

    def given_name(self, gender: Gender) -> str:
        """A one- or two-character given name; common characters far more often."""
        r = self._rng.random
        roll = r()
        if roll < 0.07:
            return _pick(self._rng, self._bigrams[gender])
        chars, cum = self._chars[gender], self._char_cum[gender]
        total = cum[-1]
        first = chars[bisect.bisect(cum, r() * total)]
        return first if roll < 0.35 else first + chars[bisect.bisect(cum, r() * total)]

    def resident_id(self, region: str, birth: str, gender: Gender) -> str:
        """A valid, unused 18-digit id: region, birth date, sequence (odd for men), check."""
        rng = self._rng
        seq = int(rng.random() * 500) * 2 + (1 if gender == "M" else 0)
        while True:
            first17 = f"{region}{birth[:4]}{birth[5:7]}{birth[8:10]}{seq:03d}"
            value = first17 + resident_id_check_char(first17)
            if value not in self._used_ids:
                self._used_ids.add(value)
                return value
            seq = (seq + 2) % 1000

    def phone(self) -> str:
        """An unused 11-digit mobile number (13x, 15x, 18x, 19x)."""
        rng = self._rng
        while True:
            value = _pick(rng, MOBILE_PREFIXES) + f"{int(rng.random() * 100_000_000):08d}"
            if value not in self._used_phones:
                self._used_phones.add(value)
                return value

    def address(self, district: District | None = None) -> str:
        """A home address in ``district`` (a random Hainan district when ``None``)."""
        rng = self._rng
        r = rng.random
        place = district if district is not None else _pick(rng, DISTRICTS)
        return (
            f"{_PLACE_PREFIX[place.code]}{_pick(rng, ROADS)}{1 + int(r() * 399)}号"
            f"{_pick(rng, ESTATES)}{1 + int(r() * 30)}栋{1 + int(r() * 32)}{1 + int(r() * 6):02d}室"
        )

    def moved(self, person: Identity) -> Identity:
        """The same person after a move: a new phone and an address in another district."""
        district = _pick(self._rng, DISTRICTS)
        return person._replace(
            phone=self.phone(),
            address=self.address(district),
            district_code=district.code,
        )

    def namesake(self, person: Identity, *, same_birth_year: bool = False) -> Identity:
        """Someone else with exactly the same name (and gender); everything else differs."""
        other = self.people(1)[0]
        if same_birth_year:
            year = person.birth_date[:4]
            birth = year + other.birth_date[4:].replace("02-29", "02-28")
            other = other._replace(
                birth_date=birth,
                id_number=self.resident_id(other.region_code, birth, person.gender),
            )
        return other._replace(surname=person.surname, given=person.given, gender=person.gender)

    def relative(self, person: Identity) -> Identity:
        """A family member: same surname, home address and household phone; own name and id."""
        rng = self._rng
        gender: Gender = "M" if rng.random() < 0.5 else "F"
        given = self.given_name(gender)
        while given == person.given:
            given = self.given_name(gender)
        year = int(person.birth_date[:4]) + rng.choice((-28, -25, -3, -2, 2, 3, 25, 28))
        year = min(max(year, 1940), 2008)
        birth = f"{year:04d}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        return person._replace(
            given=given,
            gender=gender,
            birth_date=birth,
            id_number=self.resident_id(person.region_code, birth, gender),
        )


def district_of(code: str) -> District:
    """The district with region code ``code``."""
    return _DISTRICT_BY_CODE[code]
