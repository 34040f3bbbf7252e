import base64
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.deadletter import (
    DEFAULT_MAX_DEAD_LETTER_BYTES,
    MAX_KEY_BYTES,
    MIN_DEAD_LETTER_BYTES,
    MessageOrigin,
    build_dead_letter,
    dead_letter_key,
    decode_dead_letter,
    encode_dead_letter,
    kept_value,
    original_value,
)

ORIGIN = MessageOrigin("feeds.bank", 3, 1207, b"ev-42", 1_700_000_000_123)


def test_payload_by_value() -> None:
    payload = build_dead_letter(b'["a list"]', reason="not_json_object", origin=ORIGIN)
    assert payload == {
        "reason": "not_json_object",
        "stage": "validate",
        "detail": None,
        "topic": "feeds.bank",
        "partition": 3,
        "offset": 1207,
        "key": "ev-42",
        "key_b64": None,
        "key_size": 5,
        "key_sha256": None,
        "key_truncated": False,
        "timestamp_ms": 1_700_000_000_123,
        "value_b64": base64.b64encode(b'["a list"]').decode(),
        "value_size": 10,
        "value_sha256": hashlib.sha256(b'["a list"]').hexdigest(),
        "value_truncated": False,
    }


@pytest.mark.parametrize(
    "value",
    [b"\xff\xfe not utf-8", b"", b"{}" * 40_000, bytes(range(256))],
)
def test_original_bytes_survive_the_round_trip(value: bytes) -> None:
    payload = build_dead_letter(value, reason="r", origin=ORIGIN)
    assert original_value(decode_dead_letter(encode_dead_letter(payload))) == value


def test_binary_key_is_kept_losslessly() -> None:
    origin = MessageOrigin("feeds.hukou", 0, 0, b"\xff\x00", None)
    payload = build_dead_letter(b"x", reason="not_utf8", origin=origin)
    assert payload["key"] is None
    assert base64.b64decode(payload["key_b64"]) == b"\xff\x00"


def test_tombstone_and_missing_key() -> None:
    origin = MessageOrigin("feeds.hukou", 1, 5)
    payload = build_dead_letter(None, reason="tombstone", origin=origin)
    assert payload["value_b64"] is None
    assert payload["value_size"] == 0
    assert payload["key"] is None and payload["key_b64"] is None
    assert original_value(payload) is None


def test_detail_is_truncated_and_stage_recorded() -> None:
    payload = build_dead_letter(
        b"{}", reason="mapper_parsing_exception", origin=ORIGIN, stage="index", detail="x" * 5000
    )
    assert payload["stage"] == "index"
    assert len(payload["detail"]) == 500


def test_decode_rejects_foreign_payloads() -> None:
    with pytest.raises(ValueError):
        decode_dead_letter(b'{"hello": 1}')
    with pytest.raises(ValueError):
        original_value({"value_b64": "***"})


# --- bounded: a dead letter never exceeds its limit, whatever the message -------------------


def test_a_900_kb_event_is_kept_as_a_prefix_with_its_size_and_hash() -> None:
    value = bytes(range(256)) * 3516  # 900,096 bytes
    payload = build_dead_letter(value, reason="oversized", origin=ORIGIN)
    encoded = encode_dead_letter(payload)
    assert len(encoded) <= DEFAULT_MAX_DEAD_LETTER_BYTES
    assert payload["value_truncated"] is True
    assert payload["value_size"] == 900_096
    assert payload["value_sha256"] == hashlib.sha256(value).hexdigest()
    prefix = kept_value(decode_dead_letter(encoded))
    assert prefix is not None and value.startswith(prefix)
    # As much as fits: one more base64 quantum (3 bytes, 4 characters) would not.
    assert len(encoded) + 4 > DEFAULT_MAX_DEAD_LETTER_BYTES
    with pytest.raises(ValueError, match="truncated"):
        original_value(payload)


def test_a_value_that_fits_is_kept_whole() -> None:
    value = b"x" * 64 * 1024  # max_event_bytes: its base64 fits the default limit
    payload = build_dead_letter(value, reason="not_json", origin=ORIGIN)
    assert payload["value_truncated"] is False
    assert original_value(payload) == value


def test_a_long_key_is_kept_as_a_prefix_and_published_under_its_hash() -> None:
    key = b"k" * 900_000
    origin = MessageOrigin("feeds.hukou", 0, 7, key, None)
    payload = build_dead_letter(b"{}", reason="r", origin=origin)
    assert len(encode_dead_letter(payload)) <= DEFAULT_MAX_DEAD_LETTER_BYTES
    assert payload["key"] is None
    assert payload["key_truncated"] is True
    assert payload["key_size"] == 900_000
    assert payload["key_sha256"] == hashlib.sha256(key).hexdigest()
    assert base64.b64decode(payload["key_b64"]) == key[:MAX_KEY_BYTES]
    assert dead_letter_key(key) == b"sha256:" + hashlib.sha256(key).hexdigest().encode()
    assert dead_letter_key(b"ev-1") == b"ev-1"
    assert dead_letter_key(None) is None


def test_a_limit_below_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        build_dead_letter(b"x", reason="r", origin=ORIGIN, max_bytes=MIN_DEAD_LETTER_BYTES - 1)


# Control characters cost six bytes each once JSON-escaped: the worst case of every capped
# field at once.
_nasty_text = st.text(alphabet=st.sampled_from('\x00\x1f"\\a中😀'), max_size=3000)


@settings(max_examples=150, deadline=None)
@given(
    value=st.one_of(st.none(), st.binary(max_size=40_000)),
    key=st.one_of(st.none(), st.binary(max_size=3000), _nasty_text.map(str.encode)),
    reason=_nasty_text,
    detail=st.one_of(st.none(), _nasty_text),
    topic=_nasty_text,
    max_bytes=st.integers(MIN_DEAD_LETTER_BYTES, 40_000),
)
def test_the_encoded_dead_letter_never_exceeds_its_limit(  # noqa: PLR0917
    value: bytes | None,
    key: bytes | None,
    reason: str,
    detail: str | None,
    topic: str,
    max_bytes: int,
) -> None:
    origin = MessageOrigin(topic, 2**31 - 1, 2**63 - 1, key, 2**63 - 1)
    payload = build_dead_letter(
        value, reason=reason, origin=origin, detail=detail, max_bytes=max_bytes
    )
    encoded = encode_dead_letter(payload)
    assert len(encoded) <= max_bytes
    back = decode_dead_letter(encoded)
    kept = kept_value(back)
    if value is None:
        assert kept is None
    else:
        assert kept is not None and value.startswith(kept)
        assert back["value_truncated"] == (kept != value)
        assert back["value_size"] == len(value)
        assert back["value_sha256"] == hashlib.sha256(value).hexdigest()


def test_the_module_examples_hold() -> None:
    import doctest

    import connectors.deadletter
    import connectors.errors
    import connectors.retry

    for module in (connectors.deadletter, connectors.errors, connectors.retry):
        failed, tried = doctest.testmod(module)
        assert tried > 0 and failed == 0, module.__name__
