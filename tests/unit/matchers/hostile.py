"""Hostile feed messages and the reason each must be dead-lettered with (unit and stream tests).

``hostile_messages(max_bytes)`` gives ``(description, bytes, reason)``: every kind of message that
is not a usable event, at sizes up to the broker's default limit. ``PERSON`` is a roster person
that ``inert_events`` match on id and phone, with names that look like query syntax or scripts:
those are data, and must come out on the lead as they went in.
"""

from __future__ import annotations

from typing import Any

import orjson

from matchers.errors import Reason

__all__ = [
    "BROKER_LIMIT",
    "EVENT",
    "FUTURE",
    "ID_NUMBER",
    "INERT_NAMES",
    "PERSON",
    "event_bytes",
    "hostile_messages",
    "inert_events",
]

#: Kafka's default ``message.max.bytes`` (1 MiB less its record overhead): the largest message a
#: feed can put on the topic.
BROKER_LIMIT = 1_000_000
ID_NUMBER = "460105199001017124"
PHONE = "13812345678"
PERSON: dict[str, Any] = {
    "person_id": "p-hostile-1",
    "name": "张伟",
    "id_number": ID_NUMBER,
    "birth_date": "1990-01-01",
    "gender": "F",
    "phones": [PHONE],
    "addresses": ["海南省海口市美兰区海府路12号"],
    "status": "dropped_out",
    "status_changed_at": "2026-01-05T09:00:00+08:00",
    "district": "美兰",
    "case_officer": "o1",
}
EVENT: dict[str, Any] = {
    "event_id": "e1",
    "source": "bank",
    "occurred_at": "2026-02-01T10:00:00+08:00",
    "name": "张伟",
    "id_number": ID_NUMBER,
    "phone": PHONE,
    "event_type": "account_opened",
}
#: Far enough ahead to be past any margin a test uses (the stream checks against its clock).
FUTURE = "2999-01-01T00:00:00+00:00"
#: Names that a careless indexer, page or shell would interpret: they are data.
INERT_NAMES = (
    "*:* OR person_id:*",
    '{"query": {"match_all": {}}}',
    "<script>alert(1)</script>",
    "'; DROP TABLE leads; --",
    "${jndi:ldap://example.invalid/a}",
    "{{7*7}} %s %n \\u0000",
    "name:(张伟 OR 王芳)^10 AND _exists_:id",
)


_WINDOW: Reason = "occurred_at_out_of_window"


def event_bytes(**changes: Any) -> bytes:
    """``EVENT`` with fields changed (``None`` removes one), as message bytes."""
    raw = {k: v for k, v in (EVENT | changes).items() if v is not None}
    return orjson.dumps(raw)


