"""One way to call Elasticsearch from a request: retried briefly, errors translated.

A request must answer within seconds, so a call is retried through the one retrier
(``connectors.retry``) under a short deadline, then becomes ``ServiceUnavailable`` (a 503 page
saying which service is down). Errors are translated here, at the adapter, by
``connectors.elasticsearch.request_error`` (status and class name only: Elasticsearch's error
text can quote a document). 404 and 409 mean something to the caller and are raised as
:class:`Missing` and :class:`Conflict` first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from connectors.elasticsearch import request_error
from connectors.errors import ConnectorError
from connectors.retry import RetryPolicy, retry_call
from elasticsearch import ApiError, ConflictError, NotFoundError, TransportError

__all__ = ["REQUEST_POLICY", "Conflict", "Missing", "es_call"]

T = TypeVar("T")

#: A person waits at a page: a few quick retries, then a clear 503.
REQUEST_POLICY = RetryPolicy(base_s=0.1, cap_s=1.0, deadline_s=5.0, attempt_timeout_s=10.0)


class Missing(ConnectorError):
    """The document or index is not there (404)."""


class Conflict(ConnectorError):
    """Someone else wrote the document first (409: sequence number or create-only)."""


async def es_call(fn: Callable[[], Awaitable[T]], *, policy: RetryPolicy = REQUEST_POLICY) -> T:
    """Await ``fn()`` with retries; translate what Elasticsearch raises.

    Raises:
        Missing: 404.
        Conflict: 409.
        connectors.errors.RequestRejected: 400 / 413 (a bug of ours, never retried).
        connectors.errors.RetryGaveUp: Elasticsearch stayed unavailable past the deadline.
    """

    async def attempt() -> T:
        try:
            return await fn()
        except NotFoundError as exc:
            raise Missing("not found") from exc
        except ConflictError as exc:
            raise Conflict("version conflict") from exc
        except (ApiError, TransportError) as exc:
            raise request_error(exc) from exc

    return await retry_call(attempt, kind="index", policy=policy)
