"""The hostile messages of the ``hostile`` fault: every way a feed message can be unusable.

Each :class:`Hostile` is one Kafka message (feed, key, value) and the *kind* of hostility it
shows. None can make a lead: the ones with a valid envelope name no roster person (their names
are query syntax, scripts or control characters, with no id, phone or address of anyone), so a
lead made from one counts as an unexpected (duplicated) lead in the table. All data is
synthetic; the values are built here, deterministically.

Example:
    >>> kinds = {h.kind for h in catalogue(0)}
    >>> {"not_utf8", "oversized_900k", "deep_nesting", "bidi_name"} <= kinds
    True
    >>> max(len(h.value) for h in catalogue(0)) < 1_000_000
    True
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

import orjson

__all__ = ["FEEDS", "Hostile", "catalogue", "interleave"]

FeedTopic = Literal["feeds.hukou", "feeds.bank", "feeds.telecom"]
FEEDS: Final[tuple[FeedTopic, ...]] = ("feeds.hukou", "feeds.bank", "feeds.telecom")

_T = TypeVar("_T")
_OCCURRED = "2026-11-30T10:00:00+08:00"
# Just under Kafka's default 1 MB message limit, with room for the record's own overhead.
_NEAR_LIMIT = 900 * 1024


@dataclass(frozen=True)
class Hostile:
    """One hostile message: where it goes, its key and bytes, and what is wrong with it."""

    kind: str
    feed: FeedTopic
    key: bytes | None
    value: bytes


def _event(event_id: object, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": event_id,
        "source": "bank",
        "occurred_at": _OCCURRED,
        "event_type": "account_opened",
    }
    return base | fields


def _json(value: object) -> bytes:
    return orjson.dumps(value)


def _padded(event_id: str, size: int) -> bytes:
    """A valid-looking bank event padded to ``size`` bytes with a long ``branch_address``."""
    head = _json(_event(event_id, name="Pad Ding", branch_address=""))
    return head[:-2] + b"x" * max(0, size - len(head)) + b'"}'


def _envelopes(tag: str) -> dict[str, bytes]:
    return {
        "no_event_id": _json({"source": "bank", "occurred_at": _OCCURRED}),
        "no_source": _json({"event_id": f"{tag}-nosrc", "occurred_at": _OCCURRED}),
        "no_occurred_at": _json({"event_id": f"{tag}-noat", "source": "bank"}),
        "empty_event_id": _json(_event("")),
        "bad_occurred_at": _json(_event(f"{tag}-badat", occurred_at="yesterday-ish")),
        "implausible_occurred_at": _json(_event(f"{tag}-1900", occurred_at="1900-01-01T00:00:00Z")),
        "future_occurred_at": _json(_event(f"{tag}-2999", occurred_at="2999-01-01T00:00:00Z")),
        "unknown_source": _json(_event(f"{tag}-police", source="police")),
        "long_event_id": _json(_event(f"{tag}-" + "e" * 5000)),
    }


def _wrong_types(tag: str) -> dict[str, bytes]:
    return {
        "event_id_number": _json(_event(12345)),
        "source_list": _json(_event(f"{tag}-srclist", source=["bank", "telecom"])),
        "occurred_at_number": _json(_event(f"{tag}-atnum", occurred_at=1764468000)),
        "name_object": _json(_event(f"{tag}-nameobj", name={"given": "Wei"})),
        "id_number_float": _json(_event(f"{tag}-idfloat", id_number=1.5e17)),
        "phone_list": _json(_event(f"{tag}-phonelist", phone=["1", "2"])),
        "bool_envelope": _json(_event(True, source=False, occurred_at=None)),
    }


def _strings(tag: str) -> dict[str, bytes]:
    """Valid envelopes carrying strings that look like query syntax, scripts or markup."""
    texts = {
        "query_lucene": "*:* OR status:closed OR person_id:*",
        "query_dsl": '{"query":{"match_all":{}}}',
        "painless_script": "ctx._source.status = 'closed'",
        "html_script": "<script>alert(1)</script>",
        "jndi_lookup": "${jndi:ldap://127.0.0.1/a}",
        "sql_injection": "'; DROP TABLE leads; --",
        "path_traversal": "../../../../etc/passwd",
    }
    return {
        kind: _json(_event(f"{tag}-{kind}", name=text, branch_address=text, id_number=text))
        for kind, text in texts.items()
    }


def _characters(tag: str) -> dict[str, bytes]:
    """Control, bidirectional and zero-width characters in names and ids."""
    return {
        "bidi_name": _json(_event(f"{tag}-bidi", name="\u202egnahZ ieW\u202c")),
        "bidi_isolate": _json(_event(f"{tag}-iso", name="\u2066Li\u2069 Na\u2067")),
        "zero_width_name": _json(_event(f"{tag}-zw", name="Wang\u200b\u200dFang\ufeff")),
        "control_chars": _json(_event(f"{tag}-ctl", name="Li\x00\x07\x1bNa\r\n")),
        "bidi_event_id": _json(_event(f"{tag}-\u202eevil")),
        "control_event_id": _json(_event(f"{tag}-\x00nul")),
        "bidi_id_number": _json(_event(f"{tag}-bidiid", id_number="\u202e1234567890")),
    }


def _structure(tag: str) -> dict[str, bytes]:
    deep = b'{"event_id":"' + tag.encode() + b'-deep","source":"bank","x":'
    return {
        "not_json": b"this is not json {",
        "not_utf8": b'{"event_id": "\xff\xfe\xfd", "source": "bank"}',
        "latin1_bytes": _json(_event(f"{tag}-l1"))[:-1] + b',"name":"M\xfcller"}',
        "array": _json([_event(f"{tag}-arr")]),
        "string": _json("an event, honestly"),
        "number": b"42",
        "null": b"null",
        "empty": b"",
        "truncated": _json(_event(f"{tag}-trunc"))[:20],
        "nan_infinity": (
            b'{"event_id":"' + tag.encode() + b'-nan","source":"bank",'
            b'"occurred_at":"' + _OCCURRED.encode() + b'","score":NaN,"amount":Infinity}'
        ),
        # Deeper than any JSON parser's default limit, small enough to pass the size check.
        "deep_nesting": deep + b"[" * 5_000 + b"]" * 5_000 + b"}",
        "deep_object": deep + b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"}",
        "duplicate_keys": b'{"event_id":"a","event_id":"b","source":"bank","source":"x"}',
    }


def _sizes(tag: str) -> dict[str, bytes]:
    return {
        "oversized_70k": _padded(f"{tag}-70k", 70 * 1024),
        "oversized_300k": _padded(f"{tag}-300k", 300 * 1024),
        "oversized_900k": _padded(f"{tag}-900k", _NEAR_LIMIT),
    }


def catalogue(copy: int) -> list[Hostile]:
    """Return one copy of every hostile message; ``copy`` keeps ids and keys apart."""
    tag = f"hostile{copy}"
    values = (
        _structure(tag)
        | _envelopes(tag)
        | _wrong_types(tag)
        | _strings(tag)
        | _characters(tag)
        | _sizes(tag)
    )
    found = []
    for n, (kind, value) in enumerate(values.items()):
        # Every feed, and now and then no key at all (kcat and many producers send none).
        key = None if n % 7 == 3 else f"{tag}-{kind}".encode()
        found.append(Hostile(kind, FEEDS[(n + copy) % len(FEEDS)], key, value))
    return found


def interleave(valid: Sequence[_T], hostile: Sequence[_T]) -> Iterator[_T]:
    """Yield ``valid`` with ``hostile`` spread evenly between its items (none first or last).

    Example:
        >>> "".join(interleave("abcdef", "XY"))
        'abXcdYef'
    """
    gaps = len(hostile) + 1
    slots: dict[int, list[_T]] = {}
    for n, item in enumerate(hostile):
        slots.setdefault((n + 1) * len(valid) // gaps, []).append(item)
    for n, item in enumerate(valid):
        yield from slots.get(n, ())
        yield item
    yield from slots.get(len(valid), ())
