"""The envelope of a feed event: the bytes, their shape, ``event_id``, ``source``, ``occurred_at``.

    parse_event_bytes(b'{"event_id": "e1", "source": "bank", ...}', max_bytes=65536) -> dict
    validate_event_envelope(raw, not_after=occurred_at_limit(now)) -> (event_id, source, when)

What makes a message unusable, each with its word of ``matchers.errors.Reason``: too large
(``oversized``), not UTF-8, not JSON (NaN and Infinity are not), not an object, containers
nested past :data:`MAX_DEPTH`; an ``event_id`` missing or outside 1 to 128 characters of
``A-Z a-z 0-9 . _ : -``; a ``source`` missing or unknown; an ``occurred_at`` missing, not
ISO-8601 with an offset, before :data:`OCCURRED_AT_FLOOR` or after ``not_after`` (the caller's
clock plus a margin: this module reads no clock). ``matchers.records`` builds the records and
re-exports these functions.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import orjson
from contract import EVENT_ID, OCCURRED_AT, SOURCE, SOURCES, Source

from matchers.errors import InvalidRecord, Reason

__all__ = [
    "EVENT_ID_MAX_CHARS",
    "FUTURE_MARGIN",
    "MAX_DEPTH",
    "OCCURRED_AT_FLOOR",
    "OccurredAtLimit",
    "closed_word",
    "normal_timestamp",
    "occurred_at_limit",
    "parse_event_bytes",
    "parse_timestamp",
    "validate_event_envelope",
]

_W = TypeVar("_W", bound=str)
# A timestamp in the shape ``datetime.isoformat`` writes (seconds, an offset in hours and
# minutes) is its own normal form; "-00:00" is written "+00:00", and an offset of 60 or more
# minutes (+05:60, which fromisoformat reads as +06:00) takes the general path.
_ISO_SECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:[0-5]\d", re.ASCII)
#: ``event_id``: 1 to this many characters of ``A-Z a-z 0-9 . _ : -`` (it names the event in
#: lead ids, dead letters and logs: nothing that could be read as markup, a query or a path).
EVENT_ID_MAX_CHARS: Final = 128
_EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)
#: No event is older: the feeds' systems went digital later (old files stay valid to reprocess).
OCCURRED_AT_FLOOR: Final = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
#: How far after the time of matching ``occurred_at`` may be by default (clock drift).
FUTURE_MARGIN: Final = dt.timedelta(days=1)
#: Containers nested deeper than this (the message itself is level 1) are ``too_deep``.
MAX_DEPTH: Final = 32
_SURELY_AFTER_FLOOR: Final = "1991"


def parse_timestamp(value: object) -> dt.datetime | None:
    """Parse an ISO-8601 timestamp that carries an offset; ``None`` otherwise."""
    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else None


@dataclass(frozen=True, slots=True)
class OccurredAtLimit:
    """The latest ``occurred_at`` accepted, read off the caller's clock (:func:`occurred_at_limit`).

    Attributes:
        at: the latest instant accepted.
        surely_before: a local date (``YYYY-MM-DD``) up to which any time of day, at any
            offset, is before ``at``: the common event is checked by comparing its text, since
            comparing datetimes of two offsets costs about a microsecond each.
    """

    at: dt.datetime
    surely_before: str


def occurred_at_limit(now: dt.datetime, margin: dt.timedelta = FUTURE_MARGIN) -> OccurredAtLimit:
    """The latest ``occurred_at`` accepted at ``now``: the ``not_after`` of the checks below.

    The caller reads the clock (``matchers`` never does), once per batch or run, so the stream
    and ``tracer reprocess`` give the same answer for the same input at the same time.

    Args:
        now: the time of matching, with its offset.
        margin: how far in the future an event may be (clocks of source systems drift).

    Raises:
        ValueError: ``now`` has no offset.
    """
    if now.utcoffset() is None:
        raise ValueError("now must carry an offset")
    at = now + margin
    # Offsets stay within a day: a local date two days before ``at``'s UTC date ends before it.
    day = at.astimezone(dt.UTC).date() - dt.timedelta(days=2)
    return OccurredAtLimit(at, day.isoformat() if day.year >= 1000 else "")


def parse_event_bytes(
    data: bytes,
    *,
    max_bytes: int,
    check_envelope: bool = True,
    not_after: OccurredAtLimit | None = None,
) -> dict[str, Any]:
    """Decode one event message and check its envelope.

    Args:
        data: the message bytes.
        max_bytes: the largest message accepted.
        check_envelope: check ``event_id``, ``source`` and ``occurred_at`` here; a caller that
            hands the dict straight to :func:`event_from_raw` (which checks them with the same
            reasons) leaves it to that.
        not_after: the latest ``occurred_at`` accepted (:func:`occurred_at_limit`); ``None``
            checks only the fixed floor.

    Returns:
        The decoded JSON object.

    Raises:
        InvalidRecord: ``oversized``, ``not_utf8``, ``not_json`` (NaN and Infinity included),
            ``not_object``, ``too_deep``, or a bad envelope (:func:`validate_event_envelope`).
    """
    if not isinstance(data, bytes):  # the annotation is a promise callers may break
        if not isinstance(data, (bytearray, memoryview)):
            raise InvalidRecord("not_json", type(data).__name__)
        data = bytes(data)
    if len(data) > max_bytes:
        raise InvalidRecord("oversized", f"{len(data)} bytes > {max_bytes}")
    value = _loads(data)
    if not isinstance(value, dict):
        raise InvalidRecord("not_object", type(value).__name__)
    if _deeper_than(value, MAX_DEPTH):
        raise InvalidRecord("too_deep", f"more than {MAX_DEPTH} levels")
    if check_envelope:
        validate_event_envelope(value, not_after=not_after)
    return value


def _loads(data: bytes) -> object:
    """``orjson.loads`` with its errors in words; orjson's message can quote the input."""
    try:
        return orjson.loads(data)  # rejects invalid UTF-8 too: decode only to say where
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise InvalidRecord("not_utf8", f"byte {bad.start}") from None
        if "depth limit" in exc.msg:
            raise InvalidRecord("too_deep", f"char {exc.pos}") from None
        raise InvalidRecord("not_json", f"char {exc.pos}") from None


