"""Input lines of the job: JSONL files (plain or gzip) read with a bounded ``readline``.

A file is gzip when it starts with gzip's magic bytes, whatever its name; a UTF-8 byte-order
mark at the start of a file (or of its decompressed text) is dropped. A line longer than
``max_bytes`` is never held whole: it comes back as a :class:`Line` without ``data``, with its
first :data:`PREFIX_BYTES`, its size and its sha256, counted in 1 MiB pieces.

Positions are byte offsets in the (decompressed) text, so a checkpoint can say where to start
again: :func:`open_lines` seeks a plain file there and reads a gzip one up to it.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from connectors.errors import InputFileError

__all__ = ["PREFIX_BYTES", "InputFile", "Line", "open_lines", "read_lines"]

#: Bytes of a too-long line kept to recognise it by (never the whole line).
PREFIX_BYTES: Final = 256
_CHUNK_BYTES: Final = 1 << 20
_GZIP_MAGIC: Final = b"\x1f\x8b"
_BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Line:
    """One non-blank input line.

    Attributes:
        number: 1-based line number in the (decompressed) file.
        data: the line without its line break, or ``None`` when longer than the limit.
        size: the line's length in bytes (without the line break).
        end: offset just past the line in the (decompressed) text.
        prefix: the first :data:`PREFIX_BYTES` of the line.
        sha256: hex digest of a too-long line (``None`` for the others).
    """

    number: int
    data: bytes | None
    size: int
    end: int
    prefix: bytes
    sha256: str | None = None


class InputFile:
    """An open input file: its text (decompressed) and its raw position (for progress).

    Args:
        path: the file.

    Raises:
        InputFileError: missing, a directory, or unreadable.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.is_dir():
            raise InputFileError(f"{path}: is a directory, not a JSONL file")
        try:
            self._raw: IO[bytes] = path.open("rb")
        except FileNotFoundError as exc:
            raise InputFileError(f"{path}: no such file") from exc
        except OSError as exc:
            raise InputFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
        self.gzipped = self._raw.read(2) == _GZIP_MAGIC
        self._raw.seek(0)
        self.text: IO[bytes] = (
            gzip.GzipFile(fileobj=self._raw) if self.gzipped else self._raw  # type: ignore[assignment]
        )

    def raw_position(self) -> int:
        """Bytes of the file on disk read so far (the progress bar's measure)."""
        return self._raw.tell()

    def skip_to(self, offset: int) -> None:
        """Continue from ``offset`` of the text: a seek, or for gzip a bounded read up to it."""
        if not self.gzipped:
            self._raw.seek(offset)
            return
        left = offset
        while left > 0:
            piece = self.text.read(min(left, _CHUNK_BYTES))
            if not piece:
                raise InputFileError(f"{self.path}: shorter than its checkpoint says")
            left -= len(piece)

    def close(self) -> None:
        """Close the file."""
        self.text.close()
        self._raw.close()


def open_lines(
    path: Path, *, max_bytes: int, start_line: int = 0, start_offset: int = 0
) -> tuple[InputFile, Iterator[Line]]:
    """Open ``path`` and read its lines from a position (a checkpoint's, or the start).

    Raises:
        InputFileError: missing, a directory, unreadable, or not a gzip file it claims to be.
    """
    handle = InputFile(path)
    handle.skip_to(start_offset)
    return handle, _guarded(handle, max_bytes, start_line, start_offset)


def _guarded(handle: InputFile, max_bytes: int, line: int, offset: int) -> Iterator[Line]:
    try:
        yield from read_lines(handle.text, max_bytes=max_bytes, start_line=line, start=offset)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        # A truncated or corrupt gzip stream: the rest of the file cannot be read.
        raise InputFileError(f"{handle.path}: unreadable after line {line} ({exc})") from exc


def read_lines(
    handle: IO[bytes], *, max_bytes: int, start_line: int = 0, start: int = 0
) -> Iterator[Line]:
    r"""Yield the non-blank lines of a binary stream, from line ``start_line`` + 1 on.

    Example:
        >>> import io
        >>> [(x.number, x.data) for x in read_lines(io.BytesIO(b"\xef\xbb\xbf{}\n\nab"),
        ...                                           max_bytes=8)]
        [(1, b'{}'), (3, b'ab')]
    """
    number, end = start_line, start
    while head := handle.readline(max_bytes + 2):  # + 2: room for the line's own "\r\n"
        number += 1
        if end == 0 and head.startswith(_BOM):
            head, end = head[len(_BOM) :], len(_BOM)
        if len(head) > max_bytes + 1 and not head.endswith(b"\n"):
            size, digest, taken = _rest_of_long_line(handle, head)
            end += taken
            yield Line(number, None, size, end, head[:PREFIX_BYTES], digest)
            continue
        end += len(head)
        raw = head.rstrip(b"\r\n")
        if len(raw) > max_bytes:
            digest = hashlib.sha256(raw).hexdigest()
            yield Line(number, None, len(raw), end, raw[:PREFIX_BYTES], digest)
        elif raw.strip():
            yield Line(number, raw, len(raw), end, raw[:PREFIX_BYTES])


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
        chunk = handle.readline(_CHUNK_BYTES)
    digest.update(held)
    return size + len(held), digest.hexdigest(), taken
