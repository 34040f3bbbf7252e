"""What really happened: which event is about which watchlisted person, and which lines are bad.

One ``truth.jsonl`` line per event that is truly about a roster person (``kind: match``) and per
malformed line (``kind: malformed``). Fields:

- ``line``: 1-based line number in ``events.jsonl`` (malformed lines may lack an ``event_id``).
- ``event_id``: the event's id, ``null`` when the line has none.
- ``kind``: ``match`` or ``malformed``.
- ``person_id``: the roster person the event is about (``null`` for malformed lines).
- match only: ``person_status`` (the roster status), ``source``, ``name_form``
  (``hanzi | traditional | homophone | pinyin``), ``id_form`` (``intact | lower_x | legacy15 |
  typo | swap | masked | missing``), ``id_group`` (``present | damaged | masked | missing``),
  ``moved`` (the person moved and changed phone since the roster was written), ``corruptions``
  (machine words for each damage done to the event) and ``roster_flags`` (what is off in the
  person's roster record); in the ``hainan`` mix also ``evidence_beyond_name`` (the event
  carries an id, phone, address or birth date that agrees with the roster: what a matcher
  that never leads on a name alone can at best find).
- malformed only: ``reason`` (``missing_event_id | missing_source | missing_occurred_at |
  not_an_object | invalid_json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from simulator.feeds import DamagePlan, Source

__all__ = ["EventKind", "MalformedReason", "SimEvent", "truth_records"]

EventKind = Literal[
    "match",
    "relative",
    "namesake",
    "recycled_phone",
    "namesake_same_dob",
    "recycled_phone_common_name",
    "relative_shared_household",
    "masked_id_collision",
    "namesake_sequence",
    "background",
    "malformed",
]
MalformedReason = Literal[
    "missing_event_id", "missing_source", "missing_occurred_at", "not_an_object", "invalid_json"
]


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One line of ``events.jsonl`` with what the generator knows about it.

    Attributes:
        occurred_at: ordering key (also for malformed lines that do not carry it).
        event_id: the event's id as generated (even when the line does not carry it).
        payload: a JSON object to write, or a raw line (``str``) to write verbatim.
        kind: what the event really is.
        source: the feed it came from.
        person_id: the roster person it is truly about (``match``), the roster person it
            imitates (``relative``, ``namesake``, ``recycled_phone`` and the hard decoys of
            :mod:`simulator.hard`), else ``None``.
        plan: the damage drawn for it (``None`` for malformed lines).
        corruptions: machine words for each damage done.
        reason: why a malformed line is malformed.
        evidence: whether a true event carries something beyond the name that agrees with the
            roster (``hainan`` mix only; ``None`` keeps the classic truth lines as they were).
    """

    occurred_at: str
    event_id: str
    payload: dict[str, Any] | str
    kind: EventKind
    source: Source
    person_id: str | None = None
    plan: DamagePlan | None = None
    corruptions: tuple[str, ...] = ()
    reason: MalformedReason | None = None
    evidence: bool | None = None


def truth_records(
    events: list[SimEvent], person_info: Mapping[str, tuple[str, bool, tuple[str, ...]]]
) -> list[dict[str, Any]]:
    """The truth lines for ``events`` in file order.

    Args:
        events: events in the order they are written (line ``i + 1``).
        person_info: ``person_id`` → (status, moved, roster flags).
    """
    out: list[dict[str, Any]] = []
    for line, event in enumerate(events, start=1):
        if event.kind == "malformed":
            carried = isinstance(event.payload, dict) and "event_id" in event.payload
            out.append(
                {
                    "line": line,
                    "event_id": event.event_id if carried else None,
                    "kind": "malformed",
                    "person_id": None,
                    "reason": event.reason,
                }
            )
        elif event.kind == "match" and event.person_id is not None and event.plan is not None:
            status, moved, roster_flags = person_info[event.person_id]
            out.append(
                {
                    "line": line,
                    "event_id": event.event_id,
                    "kind": "match",
                    "person_id": event.person_id,
                    "person_status": status,
                    "source": event.source,
                    "name_form": event.plan.name,
                    "id_form": event.plan.id_number,
                    "id_group": event.plan.id_group,
                    "moved": moved,
                    "corruptions": list(event.corruptions),
                    "roster_flags": list(roster_flags),
                }
            )
            if event.evidence is not None:
                out[-1]["evidence_beyond_name"] = event.evidence
    return out
