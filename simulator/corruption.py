"""How real feeds damage a person's fields: romanised names, homophones, broken ids, odd phones.

Each ``Corruptor`` method takes the true value and returns the damaged text together with the
machine word(s) naming what was done, so ``truth.jsonl`` can say which corruption an event got.

Example:
    >>> import random
    >>> c = Corruptor(random.Random(1))
    >>> c.id_number("460108199003071234", "masked")
    ('460108********1234', ('id_masked',))
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Literal

import opencc
from pypinyin import lazy_pinyin

from simulator.tables import (
    FEMALE_CHARS,
    HOMOPHONE_POOL,
    MALE_CHARS,
    SURNAME_READINGS,
    SURNAMES,
)

__all__ = [
    "ID_FORM_GROUP",
    "Corruptor",
    "DateForm",
    "IdForm",
    "IdGroup",
    "NameForm",
    "PhoneForm",
    "romanise",
    "surname_reading",
]

NameForm = Literal[
    "hanzi", "traditional", "homophone", "pinyin", "shape_alike", "dropped_char", "dialect"
]
IdForm = Literal["intact", "lower_x", "legacy15", "typo", "swap", "masked", "missing"]
IdGroup = Literal["present", "damaged", "masked", "missing"]
PhoneForm = Literal["plain", "plus86", "spaced", "dashed", "missing"]
DateForm = Literal["intact", "impossible", "missing"]

ID_FORM_GROUP: dict[IdForm, IdGroup] = {
    "intact": "present",
    "lower_x": "present",
    "legacy15": "present",
    "typo": "damaged",
    "swap": "damaged",
    "masked": "masked",
    "missing": "missing",
}

_S2T = opencc.OpenCC("s2t")
_pinyin_cache: dict[str, tuple[str, ...]] = {}


def _syllables(text: str) -> tuple[str, ...]:
    cached = _pinyin_cache.get(text)
    if cached is None:
        cached = tuple(lazy_pinyin(text))
        _pinyin_cache[text] = cached
    return cached


def surname_reading(surname: str) -> str:
    """The romanised surname as a bank or passport writes it (单 → shan, 曾 → zeng, 区 → ou)."""
    reading = SURNAME_READINGS.get(surname)
    if reading is not None:
        return reading
    return "".join(SURNAME_READINGS.get(c, _syllables(c)[0]) for c in surname)


def romanise(surname: str, given: str) -> tuple[str, tuple[str, ...]]:
    """The surname reading and the given name's syllables, lower case, without tones."""
    return surname_reading(surname), _syllables(given)


def _homophone_groups() -> dict[str, tuple[str, ...]]:
    pool = dict.fromkeys(MALE_CHARS + FEMALE_CHARS + HOMOPHONE_POOL)
    pool.update(dict.fromkeys(s for s, _ in SURNAMES))
    by_sound: dict[str, list[str]] = defaultdict(list)
    for char in pool:
        by_sound[_syllables(char)[0]].append(char)
    groups: dict[str, tuple[str, ...]] = {}
    for chars in by_sound.values():
        for char in chars:
            others = tuple(c for c in chars if c != char)
            if others:
                groups[char] = others
    return groups


