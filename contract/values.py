"""The contract's closed sets of values, each a ``Literal`` with its members as a tuple.

The tuples are derived from the types (``get_args``), so a member added to a type is in its
tuple too; mypy checks every place that assigns one of these.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "CLOSING_STATUSES",
    "LEAD_STATUSES",
    "ROSTER_STATUSES",
    "SOURCES",
    "TRACED_STATUS",
    "LeadStatus",
    "RosterStatus",
    "Source",
]

Source = Literal["hukou", "bank", "telecom"]
"""Which feed an event comes from (its ``source`` field; ``feeds.<source>`` carries it)."""
SOURCES: Final[tuple[Source, ...]] = get_args(Source)

RosterStatus = Literal["active", "dropped_out", "located", "closed"]
"""A watchlist person's supervision status (the roster record's ``status``)."""
ROSTER_STATUSES: Final[tuple[RosterStatus, ...]] = get_args(RosterStatus)

#: Only people of this status are traced: their events can make leads.
TRACED_STATUS: Final[RosterStatus] = "dropped_out"
#: Statuses that end a trace: the person's open leads are closed, new ones written closed.
CLOSING_STATUSES: Final[frozenset[RosterStatus]] = frozenset({"located", "closed"})

LeadStatus = Literal["new", "reviewing", "confirmed", "rejected", "closed"]
"""A lead's review state (``status``): ``new`` when written; ``closed`` by the officers or
when the person leaves the trace."""
LEAD_STATUSES: Final[tuple[LeadStatus, ...]] = get_args(LeadStatus)
