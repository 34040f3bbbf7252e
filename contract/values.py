"""The contract's closed sets of values, each a ``Literal`` with its members as a tuple.

The tuples are derived from the types (``get_args``), so a member added to a type is in its
tuple too; mypy checks every place that assigns one of these.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "CLOSING_STATUSES",
    "EVENT_TYPES",
    "LEAD_STATUSES",
    "ROSTER_STATUSES",
    "SOURCES",
    "TIERS",
    "TIER_RANK",
    "TRACED_STATUS",
    "LeadStatus",
    "RosterStatus",
    "Source",
    "Tier",
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

Tier = Literal["high", "medium", "low"]
"""A lead's tier (``tier``): how strong its evidence is, strongest first."""
TIERS: Final[tuple[Tier, ...]] = get_args(Tier)
#: Each tier's rank, 1 the weakest: "this tier or stronger" is a rank at least this one's.
TIER_RANK: Final[dict[str, int]] = {tier: len(TIERS) - i for i, tier in enumerate(TIERS)}

#: Every event type of the feed contract: hukou ``change_type``, bank and telecom ``event_type``.
EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {
        "move_in",
        "move_out",
        "update",
        "new_registration",
        "account_opened",
        "card_issued",
        "contact_updated",
        "transaction",
        "sim_registered",
        "number_ported",
        "subscriber_updated",
    }
)
