"""What the pages show, computed from lead documents (pure, tested by value).

The waterfall reads an explanation's fields in order as steps from 0 to the lead's score: each
bar starts where the previous one ended, green when the field speaks for the match, red when
against; positions are percentages of the span between the lowest and highest running totals.

    >>> [round(r.end, 1) for r in waterfall([{"field": "name", "weight": 3.0},
    ...                                      {"field": "phone", "weight": -1.0}])]
    [3.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["FIELD_LABELS", "LEVEL_LABELS", "STATUS_LABELS", "WaterfallRow", "waterfall"]

FIELD_LABELS: Final = {
    "id_number": ("证件号", "ID number"),
    "name": ("姓名", "Name"),
    "birth_date": ("出生日期", "Birth date"),
    "gender": ("性别", "Gender"),
    "phone": ("电话", "Phone"),
    "address": ("地址", "Address"),
    "card_number": ("银行卡", "Card"),
}
LEVEL_LABELS: Final = {
    "exact": ("一致", "exact"),
    "typo": ("笔误", "typo"),
    "sound": ("音近", "sounds alike"),
    "partial": ("部分一致", "partial"),
    "disagree": ("不一致", "differs"),
    "missing": ("缺失", "missing"),
}
STATUS_LABELS: Final = {
    "new": ("新线索", "new"),
    "reviewing": ("核查中", "reviewing"),
    "confirmed": ("已确认", "confirmed"),
    "rejected": ("已排除", "rejected"),
    "closed": ("已关闭", "closed"),
}


@dataclass(frozen=True, slots=True)
class WaterfallRow:
    """One step of the waterfall: a field's contribution and where its bar sits (0-100)."""

    field: str
    level: str
    weight: float
    start: float
    end: float
    left_pct: float
    width_pct: float
    detail_zh: str
    detail_en: str


def waterfall(fields: Sequence[dict[str, Any]]) -> list[WaterfallRow]:
    """Turn ``explanation.fields`` into waterfall rows (running total from 0)."""
    totals, running = [0.0], 0.0
    for f in fields:
        running += _weight(f)
        totals.append(running)
    low, high = min(totals), max(totals)
    span = (high - low) or 1.0
    rows, running = [], 0.0
    for f in fields:
        weight = _weight(f)
        start, end = running, running + weight
        running = end
        rows.append(
            WaterfallRow(
                field=str(f.get("field", "")),
                level=str(f.get("level", "")),
                weight=weight,
                start=start,
                end=end,
                left_pct=round((min(start, end) - low) / span * 100, 2),
                width_pct=max(round(abs(weight) / span * 100, 2), 0.5),
                detail_zh=str(f.get("detail_zh", "")),
                detail_en=str(f.get("detail_en", "")),
            )
        )
    return rows


def _weight(field: dict[str, Any]) -> float:
    try:
        return float(field.get("weight") or 0.0)
    except (TypeError, ValueError):
        return 0.0
