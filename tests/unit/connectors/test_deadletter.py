import base64

import pytest

from connectors.deadletter import (
    MessageOrigin,
    build_dead_letter,
    decode_dead_letter,
    encode_dead_letter,
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
        "timestamp_ms": 1_700_000_000_123,
        "value_b64": base64.b64encode(b'["a list"]').decode(),
        "value_size": 10,
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
