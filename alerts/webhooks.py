"""Webhooks: the URL rule, the signed body, and the poster (pure parts tested by value).

URL rule (:func:`url_problem`): ``https`` only in production (``http`` too when the settings
allow it, for tests), no user info, at most 2,048 characters, and no loopback, private,
link-local, multicast or reserved address, nor ``localhost`` / ``*.local`` /
``*.internal``, unless the settings allow private targets (tests on loopback). A host name is
resolved again before each delivery and refused if any address is private
(:func:`resolved_problem`): a name that points inside later is caught too. Redirects are not
followed (a 3xx is a failure): a redirect could lead inside.

Body (:func:`webhook_body`): ``{"type": "lead.alert", "timestamp": ..., "data": notification}``
or, for a digest, ``"lead.alert.digest"`` with ``data.notifications`` (at most 100 a delivery).
Headers (:func:`signed_headers`): ``webhook-id`` (the notification id; a digest's is the uuid5 of
its notification ids, so a retried delivery keeps its id and the receiver can drop a repeat),
``webhook-timestamp``, ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of
``id.timestamp.body``, by the ``standardwebhooks`` package).

Statuses (:func:`classify_status`): 2xx delivered; 408, 425, 429, 5xx, a timeout or a refused
connection retried with backoff; any other status (a 3xx, 4xx) refused for good.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, Protocol
from urllib.parse import urlsplit

import orjson
from connectors.errors import ConnectorError, ServiceUnavailable
from standardwebhooks.webhooks import Webhook

from alerts.notifications import NOTIFICATION_NAMESPACE

__all__ = [
    "MAX_DIGEST_ITEMS",
    "AiohttpPoster",
    "Poster",
    "WebhookRefused",
    "classify_status",
    "delivery_id",
    "resolved_problem",
    "signed_headers",
    "url_problem",
    "webhook_body",
]

MAX_DIGEST_ITEMS: Final = 100
_MAX_URL: Final = 2048
_INNER_NAMES: Final = ("localhost", ".localhost", ".local", ".internal")

StatusOutcome = Literal["delivered", "retry", "refused"]


class WebhookRefused(ConnectorError):
    """The receiver answered with a status no retry cures (3xx, most 4xx)."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"webhook answered HTTP {status}")


def _inner_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def url_problem(  # noqa: PLR0911 - one return per rule, in the order of the docstring
    url: str, *, allow_http: bool = False, allow_private: bool = False
) -> str | None:
    """What is wrong with a webhook URL, or ``None``.

    Example:
        >>> url_problem("https://10.0.0.8/hook")
        'private or loopback address'
        >>> url_problem("https://hooks.example.org/x") is None
        True
    """
    if not isinstance(url, str) or len(url) > _MAX_URL:
        return f"at most {_MAX_URL} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a URL"
    del port
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        return "must be http or https" if allow_http else "must be https"
    host = (parts.hostname or "").lower()
    if not host:
        return "no host"
    if parts.username or parts.password:
        return "no user or password in the URL"
    if allow_private:
        return None
    if _inner_address(host) or host.endswith(_INNER_NAMES) or host == "localhost":
        return "private or loopback address"
    return None


async def resolved_problem(url: str, *, allow_private: bool) -> str | None:
    """Resolve the URL's host now; a problem if any address is private (or none resolves)."""
    if allow_private:
        return None
    parts = urlsplit(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except OSError:
        return "host does not resolve"
    if any(_inner_address(str(info[4][0])) for info in infos):
        return "resolves to a private or loopback address"
    return None


def delivery_id(notifications: Sequence[Mapping[str, Any]]) -> str:
    """The ``webhook-id`` of a delivery: the notification's id, or a digest's uuid5."""
    if len(notifications) == 1:
        return str(notifications[0]["notification_id"])
    ids = ",".join(sorted(str(n["notification_id"]) for n in notifications))
    return str(uuid.uuid5(NOTIFICATION_NAMESPACE, ids))


# Bookkeeping of the outbox and of delivery: nothing a receiver needs (a claim names a host).
_INTERNAL: Final = frozenset(
    {"published", "claimed_by", "claimed_at", "delivery_claimed_by", "delivery_claimed_at"}
)


def webhook_body(notifications: Sequence[Mapping[str, Any]], *, digest: bool, now: str) -> bytes:
    """The JSON body of one delivery (a digest holds at most :data:`MAX_DIGEST_ITEMS`)."""
    items = [{k: v for k, v in n.items() if k not in _INTERNAL} for n in notifications]
    if digest:
        data: Any = {"notifications": items[:MAX_DIGEST_ITEMS]}
        return orjson.dumps({"type": "lead.alert.digest", "timestamp": now, "data": data})
    return orjson.dumps({"type": "lead.alert", "timestamp": now, "data": items[0]})


def signed_headers(secret: str, message_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for ``body`` sent at ``at``."""
    signature = Webhook(secret).sign(message_id, at, body)
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def classify_status(status: int) -> StatusOutcome:
    """What a receiver's HTTP status means (see the module docstring)."""
    if 200 <= status < 300:
        return "delivered"
    if status in (408, 425, 429) or status >= 500:
        return "retry"
    return "refused"


class Poster(Protocol):
    """Posts one delivery; raises :class:`ServiceUnavailable` or :class:`WebhookRefused`."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Send ``body``; return once the receiver answered 2xx."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class AiohttpPoster:
    """Posts with :mod:`aiohttp` (already under Faust), no redirects, a hard timeout.

    Args:
        timeout_s: The whole request, connection included: a hanging receiver costs at most
            this per attempt, and only its own subscription's queue waits.
        allow_private: Skip the resolution check (tests on loopback).
    """

    def __init__(self, *, timeout_s: float, allow_private: bool = False) -> None:
        self._timeout_s = timeout_s
        self._allow_private = allow_private
        self._session: Any = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> None:
        """Send ``body``; 2xx returns, anything else raises (see the module docstring)."""
        import aiohttp  # noqa: PLC0415 - only a worker with webhooks pays for the import

        problem = await resolved_problem(url, allow_private=self._allow_private)
        if problem is not None:
            raise WebhookRefused(0) from None
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout_s)
            )
        try:
            async with self._session.post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                status = int(response.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ServiceUnavailable(f"webhook: {type(exc).__name__}") from exc
        outcome = classify_status(status)
        if outcome == "retry":
            raise ServiceUnavailable(f"webhook: HTTP {status}")
        if outcome == "refused":
            raise WebhookRefused(status)

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def now_utc() -> datetime:
    """The current time, UTC (injectable where it matters)."""
    return datetime.now(UTC)
