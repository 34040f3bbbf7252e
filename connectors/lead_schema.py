"""What a lead message must look like before the worker indexes it.

Anyone who can publish to the ``leads`` topic could otherwise write any document into the
officers' index: a lead for another person under a chosen id, review state (``status:
confirmed``), a megabyte of text. :func:`lead_problem` holds a decoded lead to the shape
``matchers.leads.build_lead`` writes: known fields only, each of its type and size, closed sets
for ``source`` / ``tier``, ``status`` ``new`` (review state is the review service's alone), and
``lead_id`` equal to the id derived from person, source and event, so a message cannot aim at
another lead's document. Pure; it names the field and the rule, never the value::

    lead_problem(lead)      # -> None, or e.g. "tier: not one of high, medium, low"
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from matchers.leads import lead_id as derived_lead_id

__all__ = ["LEAD_FIELDS", "lead_problem"]

_SOURCES: Final = ("hukou", "bank", "telecom")
_TIERS: Final = ("high", "medium", "low")
_ID_MAX: Final = 256
_TEXT_MAX: Final = 512
_REASON_MAX: Final = 8192
_FLAGS_MAX: Final = 64
_CONTRIBUTIONS_MAX: Final = 64
_SCORE_BOUND: Final = 1000.0

Check = Callable[[Any], str | None]


def _text(max_len: int, *, required: bool = False) -> Check:
    def check(value: Any) -> str | None:
        if value is None:
            return "missing" if required else None
        if not isinstance(value, str):
            return "not a string"
        if required and not value.strip():
            return "empty"
        return f"longer than {max_len}" if len(value) > max_len else None

    return check


def _one_of(*allowed: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"not one of {', '.join(allowed)}"

    return check


def _number(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "not a number"
        if not math.isfinite(value) or not low <= value <= high:
            return f"outside {low:g}..{high:g}"
        return None

    return check


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 40:
        return "not an ISO-8601 time"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return "not an ISO-8601 time"
    return "has no UTC offset" if parsed.tzinfo is None else None


def _hex_digest(value: Any) -> str | None:
    if value is None:
        return None
    ok = isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
    return None if ok else "not a sha256 hex digest"


def _flags(value: Any) -> str | None:
    if not isinstance(value, list) or len(value) > _FLAGS_MAX:
        return f"not a list of at most {_FLAGS_MAX}"
    bad = [flag for flag in value if not isinstance(flag, str) or len(flag) > 64]
    return "holds an item that is not a short string" if bad else None


def _boolean(value: Any) -> str | None:
    return None if value is None or isinstance(value, bool) else "not a boolean"


_CONTRIBUTION: Final[Mapping[str, Check]] = {
    "field": _text(64, required=True),
    "level": _text(64, required=True),
    "weight": _number(-_SCORE_BOUND, _SCORE_BOUND),
    "detail_zh": _text(_TEXT_MAX),
    "detail_en": _text(_TEXT_MAX),
}


def _explanation(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "not an object"
    extra = sorted(set(value) - {"reason_zh", "reason_en", "fields"})
    if extra:
        return f"unknown field {extra[0]}"
    for key in ("reason_zh", "reason_en"):
        if problem := _text(_REASON_MAX)(value.get(key)):
            return f"{key}: {problem}"
    fields = value.get("fields", [])
    if not isinstance(fields, list) or len(fields) > _CONTRIBUTIONS_MAX:
        return f"fields: not a list of at most {_CONTRIBUTIONS_MAX}"
    for item in fields:
        if problem := _object_problem(item, _CONTRIBUTION):
            return f"fields: {problem}"
    return None


#: Every field a lead message may carry (``build_lead``'s, and lead document v2's machine
#: fields), with its rule. Another field is refused: it would be stored as written.
LEAD_FIELDS: Final[Mapping[str, Check]] = {
    "lead_id": _text(64, required=True),
    "person_id": _text(_ID_MAX, required=True),
    "event_id": _text(_ID_MAX, required=True),
    "source": _one_of(*_SOURCES),
    "event_type": _text(64),
    "occurred_at": _timestamp,
    "@timestamp": _timestamp,
    "score": _number(-_SCORE_BOUND, _SCORE_BOUND),
    "probability": _number(0.0, 1.0),
    "tier": _one_of(*_TIERS),
    # A message may only propose a new lead: review state is written by the review service.
    "status": _one_of("new"),
    "district": _text(_TEXT_MAX),
    "case_officer": _text(_TEXT_MAX),
    "person_name": _text(_TEXT_MAX),
    "event_name": _text(_TEXT_MAX),
    "explanation": _explanation,
    "flags": _flags,
    "model_version": _text(128, required=True),
    "event_digest": _hex_digest,
    "run_id": _text(128),
    "machine_updated_at": lambda v: None if v is None else _timestamp(v),
    "qualifies": _boolean,
}

_REQUIRED: Final = frozenset(
    {"lead_id", "person_id", "event_id", "source", "occurred_at", "@timestamp", "score", "tier"}
    | {"status", "explanation", "model_version"}
)


def _object_problem(value: Any, rules: Mapping[str, Check]) -> str | None:
    if not isinstance(value, dict):
        return "not an object"
    unknown = sorted(set(value) - set(rules))
    if unknown:
        return f"unknown field {unknown[0][:64]!r}"
    for key, check in rules.items():
        if (problem := check(value.get(key))) is not None:
            return f"{key}: {problem}"
    return None


def lead_problem(lead: Mapping[str, Any]) -> str | None:
    """Return what is wrong with a decoded lead message, or ``None`` when it may be indexed.

    The answer names a field and a rule (``"tier: not one of high, medium, low"``), never a
    value: it goes into dead letters and logs.
    """
    missing = sorted(_REQUIRED - set(lead))
    if missing:
        return f"{missing[0]}: missing"
    if (problem := _object_problem(dict(lead), LEAD_FIELDS)) is not None:
        return problem
    expected = derived_lead_id(lead["person_id"], lead["source"], lead["event_id"])
    if lead["lead_id"] != expected:
        return "lead_id: not the id of its person, source and event"
    return None
