"""The root of every error tracer raises on purpose.

TracerError: root; ``retriable`` says whether trying again may help
├── InvalidRecord: (matchers) a record that cannot be used at all; ``reason`` says why
├── ModelFileError: (matchers) a model file with missing fields or out-of-bounds values
└── connectors.errors.ConnectorError: (connectors) a service or file adapter failed
"""

from __future__ import annotations

__all__ = ["InvalidRecord", "ModelFileError", "TracerError"]


class TracerError(Exception):
    """Root of tracer's own errors; the CLI turns any of them into a one-line message."""

    retriable: bool = False


class InvalidRecord(TracerError):
    """A record that cannot be used at all (not a JSON object, missing a required field...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ModelFileError(TracerError):
    """A match-model file that does not parse or whose parameters are out of bounds."""
