"""Explanations: per-field contributions and one readable sentence in Chinese and English.

Built from the field modules' details (which mask numbers themselves); every text passes
through :func:`matchers.masking.redact_numbers` once more, so no full id, card or phone number
can reach a lead. Example reason::

    身份证号一致（4601**********7129）；姓名同音 张玮/张伟；出生日期与身份证一致
    ID number identical (4601**********7129); name sounds alike 张玮/张伟; birth date agrees ...
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
_IMPLIED_ZH = "（已由身份证号计入）"
_IMPLIED_EN = " (already counted by the ID number)"


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

    Fields whose level is ``missing`` stay in ``fields`` but are left out of the sentences;
    an agreement already counted by an exact id says so.

    Args:
        contributions: the pair's per-field contributions.

    Returns:
        The explanation.
    """
    ordered = sorted(contributions, key=lambda c: _ORDER.get(c.field, len(_ORDER)))
    safe = tuple(_safe(c) for c in ordered)
    said = [c for c in safe if c.level != "missing"]
    if not said:
        return Explanation("无可比较的字段", "no field could be compared", safe)
    zh = "；".join(c.detail_zh + (_IMPLIED_ZH if c.implied else "") for c in said)
    en = "; ".join(c.detail_en + (_IMPLIED_EN if c.implied else "") for c in said)
    return Explanation(zh, en, safe)


def _safe(c: FieldContribution) -> FieldContribution:
    zh, en = redact_numbers(c.detail_zh), redact_numbers(c.detail_en)
    if zh == c.detail_zh and en == c.detail_en:
        return c
    return FieldContribution(c.field, c.level, c.weight, zh, en, c.implied)
