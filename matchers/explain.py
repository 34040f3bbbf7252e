"""Explanations: per-field contributions and one readable sentence in Chinese and English.

Built from the field modules' details (which mask numbers themselves); every text passes
through :func:`matchers.masking.redact_numbers` once more, so no full id, card or phone number
can reach a lead. Example reason::

    证件号一致（460***********7129）；同音不同字：张伟 / 张玮（zhang wei）；出生日期与身份证一致
    ID number identical (460***********7129); homophones: 张伟 / 张玮 (zhang wei); birth date
    agrees with the ID
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matchers.masking import redact_numbers
from matchers.scoring import FieldContribution

__all__ = ["Explanation", "explain"]

# The order officers read: the strongest identifiers first.
_ORDER = {"id_number": 0, "name": 1, "birth_date": 2, "gender": 3, "phone": 4, "address": 5}
# An agreement the exact id already implies is said as such, not counted twice.
_IMPLIED: dict[str, tuple[str, str]] = {
    "birth_date": ("出生日期与身份证一致", "birth date agrees with the ID"),
    "gender": ("性别与身份证一致", "gender agrees with the ID"),
}
# Fields weighing less than this either way are listed in ``fields`` but not in the sentence.
_MIN_SAID_WEIGHT = 1.0


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why a pair scored as it did.

    Attributes:
        reason_zh: one sentence in Chinese: the agreeing and disagreeing fields, strongest first.
        reason_en: the same in English.
        fields: every field's contribution (numbers masked), in reading order.
    """

    reason_zh: str
    reason_en: str
    fields: tuple[FieldContribution, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``explanation`` object of a lead document (weights rounded to 4 decimals)."""
        return {
            "reason_zh": self.reason_zh,
            "reason_en": self.reason_en,
            "fields": [
                {
                    "field": c.field,
                    "level": c.level,
                    "weight": round(c.weight, 4),
                    "detail_zh": c.detail_zh,
                    "detail_en": c.detail_en,
                }
                for c in self.fields
            ],
        }


def explain(contributions: Sequence[FieldContribution]) -> Explanation:
    """Turn a pair's contributions into readable reasons.

    Every field stays in ``fields``; the sentences say the fields that moved the score
    (at least one bit either way) and the agreements an exact id implies, strongest
    identifier first.

    Args:
        contributions: the pair's per-field contributions.

    Returns:
        The explanation.
    """
    ordered = sorted(contributions, key=lambda c: _ORDER.get(c.field, len(_ORDER)))
    safe = tuple(_safe(c) for c in ordered)
    present = [c for c in safe if c.level != "missing"]
    said = [c for c in present if c.implied or abs(c.weight) >= _MIN_SAID_WEIGHT] or present
    if not said:
        return Explanation("无可比较的字段", "no field could be compared", safe)
    zh = "；".join(_IMPLIED[c.field][0] if _is_implied(c) else c.detail_zh for c in said)
    en = "; ".join(_IMPLIED[c.field][1] if _is_implied(c) else c.detail_en for c in said)
    return Explanation(zh, en, safe)


def _is_implied(c: FieldContribution) -> bool:
    return c.implied and c.field in _IMPLIED


def _safe(c: FieldContribution) -> FieldContribution:
    zh, en = redact_numbers(c.detail_zh), redact_numbers(c.detail_en)
    if zh == c.detail_zh and en == c.detail_en:
        return c
    return FieldContribution(c.field, c.level, c.weight, zh, en, c.implied)
