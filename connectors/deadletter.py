"""Dead-letter payloads: the original bytes of a message that could not be used, and why.

A dead letter carries everything an operator needs to replay or inspect the message: the
original value (base64, so any bytes survive JSON), the reason as a machine word, the stage
that gave up, and the origin (topic, partition, offset, key, timestamp). Building the payload
is a pure function; publishing it is the stream's business.

Example:
    >>> origin = MessageOrigin("feeds.bank", 2, 41, b"ev-1", 1700000000000)
    >>> payload = build_dead_letter(b"not json", reason="not_json_object", origin=origin)
    >>> payload["value_b64"], payload["partition"], payload["offset"]
    ('bm90IGpzb24=', 2, 41)
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Literal

import orjson

__all__ = [
    "DeadLetterStage",
    "MessageOrigin",
    "build_dead_letter",
    "decode_dead_letter",
    "encode_dead_letter",
    "original_value",
]

#: Where in the pipeline the message was given up on.
DeadLetterStage = Literal["validate", "match", "index", "roster"]

# Detail strings come from exception text; cap them so a pathological message cannot blow
# up the dead-letter record (and so no long echo of the payload ends up there).
_MAX_DETAIL_CHARS = 500


@dataclass(frozen=True, slots=True)
class MessageOrigin:
    """Where a message came from: enough to find it again in Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    timestamp_ms: int | None = None


def build_dead_letter(
    value: bytes | None,
    *,
    reason: str,
    origin: MessageOrigin,
    stage: DeadLetterStage = "validate",
    detail: str | None = None,
) -> dict[str, Any]:
    """Build the dead-letter document for one message.

    Args:
        value: The original message value, byte for byte (``None`` for a tombstone).
        reason: A machine word saying why (``not_json_object``, ``oversized``, ...).
        origin: Topic, partition, offset, key and timestamp of the original message.
        stage: The pipeline stage that gave up on the message.
        detail: Optional human-readable detail (truncated; must not carry identities).

    Returns:
        A JSON-ready dict; :func:`encode_dead_letter` turns it into bytes.
    """
    key_text, key_b64 = _describe_key(origin.key)
    return {
        "reason": reason,
        "stage": stage,
        "detail": None if detail is None else detail[:_MAX_DETAIL_CHARS],
        "topic": origin.topic,
        "partition": origin.partition,
        "offset": origin.offset,
        "key": key_text,
        "key_b64": key_b64,
        "timestamp_ms": origin.timestamp_ms,
        "value_b64": None if value is None else base64.b64encode(value).decode("ascii"),
        "value_size": 0 if value is None else len(value),
    }


def encode_dead_letter(payload: dict[str, Any]) -> bytes:
    """Serialise a dead-letter payload to UTF-8 JSON bytes."""
    return orjson.dumps(payload)


def decode_dead_letter(data: bytes) -> dict[str, Any]:
    """Parse dead-letter bytes back into the payload dict.

    Raises:
        ValueError: The bytes are not a dead-letter JSON object.
    """
    payload = orjson.loads(data)
    if not isinstance(payload, dict) or "reason" not in payload:
        raise ValueError("not a dead-letter payload")
    return payload


def original_value(payload: dict[str, Any]) -> bytes | None:
    """Recover the original message bytes from a dead-letter payload.

    Raises:
        ValueError: ``value_b64`` is not valid base64.
    """
    encoded = payload.get("value_b64")
    if encoded is None:
        return None
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("value_b64 is not base64") from exc


def _describe_key(key: bytes | None) -> tuple[str | None, str | None]:
    # Keys are usually UTF-8 ids; keep them readable then, and lossless otherwise.
    if key is None:
        return None, None
    try:
        return key.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, base64.b64encode(key).decode("ascii")
