"""The root of every error tracer raises on purpose, and the closed set of rejection reasons.

TracerError: root; ``retriable`` says whether trying again may help
├── InvalidRecord: (matchers) a record that cannot be used at all; ``reason`` says why
├── ModelFileError: (matchers) a model file with missing fields or out-of-bounds values
└── connectors.errors.ConnectorError: (connectors) a service or file adapter failed

Why a record is rejected is a machine word out of :data:`Reason`, declared here once: it keys
the dead-letter counters (a closed set keeps them bounded) and reaches logs and dead letters,
so it never carries a field's value (a misplaced id number must not end up in a log line).
What may help an operator beside it goes in ``detail``: a field name, a byte offset, a type
name, a size; never text taken from the record.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = ["REASONS", "InvalidRecord", "ModelFileError", "Reason", "TracerError"]

#: Why a message or record cannot be used (the dead letter's ``reason``).
Reason = Literal[
    # the bytes and their shape
    "oversized",
    "not_utf8",
    "not_json",
    "not_object",
    "too_deep",
    # the event envelope
    "missing_event_id",
    "bad_event_id",
    "missing_source",
    "unknown_source",
    "missing_occurred_at",
    "bad_occurred_at",
    "occurred_at_out_of_window",
    # the roster record
    "missing_person_id",
    "bad_person_id",
    "missing_name",
    "bad_name",
    "missing_status",
    "unknown_status",
    "missing_status_changed_at",
    "bad_status_changed_at",
    "tombstone_without_key",
]
#: Every :data:`Reason`, for counters and tests.
REASONS: Final[frozenset[str]] = frozenset(get_args(Reason))


class TracerError(Exception):
    """Root of tracer's own errors; the CLI turns any of them into a one-line message."""

    retriable: bool = False


class InvalidRecord(TracerError):
    """A record that cannot be used at all (not a JSON object, missing a required field...).

    Args:
        reason: why, a word out of :data:`Reason`.
        detail: safe structure beside it (a field or type name, an offset, a size), never a
            value taken from the record.
    """

    def __init__(self, reason: Reason, detail: str | None = None) -> None:
        super().__init__(reason if detail is None else f"{reason} ({detail})")
        self.reason: Reason = reason
        self.detail = detail


class ModelFileError(TracerError):
    """A match-model file that does not parse or whose parameters are out of bounds."""
