"""The ``hainan`` feed mix: the messiness of Hainan's real registries, at realistic rates.

Turned on by ``SimulationConfig(mix="hainan")``; the default ``classic`` mix never calls this
module, so its worlds stay byte for byte what they were. What it adds:

- a population with Hainan's surnames (王 陈 李 林 吴 符 lead) and given-name characters
  (亚 妹 文 明 ...), and birth dates heaped on 1 January and 1 July for a share of people born
  before 1985 (older rural registrations recorded estimates): :data:`HAINAN_PROFILE`;
- true events whose id is exact while the name is off by a shape-alike character (王/玉), a
  dropped character or a homophone, with a new phone and address: :meth:`HainanStyle.name_variant`;
- bank customers who are overseas Chinese, their passport name in a dialect romanisation with a
  Wade-Giles given name (ONG CHIH-HAO): :meth:`HainanStyle.dialect_name`;
- ids as clerks and OCR write them (O for 0, l/I for 1, B for 8, full-width digits, spaces
  between region, date and sequence), bank masks 6+4, 4+4 and last 2, phones as 0086, birth
  dates as 1997年2月24日 or 1997/2/24, addresses without the province, with old place names,
  other building/room wording and full-width digits: :meth:`HainanStyle.restyle`;
- strangers with a roster person's name, birth date and county whose valid ids differ in two
  or three sequence digits: :meth:`HainanStyle.sequence_namesake` (decoy ``namesake_sequence``).

Every change is named by a machine word in the event's corruptions (``name_shape_alike``,
``id_ocr_letters``, ``address_old_name`` ...), so the benchmark can report by phenomenon.
"""

from __future__ import annotations

import random
from typing import Any, Final, Literal

from matchers.fields.name_variants import shape_alikes, surname_romanisations, wade_giles

from simulator.corruption import Corruptor, romanise
from simulator.population import (
    Identity,
    IdentityFactory,
    PopulationProfile,
    district_of,
    resident_id_check_char,
)
from simulator.tables import FEMALE_CHARS, MALE_CHARS, SURNAMES

__all__ = [
    "HAINAN_DECOY_SHARES",
    "HAINAN_PROFILE",
    "NAME_VARIANT_SHARE",
    "HainanStyle",
    "Mix",
]

Mix = Literal["classic", "hainan"]

# Hainan's surname shares (per 10,000) where they differ most from the national table: 王 and
# 陈 lead, 林 吴 符 邢 云 韩 are far more common than nationally (Hainan's 2020 census
# tables of surnames by county, as summarised in the provincial gazetteer).
_HAINAN_LIFT: Final[dict[str, float]] = {
    "王": 1100, "陈": 850, "李": 700, "林": 600, "吴": 500, "符": 450, "黄": 350, "张": 300,
    "周": 200, "郑": 180, "邢": 160, "何": 150, "冯": 150, "云": 120, "韩": 120, "蔡": 100,
    "梁": 100, "杨": 100, "刘": 100, "莫": 80, "许": 70, "卢": 60, "潘": 60, "谢": 60,
}  # fmt: skip
HAINAN_PROFILE: Final = PopulationProfile(
    surnames=tuple((s, _HAINAN_LIFT.get(s, w * 0.4)) for s, w in SURNAMES),
    # Older Hainan names: 亚 (a diminutive prefix), 妹, 文, 明, 春, 花, 琼 (Hainan itself).
    male_chars="文明亚德光家国清春" + MALE_CHARS,
    female_chars="妹亚花琼春英梅秀娇" + FEMALE_CHARS,
    heaped_before=1985,
    heap_share=0.25,
)
# Shares of the day's events (taken from the background share).
HAINAN_DECOY_SHARES: Final[dict[str, float]] = {"namesake_sequence": 0.005}
# Of the true events: the id exact, the name off by one character, the contacts new.
NAME_VARIANT_SHARE: Final = 0.06
_VARIANTS: Final = ("name_shape_alike", "name_dropped_char", "name_homophone")
_VARIANT_WEIGHTS: Final = (0.4, 0.3, 0.3)
_DIALECT_SHARE: Final = 0.12  # bank customers writing a passport name in a dialect
_DIALECTS: Final = ("hokkien", "hainanese", "cantonese", "teochew", "wade_giles")
_ID_STYLES: Final = ("id_ocr_letters", "id_fullwidth", "id_spaced")
_ID_STYLE_RATES: Final = (0.03, 0.02, 0.03)
_MASKS: Final = (("id_masked_6_4", 0.5), ("id_masked_4_4", 0.3), ("id_masked_last2", 0.2))
_PHONE_0086: Final = 0.06
_DATE_STYLES: Final = (("birth_date_cjk", 0.06), ("birth_date_slashes", 0.06))
_ADDRESS_RATES: Final = (
    ("address_no_province", 0.15),
    ("address_old_name", 0.3),  # of the addresses in a renamed place
    ("address_building_suffix", 0.08),
    ("address_fullwidth", 0.03),
)
# Current name -> the name older records still use (琼山市 became 琼山区 in 2002; 三亚's
# 河东区 and 河西区 became 吉阳区 and 天涯区 in 2014, 崖城镇 and 海棠湾镇 became districts).
_OLD_NAMES: Final = (
    ("海口市琼山区", "琼山市"),
    ("三亚市吉阳区", "三亚市河东区"),
    ("三亚市天涯区", "三亚市河西区"),
    ("三亚市崖州区", "三亚市崖城镇"),
    ("三亚市海棠区", "三亚市海棠湾镇"),
)
_OCR: Final = {"0": ("O",), "1": ("l", "I"), "8": ("B",)}
_FULLWIDTH: Final = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


