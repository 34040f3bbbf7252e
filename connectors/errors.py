"""Errors raised by the adapters, translated from third-party errors at the edge.

matchers.errors.TracerError
└── ConnectorError: an adapter failed (``retriable`` says whether trying again may help)
    ├── ServiceUnavailable: Kafka or Elasticsearch did not answer in time (retriable)
    ├── PublishRejected: Kafka refused a message for good (``reason``: too large, ...)
    ├── RequestRejected: a service refused a whole request for good (``status``: 400, 413)
    ├── RetryGaveUp: a retry loop ended without success (stop requested, or its deadline)
    ├── StackError: the local stack could not be fetched, started or stopped
    ├── InputFileError: an input file is missing or unreadable
    ├── ReviewConflict: a lead changed since it was read (optimistic concurrency, HTTP 409)
    ├── LeadNotFound: no lead under that id in that district
    └── ClientConfigError: the client settings cannot make a client (a TLS file, a login)

The ``retriable`` flag drives :func:`connectors.retry.retry_call` (as aiokafka's sender reads
its errors' flag): an adapter translates a library failure into one of these leaves, and the
retry helper never guesses from the text. :func:`kafka_publish_error` is the translation of a
failed publish (aiokafka under Faust, or kafka-python), classified by the table below::

    too large      MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError
    invalid topic  InvalidTopicError
    not authorised TopicAuthorizationFailedError, ClusterAuthorizationFailedError, ...
    unserialisable TypeError / ValueError from the serialiser, InvalidRecordError, ...
    transient      KafkaTimeoutError, RequestTimedOutError, NotLeaderForPartitionError,
                   BrokerNotAvailableError, KafkaConnectionError, NodeNotReadyError,
                   UnknownTopicOrPartitionError (it may be created yet), OSError, TimeoutError,
                   and any Kafka error the library itself marks ``retriable``
    other          any other Kafka error: permanent (``publish_rejected``)
"""

from __future__ import annotations

from typing import Literal

from matchers.errors import TracerError

__all__ = [
    "ClientConfigError",
    "ConnectorError",
    "InputFileError",
    "LeadNotFound",
    "PublishRejectReason",
    "PublishRejected",
    "RequestRejected",
    "RetryGaveUp",
    "ReviewConflict",
    "ServiceUnavailable",
    "StackError",
    "is_retriable",
    "kafka_publish_error",
]

#: Why Kafka refused a message for good (dead-letter reasons are ``publish_rejected_<why>``).
PublishRejectReason = Literal[
    "too_large", "invalid_topic", "not_authorised", "unserialisable", "other"
]


class ConnectorError(TracerError):
    """An adapter to a service or a file failed."""

    retriable: bool = False


class ServiceUnavailable(ConnectorError):
    """A service did not answer in time; trying again later may help."""

    retriable = True


class PublishRejected(ConnectorError):
    """Kafka refused a message and will refuse it again (too large, bad topic, not allowed).

    Args:
        reason: The class of refusal, a closed set.
        error: The library error's class name (never its text: it may quote the message).
    """

    retriable = False

    def __init__(self, reason: PublishRejectReason, error: str) -> None:
        super().__init__(f"publish rejected ({reason}): {error}")
        self.reason: PublishRejectReason = reason
        self.error = error

    def __reduce__(self) -> tuple[type[PublishRejected], tuple[PublishRejectReason, str]]:
        # copy and pickle rebuild from these (aiokafka copies the error it fails futures with)
        return type(self), (self.reason, self.error)


class RequestRejected(ConnectorError):
    """A service refused a whole request and would refuse it again (bad or too large).

    Args:
        status: The HTTP status (400, 413).
    """

    retriable = False

    def __init__(self, status: int) -> None:
        super().__init__(f"request rejected: HTTP {status}")
        self.status = status

    def __reduce__(self) -> tuple[type[RequestRejected], tuple[int]]:
        return type(self), (self.status,)


