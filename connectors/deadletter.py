"""Dead-letter payloads: the original bytes of a message that could not be used, and why.

A dead letter carries everything an operator needs to replay or inspect the message: the
original value (base64, so any bytes survive JSON), the reason as a machine word, the stage
that gave up, and the origin (topic, partition, offset, key, timestamp). Building the payload
is a pure function; publishing it is the stream's business.

A dead letter is bounded: its encoded form never exceeds ``max_bytes`` (default
:data:`DEFAULT_MAX_DEAD_LETTER_BYTES`, far under the producer's 1,000,000-byte request limit), or
publishing it could fail for ever and stall its partition. An original too large to fit whole
is kept as a prefix (``value_truncated: true``) with its size and sha256; the whole bytes stay in
the source topic (its origin says where) for that topic's retention. A key over
:data:`MAX_KEY_BYTES` is kept the same way (``key_truncated``). Every other field is capped too,
so a payload of at least :data:`MIN_DEAD_LETTER_BYTES` always fits.

Example:
    >>> origin = MessageOrigin("feeds.bank", 2, 41, b"ev-1", 1700000000000)
    >>> payload = build_dead_letter(b"not json", reason="not_json_object", origin=origin)
    >>> payload["value_b64"], payload["partition"], payload["offset"], payload["value_truncated"]
    ('bm90IGpzb24=', 2, 41, False)
    >>> big = build_dead_letter(b"x" * 900_000, reason="oversized", origin=origin)
    >>> big["value_truncated"], big["value_size"], len(encode_dead_letter(big)) <= 128 * 1024
    (True, 900000, True)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any, Literal

import orjson

__all__ = [
    "DEFAULT_MAX_DEAD_LETTER_BYTES",
    "MAX_KEY_BYTES",
    "MIN_DEAD_LETTER_BYTES",
    "DeadLetterStage",
    "MessageOrigin",
    "build_dead_letter",
    "dead_letter_key",
    "decode_dead_letter",
    "encode_dead_letter",
    "kept_value",
    "original_value",
]

#: Where in the pipeline the message was given up on (``publish``: Kafka refused its output).
DeadLetterStage = Literal["validate", "match", "index", "roster", "publish", "alert"]

#: The default bound of an encoded dead letter: a whole 64 KiB event (``max_event_bytes``)
#: fits, base64 and all, and it is far under the producer's 1,000,000-byte request limit.
DEFAULT_MAX_DEAD_LETTER_BYTES = 128 * 1024
#: The smallest bound accepted: the capped fields below, fully escaped, take under 12 KB.
MIN_DEAD_LETTER_BYTES = 16 * 1024
#: Keys longer than this are kept as a prefix with their size and sha256.
MAX_KEY_BYTES = 1024

# Detail strings come from exception text; cap them so a pathological message cannot blow
# up the dead-letter record (and so no long echo of the payload ends up there). The reason
# and topic are capped for the same bound (a topic name is at most 249 characters in Kafka).
_MAX_DETAIL_CHARS = 500
_MAX_REASON_CHARS = 100
_MAX_TOPIC_CHARS = 255


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
    max_bytes: int = DEFAULT_MAX_DEAD_LETTER_BYTES,
) -> dict[str, Any]:
    """Build the dead-letter document for one message, at most ``max_bytes`` once encoded.

    Args:
        value: The original message value, byte for byte (``None`` for a tombstone).
        reason: A machine word saying why (``not_json_object``, ``oversized``, ...).
        origin: Topic, partition, offset, key and timestamp of the original message.
        stage: The pipeline stage that gave up on the message.
        detail: Optional human-readable detail (truncated; must not carry identities).
        max_bytes: The largest encoded payload (see the module docstring).

    Returns:
        A JSON-ready dict; :func:`encode_dead_letter` turns it into bytes.

    Raises:
        ValueError: ``max_bytes`` is below :data:`MIN_DEAD_LETTER_BYTES`.
    """
    if max_bytes < MIN_DEAD_LETTER_BYTES:
        raise ValueError(f"max_bytes must be at least {MIN_DEAD_LETTER_BYTES}")
    payload: dict[str, Any] = {
        "reason": reason[:_MAX_REASON_CHARS],
        "stage": stage,
        "detail": None if detail is None else detail[:_MAX_DETAIL_CHARS],
        "topic": origin.topic[:_MAX_TOPIC_CHARS],
        "partition": origin.partition,
        "offset": origin.offset,
        **_describe_key(origin.key),
        "timestamp_ms": origin.timestamp_ms,
        "value_b64": None,
        "value_size": 0 if value is None else len(value),
        "value_sha256": None if value is None else hashlib.sha256(value).hexdigest(),
        "value_truncated": False,
    }
    if value is not None:
        _keep_value(payload, value, max_bytes)
    return payload


def _keep_value(payload: dict[str, Any], value: bytes, max_bytes: int) -> None:
    """Put as much of ``value`` in ``payload`` as keeps it within ``max_bytes`` encoded."""
    # Base64 is plain ASCII (no JSON escapes): the string replaces ``null`` (4 bytes) with
    # its characters and two quotes, and ``true`` is a byte shorter than ``false``.
    room = max_bytes - len(encode_dead_letter(payload)) + 4 - 2
    if _b64_len(len(value)) <= room:
        payload["value_b64"] = base64.b64encode(value).decode("ascii")
        return
    kept = max(room, 0) // 4 * 3  # whole base64 quanta, no padding
    payload["value_b64"] = base64.b64encode(value[:kept]).decode("ascii")
    payload["value_truncated"] = True


def _b64_len(size: int) -> int:
    return 4 * ((size + 2) // 3)


def dead_letter_key(key: bytes | None) -> bytes | None:
    """Return the Kafka key to publish a dead letter under: the original, unless too long.

    A key over :data:`MAX_KEY_BYTES` becomes ``sha256:<hex>`` of it, so the dead letter stays
    bounded and equal keys still land on the same partition.

    Example:
        >>> dead_letter_key(b"ev-1")
        b'ev-1'
        >>> dead_letter_key(b"k" * 5000)[:7]
        b'sha256:'
    """
    if key is None or len(key) <= MAX_KEY_BYTES:
        return key
    return b"sha256:" + hashlib.sha256(key).hexdigest().encode("ascii")


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
        ValueError: ``value_b64`` is not valid base64, or holds only a prefix of the original
            (``value_truncated``: read the whole message from its origin, see :func:`kept_value`).
    """
    if payload.get("value_truncated"):
        raise ValueError("value truncated: the whole message is at its origin")
    return kept_value(payload)


def kept_value(payload: dict[str, Any]) -> bytes | None:
    """Return the value bytes the dead letter holds: the original, or its prefix if truncated.

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


def _describe_key(key: bytes | None) -> dict[str, Any]:
    # Keys are usually UTF-8 ids; keep them readable then, and lossless otherwise; a long one
    # as a prefix with its size and hash, like a long value.
    described: dict[str, Any] = {"key": None, "key_b64": None, "key_size": 0}
    if key is None:
        return described | {"key_sha256": None, "key_truncated": False}
    truncated = len(key) > MAX_KEY_BYTES
    described |= {
        "key_size": len(key),
        "key_sha256": hashlib.sha256(key).hexdigest() if truncated else None,
        "key_truncated": truncated,
    }
    if truncated:
        described["key_b64"] = base64.b64encode(key[:MAX_KEY_BYTES]).decode("ascii")
        return described
    try:
        described["key"] = key.decode("utf-8")
    except UnicodeDecodeError:
        described["key_b64"] = base64.b64encode(key).decode("ascii")
    return described