class Corruptor:
    """Apply the damage a feed does to one field, drawing choices from one generator."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._homophones = _homophone_groups()

    def name(self, surname: str, given: str, form: NameForm) -> tuple[str, tuple[str, ...]]:
        """Render a name in ``form``; falls back to plain hanzi when the form changes nothing."""
        if form == "pinyin":
            return self.pinyin(surname, given)
        if form == "traditional":
            text = _S2T.convert(surname + given)
            if text != surname + given:
                return text, ("name_traditional",)
        if form == "homophone":
            text = self._homophone(surname, given)
            if text is not None:
                return text, ("name_homophone",)
        return surname + given, ()

    def pinyin(self, surname: str, given: str) -> tuple[str, tuple[str, ...]]:
        """Romanise in one of the styles feeds use: ZHANG WEI, WEI ZHANG, Zhangwei, ..."""
        rng = self._rng
        sur, syllables = romanise(surname, given)
        flags = ["name_pinyin"]
        if sur != "".join(_syllables(surname)):
            flags.append("name_polyphone_surname")
        giv = "".join(syllables) if rng.random() < 0.8 else " ".join(syllables)
        roll = rng.random()
        if roll < 0.45:
            text = f"{sur} {giv}".upper()
        elif roll < 0.65:
            text = f"{giv} {sur}".upper()
            flags.append("name_pinyin_reversed")
        elif roll < 0.8:
            text = (sur + giv.replace(" ", "")).capitalize()
            flags.append("name_pinyin_joined")
        elif roll < 0.92:
            text = f"{sur.capitalize()} {giv.capitalize()}"
        else:
            text = f"{giv.capitalize()} {sur.capitalize()}"
            flags.append("name_pinyin_reversed")
        return text, tuple(flags)

    def _homophone(self, surname: str, given: str) -> str | None:
        chars = list(surname + given)
        positions = [i for i, c in enumerate(chars) if c in self._homophones]
        if not positions:
            return None
        # Clerks mistype the given name far more often than the surname.
        given_positions = [i for i in positions if i >= len(surname)]
        pick = given_positions if given_positions and self._rng.random() < 0.85 else positions
        i = self._rng.choice(pick)
        chars[i] = self._rng.choice(self._homophones[chars[i]])
        return "".join(chars)

    def id_number(self, id18: str, form: IdForm) -> tuple[str | None, tuple[str, ...]]:
        """Damage an 18-digit id as ``form`` says; forms that cannot apply leave it intact."""
        if form == "missing":
            return None, ("id_missing",)
        damage = {
            "lower_x": self._lower_x,
            "legacy15": self._legacy15,
            "typo": self._typo,
            "swap": self._swap,
            "masked": self._mask,
        }.get(form)
        done = damage(id18) if damage is not None else None
        return done if done is not None else (id18, ())

    @staticmethod
    def _lower_x(id18: str) -> tuple[str, tuple[str, ...]] | None:
        return (id18[:17] + "x", ("id_lowercase_x",)) if id18.endswith("X") else None

    @staticmethod
    def _legacy15(id18: str) -> tuple[str, tuple[str, ...]] | None:
        # 15-digit ids were issued until 1999, so only people born in the 1900s have one.
        return (id18[:6] + id18[8:17], ("id_legacy15",)) if id18[6:8] == "19" else None

    def _typo(self, id18: str) -> tuple[str, tuple[str, ...]]:
        i = self._rng.randrange(17)
        digit = self._rng.choice([d for d in "0123456789" if d != id18[i]])
        return id18[:i] + digit + id18[i + 1 :], ("id_typo",)

    def _swap(self, id18: str) -> tuple[str, tuple[str, ...]]:
        spots = [i for i in range(16) if id18[i] != id18[i + 1]]
        i = self._rng.choice(spots)
        return id18[:i] + id18[i + 1] + id18[i] + id18[i + 2 :], ("id_swapped_digits",)

    def _mask(self, id18: str) -> tuple[str, tuple[str, ...]]:
        # Senders keep the region and the last four; some keep only the province and city.
        if self._rng.random() < 0.8:
            return id18[:6] + "*" * 8 + id18[14:], ("id_masked",)
        return id18[:4] + "*" * 10 + id18[14:], ("id_masked",)

    def phone(self, phone: str, form: PhoneForm) -> tuple[str | None, tuple[str, ...]]:
        """Format an 11-digit mobile number as senders do (+86, spaces, dashes)."""
        if form == "missing":
            return None, ("phone_missing",)
        if form == "plus86":
            sep = self._rng.choice(("", " ", "-"))
            return f"+86{sep}{phone}", ("phone_plus86",)
        if form == "spaced":
            return f"{phone[:3]} {phone[3:7]} {phone[7:]}", ("phone_spaced",)
        if form == "dashed":
            return f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", ("phone_dashed",)
        return phone, ()

    def birth_date(self, iso: str, form: DateForm) -> tuple[str | None, tuple[str, ...]]:
        """Keep, drop or make impossible (month 13, 30 February, day 00) an ISO birth date."""
        if form == "missing":
            return None, ("birth_date_missing",)
        if form == "impossible":
            year = iso[:4]
            bad = self._rng.choice((f"{year}-02-30", f"{year}-13-{iso[8:]}", f"{iso[:8]}00"))
            return bad, ("birth_date_impossible",)
        return iso, ()

    def wrong_birth_date(self, iso: str) -> str:
        """A plausible but wrong birth date, as a roster clerk might enter it."""
        rng = self._rng
        year, month, day = int(iso[:4]), int(iso[5:7]), int(iso[8:])
        roll = rng.random()
        if roll < 0.4 and day <= 12 and day != month:
            month, day = day, month
        elif roll < 0.7:
            year += rng.choice((-1, 1))
        else:
            day = day + rng.choice((-2, -1, 1, 2))
            day = min(max(day, 1), 28)
        return f"{year:04d}-{month:02d}-{day:02d}"
