"""Input lines of the job: JSONL files (plain or gzip) read with the bounded line reader.

A file is gzip when it starts with gzip's magic bytes, whatever its name; a UTF-8 byte-order
mark at the start of a file (or of its decompressed text) is dropped. The lines are read by
:func:`connectors.files.read_lines` (``tracer produce`` reads with it too): a line longer than
``max_bytes`` is never held whole; it comes back as a :class:`Line` without ``data``, with its
first :data:`PREFIX_BYTES`, its size and its sha256, counted in 1 MiB pieces.

Positions are byte offsets in the (decompressed) text, so a checkpoint can say where to start
again: :func:`open_lines` seeks a plain file there and reads a gzip one up to it.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

from connectors.errors import InputFileError
from connectors.files import PREFIX_BYTES, Line, read_lines

__all__ = ["PREFIX_BYTES", "InputFile", "Line", "open_lines", "read_lines"]

_CHUNK_BYTES: Final = 1 << 20
_GZIP_MAGIC: Final = b"\x1f\x8b"


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