def _deeper_than(value: dict[str, Any], limit: int) -> bool:
    """Whether containers nest more than ``limit`` levels (the object itself is level 1).

    orjson stops at 1024 levels; a feed message has one or two. Walked with a stack of bounded
    size (no recursion), and only into values that are containers: a flat event costs a scan.
    """
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [
        (v, 2) for v in value.values() if type(v) is dict or type(v) is list
    ]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if type(item) is dict else item
        stack.extend((c, depth + 1) for c in children if type(c) is dict or type(c) is list)
    return False


def validate_event_envelope(
    raw: Mapping[str, Any], *, not_after: OccurredAtLimit | None = None
) -> tuple[str, Source, str]:
    """Check ``event_id``, ``source`` and ``occurred_at``.

    ``event_id``: 1 to 128 characters of ``A-Z a-z 0-9 . _ : -`` (surrounding blanks ignored).
    ``source``: ``hukou``, ``bank`` or ``telecom`` (any case). ``occurred_at``: ISO-8601 with an
    offset, not before 1990-01-01 UTC (:data:`OCCURRED_AT_FLOOR`: old files stay valid for
    ``tracer reprocess``) and not after ``not_after`` when one is given.

    Args:
        raw: the decoded event.
        not_after: the latest ``occurred_at`` accepted (:func:`occurred_at_limit`).

    Returns:
        ``(event_id, source, occurred_at)`` normalised (timestamp in ISO form with offset).

    Raises:
        InvalidRecord: naming the first field that is missing or unusable.
    """
    if type(raw) is dict:  # a decoded message whose envelope is as it should be, first
        event_id, source, occurred = raw.get(EVENT_ID), raw.get(SOURCE), raw.get(OCCURRED_AT)
        if (
            type(event_id) is str
            and type(source) is str
            and type(occurred) is str
            and source in SOURCES
            and _EVENT_ID.fullmatch(event_id)
            and len(occurred) == 25
            and _ISO_SECONDS.match(occurred)
            and not occurred.endswith("-00:00")  # written "+00:00": the general path
        ):
            try:
                moment = dt.datetime.fromisoformat(occurred)  # a real date and time?
            except ValueError:
                moment = None
            # The window by the text: a local year from 1991 is after the floor at any offset,
            # a local date up to ``surely_before`` before the limit (the rest: the general path).
            if (
                moment is not None
                and occurred >= _SURELY_AFTER_FLOOR
                and (not_after is None or occurred[:10] <= not_after.surely_before)
            ):
                return event_id, source, occurred
    if not isinstance(raw, Mapping):
        raise InvalidRecord("not_object", type(raw).__name__)
    return (
        _event_id_of(raw.get(EVENT_ID)),
        closed_word(raw.get(SOURCE), SOURCES, missing="missing_source", unknown="unknown_source"),
        _occurred_at_of(raw.get(OCCURRED_AT), not_after),
    )


