"""Typed records of the contract's Kafka messages (``../shared/contract.md``).

The feed agents read raw bytes (``value_serializer="raw"``) and validate them with
``matchers.records.parse_event_bytes`` themselves, so a malformed message can be dead-lettered
with its original bytes; Faust's own decoding would swallow it. These records are the typed view
of what a *valid* message holds: producers, tests and benchmarks build messages with them, and
:func:`feed_record` gives the typed record of a parsed event. Unknown extra fields are tolerated.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import faust

__all__ = [
    "FEED_RECORDS",
    "BankEvent",
    "FeedEvent",
    "HukouEvent",
    "RosterRecord",
    "RosterStatus",
    "Source",
    "TelecomEvent",
    "feed_record",
]

Source = Literal["hukou", "bank", "telecom"]
RosterStatus = Literal["active", "dropped_out", "located", "closed"]


class RosterRecord(faust.Record, serializer="json", include_metadata=False):
    """A watchlist person on ``supervision.roster`` (key: ``person_id``; latest wins)."""

    person_id: str
    name: str
    status: RosterStatus
    status_changed_at: str
    aliases: list[str] | None = None
    id_type: str = "cn_resident"
    id_number: str | None = None
    birth_date: str | None = None
    gender: str | None = None
    phones: list[str] | None = None
    addresses: list[str] | None = None
    district: str | None = None
    case_officer: str | None = None


class FeedEvent(faust.Record, serializer="json", include_metadata=False, abstract=True):
    """Fields common to every feed event (key: ``event_id``)."""

    event_id: str
    source: Source
    occurred_at: str
    name: str | None = None
    id_type: str | None = None
    id_number: str | None = None


class HukouEvent(FeedEvent, serializer="json", include_metadata=False):
    """A household-registration change on ``feeds.hukou``."""

    gender: str | None = None
    birth_date: str | None = None
    address: str | None = None
    region_code: str | None = None
    change_type: str | None = None


class BankEvent(FeedEvent, serializer="json", include_metadata=False):
    """A bank event on ``feeds.bank``."""

    bank_code: str | None = None
    phone: str | None = None
    card_number: str | None = None
    branch_address: str | None = None
    event_type: str | None = None


class TelecomEvent(FeedEvent, serializer="json", include_metadata=False):
    """A carrier event on ``feeds.telecom``."""

    carrier: str | None = None
    phone: str | None = None
    registered_address: str | None = None
    event_type: str | None = None


FEED_RECORDS: Final[dict[str, type[FeedEvent]]] = {
    "hukou": HukouEvent,
    "bank": BankEvent,
    "telecom": TelecomEvent,
}


def feed_record(event: dict[str, Any]) -> FeedEvent:
    """Return the typed record of a parsed, valid event (by its ``source``).

    Raises:
        KeyError: ``source`` is not one of the three feeds.
    """
    return FEED_RECORDS[str(event["source"])].from_data(event)
