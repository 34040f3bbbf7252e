"""JSONL files: reading with line numbers (a bad line is reported, never fatal) and writing.

    for line in read_jsonl("events.jsonl", parse=partial(parse_event_bytes, max_bytes=65536)):
        if line.error is not None: ...       # dead-letter it with line.line_no and line.error
        else: use(line.record)

A missing or unreadable file raises :class:`connectors.errors.InputFileError`.

:func:`read_lines` is the one *bounded* line reader (``tracer produce`` and the reprocess job
read their inputs with it): a line longer than ``max_bytes`` is never held whole; it comes back
as a :class:`Line` without ``data``, with its first :data:`PREFIX_BYTES`, its size and its
sha256, counted in 1 MiB pieces. A UTF-8 byte-order mark at the start of the text is dropped.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import orjson
from matchers.errors import InvalidRecord

from connectors.errors import InputFileError

__all__ = [
    "PREFIX_BYTES",
    "JsonlLine",
    "JsonlWriter",
    "Line",
    "open_private",
    "parse_json_object",
    "read_jsonl",
    "read_lines",
    "write_jsonl",
]

Parser = Callable[[bytes], dict[str, Any]]

#: Bytes of a too-long line kept to recognise it by (never the whole line).
PREFIX_BYTES: Final = 256
#: Bytes read at a time from a line over the limit (bounds memory whatever the line's size).
_PIECE_BYTES: Final = 1 << 20
_BOM: Final = b"\xef\xbb\xbf"


class Line:
    """One non-blank input line of :func:`read_lines`.

    A plain slotted class, not a frozen dataclass: one is built per input line, and a frozen
    ``__init__`` (``object.__setattr__`` per field) cost more than reading the line.

    Attributes:
        number: 1-based line number in the text.
        data: the line without its line break, or ``None`` when longer than the limit.
        size: the line's length in bytes (without the line break).
        end: offset just past the line (its line break included) in the text.
        sha256: hex digest of a too-long line (``None`` for the others).
    """

    __slots__ = ("_head", "data", "end", "number", "sha256", "size")

    def __init__(  # noqa: PLR0917 -- the reader's positional record
        self,
        number: int,
        data: bytes | None,
        size: int,
        end: int,
        head: bytes = b"",
        sha256: str | None = None,
    ) -> None:
        self.number = number
        self.data = data
        self.size = size
        self.end = end
        self._head = head
        self.sha256 = sha256

    @property
    def prefix(self) -> bytes:
        """The first :data:`PREFIX_BYTES` of the line (sliced on demand: rejects only)."""
        return self._head if self.data is None else self.data[:PREFIX_BYTES]

    def digest(self) -> str:
        """The line's sha256, hex (counted by the reader for a too-long line)."""
        return self.sha256 or hashlib.sha256(self.data or b"").hexdigest()

    def __repr__(self) -> str:
        return f"Line({self.number}, size={self.size}, end={self.end}, long={self.data is None})"


def read_lines(
    handle: IO[bytes], *, max_bytes: int, start_line: int = 0, start: int = 0
) -> Iterator[Line]:
    r"""Yield the non-blank lines of a binary stream, from line ``start_line`` + 1 on.

    Args:
        handle: the text, positioned at ``start``.
        max_bytes: the longest line returned with its data.
        start_line: lines before the position (numbers continue from it).
        start: the position's offset (``0``: the start, where a byte-order mark is dropped).

    Example:
        >>> import io
        >>> [(x.number, x.data) for x in read_lines(io.BytesIO(b"\xef\xbb\xbf{}\n\nab"),
        ...                                           max_bytes=8)]
        [(1, b'{}'), (3, b'ab')]
    """
    number, end = start_line, start
    readline, limit = handle.readline, max_bytes + 2  # + 2: room for the line's own "\r\n"
    if end == 0:
        head = readline(limit)
        if head.startswith(_BOM):
            head, end = head[len(_BOM) :], len(_BOM)
        if head:
            number += 1
            end, line = _one(handle, head, number, end, max_bytes)
            if line is not None:
                yield line
    # The hot loop: one readline, one slice and one object a line.
    while head := readline(limit):
        number += 1
        if len(head) <= max_bytes and head[-1] == 10:  # 10: b"\n"
            end += len(head)
            raw = head.rstrip(b"\r\n")
            if raw and not raw.isspace():
                yield Line(number, raw, len(raw), end)
            continue
        end, line = _one(handle, head, number, end, max_bytes)
        if line is not None:
            yield line


def _one(
    handle: IO[bytes], head: bytes, number: int, end: int, max_bytes: int
) -> tuple[int, Line | None]:
    """The line that starts with ``head`` (any length); the offset after it."""
    if len(head) > max_bytes + 1 and not head.endswith(b"\n"):
        size, digest, taken = _rest_of_long_line(handle, head)
        return end + taken, Line(number, None, size, end + taken, head[:PREFIX_BYTES], digest)
    end += len(head)
    raw = head.rstrip(b"\r\n")
    if len(raw) > max_bytes:  # max_bytes + 1 with the last line's "\r", or without a break
        digest = hashlib.sha256(raw).hexdigest()
        return end, Line(number, None, len(raw), end, raw[:PREFIX_BYTES], digest)
    if raw and not raw.isspace():
        return end, Line(number, raw, len(raw), end)
    return end, None


