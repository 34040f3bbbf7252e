"""Errors raised by the adapters, translated from third-party errors at the edge.

matchers.errors.TracerError
└── ConnectorError: an adapter failed
    ├── ServiceUnavailable: Kafka or Elasticsearch did not answer (retriable)
    ├── StackError: the local stack could not be fetched, started or stopped
    └── InputFileError: an input file is missing or unreadable
"""

from __future__ import annotations

from matchers.errors import TracerError

__all__ = ["ConnectorError", "InputFileError", "ServiceUnavailable", "StackError"]


class ConnectorError(TracerError):
    """An adapter to a service or a file failed."""


class ServiceUnavailable(ConnectorError):
    """A service did not answer in time; trying again later may help."""

    retriable = True


class StackError(ConnectorError):
    """The local Kafka/Elasticsearch stack could not be fetched, started or stopped."""


class InputFileError(ConnectorError):
    """An input file is missing or unreadable."""
