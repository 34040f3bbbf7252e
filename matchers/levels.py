"""The shared vocabulary of field comparisons: agreement levels and what one comparison says.

Every field module's ``compare_*`` returns a :class:`FieldComparison`; scoring turns its level
into a match weight and the explanation quotes its details.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["LEVELS", "FieldComparison", "FieldName", "Level"]

Level = Literal["exact", "typo", "sound", "partial", "disagree", "missing"]
LEVELS: tuple[Level, ...] = ("exact", "typo", "sound", "partial", "disagree", "missing")

FieldName = Literal["name", "id_number", "birth_date", "gender", "phone", "address"]


@dataclass(frozen=True, slots=True)
class FieldComparison:
    """How one field of a watchlist person agrees with the same field of an event.

    Attributes:
        field: which field was compared.
        level: the agreement level; ``missing`` when either side lacks a usable value.
        detail_zh: what agreed or not, in Chinese, numbers masked.
        detail_en: the same in English.
        value_key: the normalised value that agreed (for term-frequency adjustment), or ``""``.
    """

    field: FieldName
    level: Level
    detail_zh: str
    detail_en: str
    value_key: str = ""