def _rest_of_long_line(handle: IO[bytes], head: bytes) -> tuple[int, str, int]:
    """Read a long line to its end in bounded pieces; return size, sha256 and bytes taken."""
    digest = hashlib.sha256()
    taken = size = 0
    held = b""  # a trailing "\r" waits: it belongs to the content unless "\n" follows
    chunk = head
    while chunk:
        taken += len(chunk)
        body = held + chunk
        if body.endswith(b"\n"):
            body = body.rstrip(b"\r\n")
            digest.update(body)
            return size + len(body), digest.hexdigest(), taken
        held = b"\r" if body.endswith(b"\r") else b""
        body = body[: len(body) - len(held)]
        digest.update(body)
        size += len(body)
        chunk = handle.readline(_PIECE_BYTES)
    digest.update(held)
    return size + len(held), digest.hexdigest(), taken


@dataclass(frozen=True, slots=True)
class JsonlLine:
    """One non-blank line of a JSONL file.

    Attributes:
        line_no: 1-based line number in the file.
        raw: the line's bytes without the line break.
        record: the parsed object, or ``None`` when the line is bad.
        error: why the line is bad, or ``None``.
        end: byte offset just past this line (for progress reporting).
    """

    line_no: int
    raw: bytes
    record: dict[str, Any] | None
    error: str | None
    end: int


def parse_json_object(data: bytes) -> dict[str, Any]:
    """Parse one JSON object.

    Raises:
        InvalidRecord: not JSON, or not an object.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord("not_json", f"char {exc.pos}") from None  # the message quotes input
    if not isinstance(value, dict):
        raise InvalidRecord("not_object", type(value).__name__)
    return value


def read_jsonl(path: str | Path, *, parse: Parser = parse_json_object) -> Iterator[JsonlLine]:
    """Read a JSONL file line by line; blank lines are skipped.

    Args:
        path: the file.
        parse: turns a line's bytes into a record, raising :class:`InvalidRecord` when it
            cannot (the reason lands in :attr:`JsonlLine.error`).

    Returns:
        An iterator of one :class:`JsonlLine` per non-blank line; the file is opened at once
        so that a missing file fails here, not at the first line.

    Raises:
        InputFileError: the file is missing or unreadable.
    """
    return _lines(_open(path), parse)


def _lines(handle: IO[bytes], parse: Parser) -> Iterator[JsonlLine]:
    with handle:
        end = 0
        for line_no, line in enumerate(handle, start=1):
            end += len(line)
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                yield JsonlLine(line_no, raw, parse(raw), None, end)
            except InvalidRecord as exc:
                yield JsonlLine(line_no, raw, None, exc.reason, end)


def _open(path: str | Path) -> IO[bytes]:
    p = Path(path)
    if p.is_dir():
        raise InputFileError(f"{p}: is a directory, not a JSONL file")
    try:
        return p.open("rb")
    except FileNotFoundError as exc:
        raise InputFileError(f"{p}: no such file") from exc
    except OSError as exc:
        raise InputFileError(f"{p}: cannot read ({exc.strerror or exc})") from exc


def open_private(path: str | Path, *, keep: int = 0, buffering: int = -1) -> IO[bytes]:
    """Open an output file readable by its owner only, kept to ``keep`` bytes, for appending.

    What the CLI and jobs write (leads, rejects, dead letters, a run's scope) holds personal
    data, so the file is mode 0600 even when an earlier run left it with another mode. ``keep``
    is what a resumed job keeps of its earlier output (a checkpoint's offset); 0 starts afresh.
    Parent folders are created.

    Raises:
        InputFileError: the file cannot be created or written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # a file left by an earlier run keeps its mode otherwise
        os.ftruncate(fd, keep)
        os.lseek(fd, keep, os.SEEK_SET)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return os.fdopen(fd, "wb", buffering=buffering)


class JsonlWriter:
    """Writes one JSON object per line (orjson, sorted keys), creating parent folders.

    The file is created (or truncated) with mode 0600: what the CLI writes (leads, rejects,
    dead letters) holds personal data, readable by its owner only.

    Use as a context manager; :attr:`count` says how many lines were written.

    Raises:
        InputFileError: the file cannot be created or written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.count = 0
        self._handle = open_private(self.path)

    def write(self, record: dict[str, Any]) -> None:
        """Append one object."""
        self._handle.write(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n")
        self.count += 1

    def close(self) -> None:
        """Flush and close the file."""
        self._handle.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write every record to ``path`` as JSONL; returns how many lines were written."""
    with JsonlWriter(path) as writer:
        for record in records:
            writer.write(record)
    return writer.count