def _event_id_of(value: object) -> str:
    if value is None:
        raise InvalidRecord("missing_event_id")
    if not isinstance(value, str):
        raise InvalidRecord("bad_event_id", type(value).__name__)
    event_id = value.strip()
    if not event_id:
        raise InvalidRecord("missing_event_id", "empty")
    if len(event_id) > EVENT_ID_MAX_CHARS:
        raise InvalidRecord("bad_event_id", f"longer than {EVENT_ID_MAX_CHARS} characters")
    if not _EVENT_ID.fullmatch(event_id):
        raise InvalidRecord("bad_event_id", "a character outside A-Z a-z 0-9 . _ : -")
    return event_id


def closed_word(value: object, words: tuple[_W, ...], *, missing: Reason, unknown: Reason) -> _W:
    """Return ``value`` as one of ``words`` (a closed set of the contract), case and blanks aside.

    The one rule for a required field whose value is a word of a closed set (an event's
    ``source``, a roster record's ``status``). The reason never carries the value: it may be
    anything.

    Raises:
        InvalidRecord: ``missing`` when absent or blank; ``unknown`` when not text (the
            detail: its type) or not one of ``words``.

    Example:
        >>> closed_word(" Bank", ("hukou", "bank"), missing="missing_source",
        ...             unknown="unknown_source")
        'bank'
    """
    if value is None:
        raise InvalidRecord(missing)
    if not isinstance(value, str):
        raise InvalidRecord(unknown, type(value).__name__)
    word = value.strip().lower()
    if not word:
        raise InvalidRecord(missing, "empty")
    for known in words:
        if word == known:
            return known
    raise InvalidRecord(unknown)


def _occurred_at_of(value: object, not_after: OccurredAtLimit | None) -> str:
    if value is None:
        raise InvalidRecord("missing_occurred_at")
    if not isinstance(value, str):
        raise InvalidRecord("bad_occurred_at", type(value).__name__)
    if not value.strip():
        raise InvalidRecord("missing_occurred_at", "empty")
    moment = parse_timestamp(value)
    if moment is None:
        raise InvalidRecord("bad_occurred_at", "not ISO-8601 with an offset")
    if moment < OCCURRED_AT_FLOOR:
        raise InvalidRecord("occurred_at_out_of_window", "before 1990-01-01")
    if not_after is not None and moment > not_after.at:
        raise InvalidRecord("occurred_at_out_of_window", "in the future")
    return normal_timestamp(value) or moment.isoformat()


def normal_timestamp(value: object) -> str | None:
    """:func:`parse_timestamp`'s result in ISO form, ``None`` when there is none."""
    if type(value) is str and len(value) == 25 and _ISO_SECONDS.match(value):
        # Already in the form isoformat writes, but for "-00:00" (written "+00:00").
        try:
            dt.datetime.fromisoformat(value)  # a real date and time?
        except ValueError:
            return None
        if not value.endswith("-00:00"):
            return value
    parsed = parse_timestamp(value)
    return None if parsed is None else parsed.isoformat()
