"""Fail fast when nothing listens: a refused connection is not a service still starting.

Kafka's and Elasticsearch's clients treat every failure to connect alike and keep trying: a
command aimed at a port where nothing listens waited its whole timeout (three minutes for
``tracer stack init``) before saying anything. The operating system tells the two cases apart:
*connection refused* means no process listens at that address, and it will not start by itself
while we wait; a timeout (or a listener that answers but is not ready) may well pass.

:func:`require_listening` probes the addresses with plain TCP connects, tolerates refusals for a
short grace (a service restarting), and raises :class:`ConnectionRefused` once every address
kept refusing; anything else is left to the clients' own waiting. The probes are paced by the
project's one retry helper (:func:`connectors.retry.retry_call`, kind ``stack``: backoff with
jitter, the grace as its deadline). :class:`ConnectionRefused` is not ``retriable``: a retry loop
that meets it (``tracer stack init``) gives up at once. The addresses are pure values
(:func:`kafka_addresses`, :func:`url_address`), tested by value.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final, Literal
from urllib.parse import urlsplit

from connectors.errors import ConnectorError, RetryGaveUp, ServiceUnavailable
from connectors.retry import RetryPolicy, retry_call

__all__ = [
    "REFUSED_GRACE_S",
    "Address",
    "ConnectionRefused",
    "Reach",
    "ServiceName",
    "kafka_addresses",
    "probe",
    "require_listening",
    "url_address",
]

Address = tuple[str, int]
ServiceName = Literal["Kafka", "Elasticsearch"]
Reach = Literal["listening", "refused", "unknown"]
"""What one probe found: a listener somewhere, refusals everywhere, or neither (timeouts)."""

#: How long refusals are tolerated before giving up (a service restarting is back by then).
REFUSED_GRACE_S: Final = 3.0
#: The pause between two probes: from 0.25 s, at most 0.5 s (jittered), within the grace.
PROBE_PACE: Final = RetryPolicy(base_s=0.25, cap_s=0.5)


class ConnectionRefused(ServiceUnavailable):
    """Every address of a service refused the connection: nothing listens there.

    Not retriable, unlike its parent: the grace of :func:`require_listening` is spent, and no
    process starts by itself while a retry loop waits.

    Attributes:
        service: ``Kafka`` or ``Elasticsearch``.
        addresses: The ``host:port`` addresses tried.
    """

    def __init__(self, service: ServiceName, addresses: Sequence[Address]) -> None:
        self.service = service
        self.addresses = tuple(addresses)
        where = ", ".join(f"{host}:{port}" for host, port in self.addresses)
        super().__init__(f"{service} refused the connection at {where}: nothing listens there")

    retriable = False


def kafka_addresses(bootstrap: str) -> tuple[Address, ...]:
    """Return the ``(host, port)`` pairs of a bootstrap string (pure).

    Example:
        >>> kafka_addresses("127.0.0.1:9092, [::1]:9093,kafka")
        (('127.0.0.1', 9092), ('::1', 9093), ('kafka', 9092))
    """
    out = []
    for item in bootstrap.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or "]" in port:  # no port given (a bare name, or a bracketed IPv6 address)
            host, port = item.strip(), "9092"
        out.append((host.strip("[]") or "127.0.0.1", int(port)))
    return tuple(out)


def url_address(url: str) -> Address:
    """Return the ``(host, port)`` of an Elasticsearch URL (pure; port 9200 when not given).

    Example:
        >>> url_address("http://elastic:secret@127.0.0.1:9201/")
        ('127.0.0.1', 9201)
    """
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 9200


def probe(addresses: Sequence[Address], *, timeout_s: float = 1.0) -> Reach:
    """Try a TCP connection to each address; the one function here that does I/O."""
    refused = 0
    for host, port in addresses:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return "listening"
        except ConnectionRefusedError:
            refused += 1
        except OSError:  # a timeout, an unknown name, no route: may pass; the client waits
            pass
    return "refused" if addresses and refused == len(addresses) else "unknown"


def require_listening(
    service: ServiceName,
    addresses: Sequence[Address],
    *,
    grace_s: float = REFUSED_GRACE_S,
    check: Callable[[Sequence[Address]], Reach] = probe,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once something may answer; raise when every address kept refusing for ``grace_s``.

    For synchronous commands (it runs its own event loop): never call it from a running one.

    Raises:
        ConnectionRefused: nothing listens at any of the addresses.
    """

    async def attempt() -> None:
        if check(addresses) == "refused":
            raise _Refused()

    policy = RetryPolicy(base_s=PROBE_PACE.base_s, cap_s=PROBE_PACE.cap_s, deadline_s=grace_s)
    try:
        asyncio.run(
            retry_call(
                attempt,
                kind="stack",
                policy=policy,
                retriable=lambda exc: isinstance(exc, _Refused),
                sleep=sleep,
                clock=clock,
                log_level=logging.DEBUG,  # refusals in the grace are expected: no warning each
            )
        )
    except RetryGaveUp as exc:
        raise ConnectionRefused(service, addresses) from exc


class _Refused(ConnectorError):
    """One probe found every address refusing (tried again until the grace is spent)."""

    def __init__(self) -> None:
        super().__init__("every address refused the connection")
