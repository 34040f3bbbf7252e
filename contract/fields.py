"""Field names of the contract's envelopes, and which field keys which topic's messages.

Only the fields code reads by name across packages are here (the envelope and the keys);
the rest of a record's fields belong to the module that normalises them.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CASE_OFFICER",
    "DISTRICT",
    "ENVELOPE_FIELDS",
    "EVENT_ID",
    "LEAD_ID",
    "NAME",
    "OCCURRED_AT",
    "PERSON_ID",
    "ROSTER_REQUIRED_FIELDS",
    "SOURCE",
    "STATUS",
    "STATUS_CHANGED_AT",
]

#: A feed event's id, unique within its source; the feed topics' message key.
EVENT_ID: Final = "event_id"
#: A feed event's source (:data:`contract.values.Source`).
SOURCE: Final = "source"
#: When the event happened: ISO-8601 with an offset.
OCCURRED_AT: Final = "occurred_at"
#: What an event must carry to be read at all (else it is dead-lettered with the reason).
ENVELOPE_FIELDS: Final[tuple[str, ...]] = (EVENT_ID, SOURCE, OCCURRED_AT)

#: A watchlist person's id; the roster topic's message key (latest record wins).
PERSON_ID: Final = "person_id"
NAME: Final = "name"
#: The person's supervision status (:data:`contract.values.RosterStatus`).
STATUS: Final = "status"
STATUS_CHANGED_AT: Final = "status_changed_at"
#: What a roster record must carry to be applied (else the person keeps their last state).
ROSTER_REQUIRED_FIELDS: Final[tuple[str, ...]] = (PERSON_ID, NAME, STATUS, STATUS_CHANGED_AT)
#: The owning district and the case officer: access scoping, on the record and the lead.
DISTRICT: Final = "district"
CASE_OFFICER: Final = "case_officer"

#: A lead's id (uuid5 of person, source and event); the leads topic's message key.
LEAD_ID: Final = "lead_id"
