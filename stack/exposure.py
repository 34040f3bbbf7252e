"""The local stack runs with security OFF: it must listen on loopback only.

Anyone who can reach an unauthenticated Kafka can publish a roster tombstone and untrace a
person, and anyone who can reach a security-off Elasticsearch can read every lead. So the
local stack refuses any bind address that is not loopback; the Docker stack (security on) is
the one to expose::

    refuse_exposure(StackConfig(stack_dir=..., kafka_host="0.0.0.0"))   # raises StackError
"""

from __future__ import annotations

import ipaddress
from typing import Final

from connectors.errors import StackError

from stack.layout import StackConfig

__all__ = ["is_loopback", "refuse_exposure"]

_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    """Tell whether ``host`` names the loopback interface (127.0.0.0/8, ::1, ``localhost``).

    A name other than localhost is not resolved: what it resolves to may change, and a name
    is what a mistake looks like (a machine's own name listens on every network it is on).
    """
    text = host.strip().strip("[]").lower()
    if text in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def refuse_exposure(config: StackConfig) -> None:
    """Raise unless both services of the local stack bind to loopback.

    Raises:
        StackError: a bind address is not loopback (the message names the setting to fix).
    """
    for service, host, setting in (
        ("Kafka", config.kafka_host, "TRACER_KAFKA_BOOTSTRAP"),
        ("Elasticsearch", config.elasticsearch_host, "TRACER_ELASTICSEARCH_URL"),
    ):
        if not is_loopback(host):
            raise StackError(
                f"refusing to start {service} on {host}: the local stack has no security and"
                f" listens on loopback only; set {setting} to a 127.0.0.1 address, or use the"
                " Docker stack (docker-compose.yml), which has security on"
            )
