r"""The lead document: pure, deterministic, identical for batch and stream.

``lead_id`` is ``uuid5(LEAD_NAMESPACE, f"{person_id}\x1f{source}\x1f{event_id}")``: the event's
source is part of the namespace, so a bank and a telecom event that happen to share an
``event_id`` never share a lead, and re-delivery and re-processing meet the same document.
``event_digest`` (:func:`event_digest`) is the sha256 of the event's canonical JSON: a
re-delivery of the same event carries the same digest, another event under the same id does not
(see docs/design.md, "Duplicates"). ``@timestamp`` is the event's ``occurred_at`` (never the
wall clock) and the score is rounded to 4 decimals, so the same inputs give the same bytes
through :func:`lead_bytes` (orjson, sorted keys).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from hashlib import sha1, sha256
from typing import Any

import orjson

from matchers.records import EventRecord, Person
from matchers.scoring.explain import Explanation
from matchers.scoring.score import PairScore

__all__ = [
    "LEAD_NAMESPACE",
    "before_trace",
    "build_lead",
    "event_digest",
    "lead_bytes",
    "lead_id",
]

# Fixed for ever: changing it would duplicate every lead already indexed.
LEAD_NAMESPACE = uuid.UUID("6f1c2a4e-8d3b-5e7f-9a10-2b4c6d8e0f13")
_NAMESPACE_BYTES = LEAD_NAMESPACE.bytes


def lead_id(person_id: str, source: str, event_id: str) -> str:
    """The deterministic id of the lead pairing a person with an event of a source.

    Args:
        person_id: the roster's person id.
        source: the event's source (``hukou`` / ``bank`` / ``telecom``).
        event_id: the feed's event id (unique within its source only).

    Returns:
        A uuid5 string; the unit separator keeps ``("a", "bank", "bc")`` and
        ``("ab", "bank", "c")`` apart.
    """
    # uuid.uuid5 by hand: the UUID object it builds costs more than the hash (stays interpreted
    # in the compiled build). The test holds it to uuid.uuid5.
    name = f"{person_id}\x1f{source}\x1f{event_id}"
    digest = bytearray(sha1(_NAMESPACE_BYTES + name.encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_digest(raw: Mapping[str, Any]) -> str:
    """The sha256 (hex) of an event's canonical JSON: every key sorted, at every depth.

    Two deliveries of the same event give the same digest whatever their key order or spacing;
    any change of content, unknown extra fields included, gives another.

    Example:
        >>> event_digest({"b": 1, "a": [2]}) == event_digest({"a": [2], "b": 1})
        True
    """
    try:
        canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        # What orjson cannot write (an integer beyond 64 bits, a lone surrogate: a parsed
        # feed never holds them, a caller's dict may) still gets a stable digest.
        canonical = json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()
    return sha256(canonical).hexdigest()


def before_trace(
    person: Person, event: EventRecord, lookback: dt.timedelta = dt.timedelta(0)
) -> bool:
    """Whether the event occurred before the person's trace window began.

    The window begins ``lookback`` before the ``status_changed_at`` of the person's
    ``dropped_out`` record (the bank account opened the month before the drop-out is the best
    lead there is). The stream, ``tracer reprocess`` and retro-matching apply this one rule
    with the same ``lookback`` (``TRACER_RETRO_DAYS``), so which of them saw the roster record
    first does not change the leads (docs/design.md, "Late drop-outs").
    """
    # Both are normalised ISO-8601 with an offset; only a pair that would make a lead gets here.
    occurred = dt.datetime.fromisoformat(event.occurred_at)
    return occurred < dt.datetime.fromisoformat(person.status_changed_at) - lookback


def build_lead(
    person: Person,
    event: EventRecord,
    scored: PairScore,
    explanation: Explanation,
    *,
    model_version: str,
    digest: str,
) -> dict[str, Any]:
    """Build the lead document of a scored pair (see docs/design.md, "The lead document").

    Args:
        person: the watchlist person.
        event: the event.
        scored: the pair's score; its tier must not be ``None``.
        explanation: the pair's explanation.
        model_version: the model's version.
        digest: the event's :func:`event_digest`.

    Returns:
        A JSON-ready dict; equal inputs give equal dicts.
    """
    return {
        "lead_id": lead_id(person.person_id, event.source, event.event_id),
        "person_id": person.person_id,
        "event_id": event.event_id,
        "source": event.source,
        "event_type": event.event_type,
        "occurred_at": event.occurred_at,
        "@timestamp": event.occurred_at,
        "score": round(scored.score, 4),
        "probability": round(scored.probability, 6),
        "tier": scored.tier,
        "status": "new",
        "district": person.district,
        "case_officer": person.case_officer,
        "person_name": person.name,
        "event_name": event.name,
        "explanation": explanation.to_dict(),
        "flags": list(event.flags),
        "model_version": model_version,
        "event_digest": digest,
    }


def lead_bytes(lead: dict[str, Any]) -> bytes:
    """Serialise a lead canonically (orjson, sorted keys, no trailing newline)."""
    return orjson.dumps(lead, option=orjson.OPT_SORT_KEYS)
