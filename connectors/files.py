"""JSONL files: reading with line numbers (a bad line is reported, never fatal) and writing.

    for line in read_jsonl("events.jsonl", parse=partial(parse_event_bytes, max_bytes=65536)):
        if line.error is not None: ...       # dead-letter it with line.line_no and line.error
        else: use(line.record)

A missing or unreadable file raises :class:`connectors.errors.InputFileError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson
from matchers.errors import InvalidRecord

from connectors.errors import InputFileError

__all__ = ["JsonlLine", "JsonlWriter", "parse_json_object", "read_jsonl", "write_jsonl"]

Parser = Callable[[bytes], dict[str, Any]]


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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(fd, 0o600)  # a file left by an earlier run keeps its mode otherwise
            self._handle: IO[bytes] = os.fdopen(fd, "wb")
        except OSError as exc:
            raise InputFileError(f"{self.path}: cannot write ({exc.strerror or exc})") from exc

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