class HainanStyle:
    """Apply the ``hainan`` mix's phenomena, drawing from the world's generator."""

    def __init__(self, factory: IdentityFactory, corruptor: Corruptor) -> None:
        self._factory = factory
        self._rng: random.Random = factory.rng
        self._corruptor = corruptor

    def name_variant(self, surname: str, given: str) -> tuple[str, str]:
        """A name off by one character; returns the text and the phenomenon's word."""
        rng = self._rng
        kind = rng.choices(_VARIANTS, weights=_VARIANT_WEIGHTS)[0]
        if kind == "name_shape_alike":
            text = self._shape_alike(surname, given)
            if text is not None:
                return text, kind
            kind = "name_dropped_char"
        if kind == "name_dropped_char" and len(given) == 2:
            return surname + given[rng.randrange(2)], kind
        text, flags = self._corruptor.name(surname, given, "homophone")
        return (text, "name_homophone") if flags else (surname + given, "name_unchanged")

    def _shape_alike(self, surname: str, given: str) -> str | None:
        chars = list(surname + given)
        spots = [i for i, c in enumerate(chars) if shape_alikes(c)]
        if not spots:
            return None
        i = self._rng.choice(spots)
        chars[i] = self._rng.choice(shape_alikes(chars[i]))
        return "".join(chars)

    def dialect_name(self, surname: str, given: str) -> tuple[str, tuple[str, ...]] | None:
        """A passport name: a dialect surname and a Wade-Giles given name.

        ``None`` when no dialect spelling is known or this customer writes pinyin.
        """
        rng = self._rng
        spellings = surname_romanisations(surname)
        if not spellings or rng.random() >= _DIALECT_SHARE:
            return None
        dialects = [d for d in _DIALECTS if d in spellings]
        dialect = rng.choice(dialects)
        sur = rng.choice(spellings[dialect])
        syllables = [wade_giles(s) for s in romanise(surname, given)[1]]
        giv = "-".join(syllables) if rng.random() < 0.6 else " ".join(syllables)
        roll = rng.random()
        if roll < 0.6:
            text = f"{sur} {giv}".upper()
        elif roll < 0.85:
            text = f"{sur.capitalize()} {giv.title()}"
        else:
            text = f"{giv} {sur}".upper()
        return text, (f"name_dialect_{dialect}", "name_wade_giles")

    def restyle(self, event: dict[str, Any], identity: Identity) -> list[str]:
        """Rewrite ``event``'s id, phone, birth date and address as clerks do; returns words."""
        flags: list[str] = []
        flags.extend(self._id(event, identity))
        phone = event.get("phone")
        if isinstance(phone, str) and phone.isdigit() and self._rng.random() < _PHONE_0086:
            event["phone"] = "0086" + self._rng.choice(("", " ", "-")) + phone
            flags.append("phone_0086")
        flags.extend(self._date(event))
        for field in ("address", "registered_address"):
            if isinstance(event.get(field), str):
                flags.extend(self._address(event, field))
        return flags

    def _id(self, event: dict[str, Any], identity: Identity) -> list[str]:
        rng = self._rng
        value = event.get("id_number")
        if not isinstance(value, str):
            return []
        if "*" in value:
            word = rng.choices([m for m, _ in _MASKS], weights=[w for _, w in _MASKS])[0]
            true = identity.id_number
            event["id_number"] = {
                "id_masked_6_4": true[:6] + "*" * 8 + true[14:],
                "id_masked_4_4": true[:4] + "*" * 10 + true[14:],
                "id_masked_last2": "*" * 16 + true[16:],
            }[word]
            return [word]
        if len(value) != 18:
            return []
        roll, floor = rng.random(), 0.0
        for word, rate in zip(_ID_STYLES, _ID_STYLE_RATES, strict=True):
            floor += rate
            if roll < floor:
                styled = self._styled_id(value, word)
                if styled != value:
                    event["id_number"] = styled
                    return [word]
                return []
        return []

    def _styled_id(self, value: str, word: str) -> str:
        if word == "id_fullwidth":
            return value.translate(_FULLWIDTH)
        if word == "id_spaced":
            return f"{value[:6]} {value[6:14]} {value[14:]}"
        spots = [i for i, c in enumerate(value) if c in _OCR]
        if not spots:
            return value
        chars = list(value)
        for i in self._rng.sample(spots, min(len(spots), 1 + (self._rng.random() < 0.3))):
            chars[i] = self._rng.choice(_OCR[chars[i]])
        return "".join(chars)

    def _date(self, event: dict[str, Any]) -> list[str]:
        value = event.get("birth_date")
        if not isinstance(value, str) or len(value) != 10 or not value[:4].isdigit():
            return []
        year, month, day = value[:4], value[5:7].lstrip("0"), value[8:].lstrip("0")
        roll, floor = self._rng.random(), 0.0
        for word, rate in _DATE_STYLES:
            floor += rate
            if roll < floor and month and day:
                sep = ("年", "月", "日") if word == "birth_date_cjk" else ("/", "/", "")
                event["birth_date"] = f"{year}{sep[0]}{month}{sep[1]}{day}{sep[2]}"
                return [word]
        return []

    def _address(self, event: dict[str, Any], field: str) -> list[str]:
        rng = self._rng
        text: str = event[field]
        flags: list[str] = []
        for word, rate in _ADDRESS_RATES:
            if rng.random() >= rate:
                continue
            changed = _address_style(text, word)
            if changed != text:
                text = changed
                flags.append(word)
        event[field] = text
        return flags

    def sequence_namesake(self, owner: Identity) -> Identity:
        """A stranger with ``owner``'s name, gender, birth date and county.

        The stranger's valid id differs from ``owner``'s in two or three sequence digits, the
        gender digit's parity kept.
        """
        rng, factory = self._rng, self._factory
        other = factory.people(1)[0]
        body = owner.id_number[:17]
        while True:
            digits = list(body)
            for i in rng.sample((14, 15, 16), 2 if rng.random() < 0.7 else 3):
                options = [d for d in "0123456789" if d != body[i]]
                if i == 16:  # odd for men, even for women
                    options = [d for d in options if int(d) % 2 == int(body[16]) % 2]
                digits[i] = rng.choice(options)
            first17 = "".join(digits)
            value = first17 + resident_id_check_char(first17)
            if factory.claim_id(value):
                break
        district = district_of(owner.district_code)
        return other._replace(
            surname=owner.surname,
            given=owner.given,
            gender=owner.gender,
            birth_date=owner.birth_date,
            id_number=value,
            region_code=owner.region_code,
            address=factory.address(district),
            district_code=owner.district_code,
        )


def _address_style(text: str, word: str) -> str:
    if word == "address_no_province":
        return text.removeprefix("海南省")
    if word == "address_old_name":
        for new, old in _OLD_NAMES:
            if new in text:
                return text.replace(new, old, 1)
        return text
    if word == "address_building_suffix":
        # 3栋1502室 -> 3号楼1502房: the same flat in another clerk's words.
        return text.replace("栋", "号楼", 1).replace("室", "房", 1)
    return text.translate(_FULLWIDTH)