class RetryGaveUp(ConnectorError):
    """A retry loop stopped trying: a stop was requested, or its deadline passed.

    Args:
        why: ``stopped`` (shutdown) or ``deadline``.
        attempts: How many attempts were made.
    """

    retriable = False

    def __init__(self, why: Literal["stopped", "deadline"], attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts ({why})")
        self.why: Literal["stopped", "deadline"] = why
        self.attempts = attempts

    def __reduce__(self) -> tuple[type[RetryGaveUp], tuple[Literal["stopped", "deadline"], int]]:
        return type(self), (self.why, self.attempts)


class StackError(ConnectorError):
    """The local Kafka/Elasticsearch stack could not be fetched, started or stopped."""


class InputFileError(ConnectorError):
    """An input file is missing or unreadable."""


class ReviewConflict(ConnectorError):
    """Someone wrote the lead after the caller read it: read it again, then decide again.

    Args:
        lead_id: The lead (a uuid, no personal data).
    """

    def __init__(self, lead_id: str) -> None:
        super().__init__(f"lead {lead_id} was changed by someone else since it was read")
        self.lead_id = lead_id

    def __reduce__(self) -> tuple[type[ReviewConflict], tuple[str]]:
        return type(self), (self.lead_id,)


class LeadNotFound(ConnectorError):
    """No lead under that id in that district (or the district has no leads at all).

    Args:
        lead_id: The lead (a uuid, no personal data).
    """

    def __init__(self, lead_id: str) -> None:
        super().__init__(f"lead {lead_id} not found")
        self.lead_id = lead_id

    def __reduce__(self) -> tuple[type[LeadNotFound], tuple[str]]:
        return type(self), (self.lead_id,)


class ClientConfigError(ConnectorError):
    """The settings cannot make a client: a TLS file missing or unreadable, a login missing.

    The message names the setting, never its value (a password may be one).
    """


def is_retriable(exc: BaseException) -> bool:
    """Return whether trying again may help, from the error's ``retriable`` flag only."""
    return bool(getattr(exc, "retriable", False))


# Class names, so the table holds for aiokafka and kafka-python alike (same names in both).
_PERMANENT: dict[str, PublishRejectReason] = {
    "MessageSizeTooLargeError": "too_large",
    "RecordTooLargeError": "too_large",
    "RecordListTooLargeError": "too_large",
    "InvalidTopicError": "invalid_topic",
    "TopicAuthorizationFailedError": "not_authorised",
    "ClusterAuthorizationFailedError": "not_authorised",
    "TransactionalIdAuthorizationFailed": "not_authorised",
    "TransactionalIdAuthorizationFailedError": "not_authorised",
    "AuthorizationError": "not_authorised",
    "AuthenticationFailedError": "not_authorised",
    "SaslAuthenticationFailed": "not_authorised",
    "SaslAuthenticationFailedError": "not_authorised",
    "InvalidRecordError": "unserialisable",
    "CorruptRecordException": "unserialisable",
    "CorruptRecordError": "unserialisable",
    "UnsupportedForMessageFormatError": "unserialisable",
    "InvalidTimestampError": "unserialisable",
}
_TRANSIENT = frozenset(
    {
        "KafkaTimeoutError",
        "RequestTimedOutError",
        "NotLeaderForPartitionError",
        "LeaderNotAvailableError",
        "BrokerNotAvailableError",
        "KafkaConnectionError",
        "KafkaUnavailableError",
        "NoBrokersAvailable",
        "NodeNotReadyError",
        "UnknownTopicOrPartitionError",
        "NotEnoughReplicasError",
        "NotEnoughReplicasAfterAppendError",
        "NetworkExceptionError",
    }
)


def kafka_publish_error(exc: BaseException) -> ConnectorError:
    """Translate the failure of one publish into :class:`ServiceUnavailable` or a rejection.

    Faust wraps aiokafka's error (``ProducerSendError`` from it), so the cause chain is read
    down to the library's error. Only class names reach the result, never the error's text.

    Example:
        >>> kafka_publish_error(TimeoutError()).retriable
        True
        >>> from aiokafka.errors import MessageSizeTooLargeError
        >>> kafka_publish_error(MessageSizeTooLargeError()).reason
        'too_large'
    """
    if isinstance(exc, ConnectorError):
        return exc
    for error in _cause_chain(exc):
        name = type(error).__name__
        if name in _PERMANENT:
            return PublishRejected(_PERMANENT[name], name)
        if name in _TRANSIENT or isinstance(error, OSError | TimeoutError):
            return ServiceUnavailable(f"publish failed: {name}")
    return _unlisted(_cause_chain(exc)[-1])


def _unlisted(root: BaseException) -> ConnectorError:
    """Classify an error the table does not name: the library's flag, else permanent."""
    name = type(root).__name__
    if _is_kafka_error(root) and is_retriable(root):
        return ServiceUnavailable(f"publish failed: {name}")
    # A non-Kafka error from a send is the serialiser's or ours: it would fail again.
    unserialisable = not _is_kafka_error(root) and isinstance(root, TypeError | ValueError)
    return PublishRejected("unserialisable" if unserialisable else "other", name)


def _cause_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _is_kafka_error(exc: BaseException) -> bool:
    return any(cls.__name__ == "KafkaError" for cls in type(exc).__mro__)