def _nested(depth: int) -> bytes:
    return b'{"event_id": "e1", "x": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def hostile_messages(max_bytes: int) -> list[tuple[str, bytes, Reason]]:
    """Every kind of unusable message, with the reason it must be dead-lettered with.

    Args:
        max_bytes: the largest event accepted (``TRACER_MAX_EVENT_BYTES``).
    """
    huge = b'{"event_id": "big", "source": "bank", "pad": "'
    cases: list[tuple[str, bytes, Reason]] = [
        ("not UTF-8: a stray byte", b'{"event_id": "e\xff1"}', "not_utf8"),
        ("not UTF-8: GBK", '{"name": "张伟"}'.encode("gbk"), "not_utf8"),
        ("not UTF-8: UTF-16", '{"event_id": "e1"}'.encode("utf-16"), "not_utf8"),
        ("empty", b"", "not_json"),
        ("blank", b"  \n ", "not_json"),
        ("cut short", event_bytes()[:-9], "not_json"),
        ("trailing garbage", event_bytes() + b"}", "not_json"),
        ("NaN", event_bytes()[:-1] + b', "score": NaN}', "not_json"),
        ("Infinity", event_bytes()[:-1] + b', "score": Infinity}', "not_json"),
        ("-Infinity", event_bytes()[:-1] + b', "score": -Infinity}', "not_json"),
        ("a number out of range", event_bytes()[:-1] + b', "score": 1e400}', "not_json"),
        ("single quotes", b"{'event_id': 'e1'}", "not_json"),
        ("a lone surrogate escape", b'{"event_id": "e1", "name": "\\ud800"}', "not_json"),
        ("a list", b'["e1", "bank"]', "not_object"),
        ("a string", b'"e1"', "not_object"),
        ("a number", b"42", "not_object"),
        ("null", b"null", "not_object"),
        ("true", b"true", "not_object"),
        ("one byte over", huge + b"x" * (max_bytes - len(huge) - 1) + b'"}', "oversized"),
        ("900 KB", huge + b"x" * 900_000 + b'"}', "oversized"),
        ("the broker's limit", huge + b"x" * (BROKER_LIMIT - len(huge) - 2) + b'"}', "oversized"),
        ("nested 33 levels", _nested(33), "too_deep"),
        ("nested past orjson's limit", _nested(5000), "too_deep"),
        ("no event_id", event_bytes(event_id=None), "missing_event_id"),
        ("blank event_id", event_bytes(event_id="   "), "missing_event_id"),
        ("event_id a number", event_bytes(event_id=12345), "bad_event_id"),
        ("event_id a list", event_bytes(event_id=["e1"]), "bad_event_id"),
        ("event_id an object", event_bytes(event_id={"$gt": ""}), "bad_event_id"),
        ("event_id true", event_bytes(event_id=True), "bad_event_id"),
        ("event_id with a space", event_bytes(event_id="e 1"), "bad_event_id"),
        ("event_id a path", event_bytes(event_id="../../etc/passwd"), "bad_event_id"),
        ("event_id markup", event_bytes(event_id="<b>e1</b>"), "bad_event_id"),
        ("event_id query", event_bytes(event_id="e1 OR *:*"), "bad_event_id"),
        ("event_id with RLO", event_bytes(event_id="e1\u202e"), "bad_event_id"),
        ("event_id in hanzi", event_bytes(event_id="事件1"), "bad_event_id"),
        ("event_id 129 chars", event_bytes(event_id="e" * 129), "bad_event_id"),
        ("no source", event_bytes(source=None), "missing_source"),
        ("unknown source", event_bytes(source="airline"), "unknown_source"),
        ("source a number", event_bytes(source=3), "unknown_source"),
        ("source a list", event_bytes(source=["bank"]), "unknown_source"),
        ("source an operator", event_bytes(source={"$ne": None}), "unknown_source"),
        ("no occurred_at", event_bytes(occurred_at=None), "missing_occurred_at"),
        ("occurred_at a word", event_bytes(occurred_at="yesterday"), "bad_occurred_at"),
        ("occurred_at epoch", event_bytes(occurred_at=1_770_000_000), "bad_occurred_at"),
        ("occurred_at no offset", event_bytes(occurred_at="2026-02-01T10:00"), "bad_occurred_at"),
        ("occurred_at impossible", event_bytes(occurred_at="2026-02-30T10:00Z"), "bad_occurred_at"),
        ("occurred_at 1970", event_bytes(occurred_at="1970-01-01T00:00:00Z"), _WINDOW),
        ("occurred_at 1989", event_bytes(occurred_at="1990-01-01T07:59:59+08:00"), _WINDOW),
        ("occurred_at far future", event_bytes(occurred_at=FUTURE), _WINDOW),
    ]  # fmt: skip
    return cases


def inert_events(prefix: str) -> list[dict[str, Any]]:
    """Events about ``PERSON`` (id and phone agree) whose names look like queries or scripts."""
    return [
        EVENT | {"event_id": f"{prefix}-inert-{i}", "name": name}
        for i, name in enumerate(INERT_NAMES)
    ]
