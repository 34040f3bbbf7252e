"""The rejects file: what the job could not read or use, one JSON object a line, mode 0600.

Each reject says where it came from (``file`` and ``line``, or ``topic``, ``partition`` and
``offset``) and why (``reason``, a machine word). A line of ordinary size is kept whole
(``raw``) for an operator to look at; a line over the limit only as ``prefix``, ``size`` and
``sha256`` (it was never read whole). The file may hold identities: it is created 0600.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol

import orjson
from connectors.files import open_private

__all__ = ["DiscardedRejects", "Rejects", "RejectsFile"]


class Rejects(Protocol):
    """Where rejects go."""

    count: int

    def add(self, origin: dict[str, Any], reason: str, **details: Any) -> None:
        """Take one reject."""
        ...


class DiscardedRejects:
    """Counts rejects and writes none: a resumed job's roster, rejected once already."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, origin: dict[str, Any], reason: str, **details: Any) -> None:
        """Count one reject."""
        self.count += 1


class RejectsFile:
    """Append-only rejects, truncated to a checkpoint's offset when a job resumes.

    Args:
        path: the file (its folder is created).
        keep: bytes to keep from an earlier run (a checkpoint's ``rejects_offset``); 0 starts
            the file afresh.

    Raises:
        InputFileError: the file cannot be created or written.
    """

    def __init__(self, path: Path, *, keep: int = 0) -> None:
        self.path = path
        self._handle = open_private(path, keep=keep)
        self.count = 0

    def add(self, origin: dict[str, Any], reason: str, **details: Any) -> None:
        """Write one reject: its origin, its reason and what helps find it again."""
        record = origin | {"reason": reason} | details
        self._handle.write(orjson.dumps(record) + b"\n")
        self.count += 1

    def flush(self) -> int:
        """Write everything through to the disk; return the file's size (a checkpoint's)."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return self._handle.tell()

    def close(self) -> None:
        """Flush and close."""
        self._handle.close()
