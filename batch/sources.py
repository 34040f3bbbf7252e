"""The job's inputs as chunks: event files, or the feed topics over a time range; the roster.

A :class:`SourceChunk` is a list of ``(ref, bytes)`` to match (``ref``: the line number in a
file, the offset in a partition), the lines too long to read (kept as prefix, size, sha256),
and the source's position just after it, which a checkpoint records. Sources start from a
position (a checkpoint's) so a resumed job reads every line once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson
from connectors.feed_history import FeedHistory, FeedRecord, PartitionRange
from matchers.watchlist.matcher import Matcher

from batch.lines import PREFIX_BYTES, open_lines
from batch.rejects import Rejects

__all__ = [
    "FileSource",
    "KafkaSource",
    "Oversized",
    "RosterCounts",
    "Source",
    "SourceChunk",
    "describe",
    "load_roster_file",
    "load_roster_topic",
]


@dataclass(frozen=True, slots=True)
class Oversized:
    """A line (or record) over the size limit: where, how long, its hash and first bytes."""

    ref: int
    size: int
    sha256: str
    prefix: bytes


@dataclass(slots=True)
class SourceChunk:
    """Lines to match, lines too long, where they came from and the position after them."""

    origin: dict[str, Any]
    ref_name: str
    lines: list[tuple[int, bytes]] = field(default_factory=list)
    oversized: list[Oversized] = field(default_factory=list)
    position: dict[str, Any] = field(default_factory=dict)
    progress: int = 0

    @property
    def read(self) -> int:
        """Lines or records read in this chunk."""
        return len(self.lines) + len(self.oversized)


class Source(Protocol):
    """Where events come from, in a fixed order, chunk by chunk."""

    total: int

    def chunks(self, position: dict[str, Any]) -> Iterator[SourceChunk]:
        """Yield chunks from ``position`` (``{}``: the start) to the end."""
        ...


def describe(data: bytes, *, max_bytes: int) -> dict[str, Any]:
    """What a reject keeps of a line: the whole of it, or past ``max_bytes`` a digest.

    Example:
        >>> describe(b"abc", max_bytes=2)["size"], "raw" in describe(b"abc", max_bytes=8)
        (3, True)
    """
    if len(data) <= max_bytes:
        return {"raw": data.decode("utf-8", "replace")}
    return {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "prefix": data[:PREFIX_BYTES].decode("utf-8", "replace"),
    }


class FileSource:
    """Event lines from JSONL files (plain or gzip), one after the other.

    Position: ``{"file": index, "line": number, "offset": bytes}`` of the next line.
    """

    def __init__(self, paths: Sequence[Path], *, max_bytes: int, chunk_lines: int) -> None:
        self._paths = list(paths)
        self._max_bytes = max_bytes
        self._chunk_lines = chunk_lines
        self._sizes = [p.stat().st_size for p in self._paths]
        self.total = sum(self._sizes) or 1

    def chunks(self, position: dict[str, Any]) -> Iterator[SourceChunk]:
        """Yield chunks of ``chunk_lines`` lines from ``position`` on."""
        first = int(position.get("file", 0))
        for index in range(first, len(self._paths)):
            line, offset = position.get("line", 0), position.get("offset", 0)
            if index != first:
                line = offset = 0
            yield from self._file_chunks(index, int(line), int(offset))

    def _file_chunks(self, index: int, line: int, offset: int) -> Iterator[SourceChunk]:
        path = self._paths[index]
        done_before = sum(self._sizes[:index])
        handle, lines = open_lines(
            path, max_bytes=self._max_bytes, start_line=line, start_offset=offset
        )
        try:
            chunk, held = self._new(index, line, offset), 0
            # The hot loop (every input line): the position is set once a chunk, not per line.
            take = chunk.lines.append
            for item in lines:
                if item.data is None:
                    chunk.oversized.append(
                        Oversized(item.number, item.size, item.sha256 or "", item.prefix)
                    )
                else:
                    take((item.number, item.data))
                held += 1
                if held >= self._chunk_lines:
                    chunk.position = {"file": index, "line": item.number, "offset": item.end}
                    chunk.progress = done_before + handle.raw_position()
                    yield chunk
                    chunk, held = self._new(index, item.number, item.end), 0
                    take = chunk.lines.append
            # The file's end, even with nothing left in it: the next file starts from 0.
            chunk.position = {"file": index + 1, "line": 0, "offset": 0}
            chunk.progress = done_before + self._sizes[index]
            yield chunk
        finally:
            handle.close()

    def _new(self, index: int, line: int, offset: int) -> SourceChunk:
        chunk = SourceChunk({"file": str(self._paths[index])}, "line")
        chunk.position = {"file": index, "line": line, "offset": offset}
        return chunk


class KafkaSource:
    """Event records of the feed topics over fixed offset ranges, one partition after another.

    Position: ``{"range": index, "offset": next offset}``.
    """

    def __init__(
        self, history: FeedHistory, ranges: Sequence[PartitionRange], *, chunk_records: int
    ) -> None:
        self._history = history
        self.ranges = list(ranges)
        self._chunk = chunk_records
        self.total = sum(r.size for r in self.ranges) or 1

    def chunks(self, position: dict[str, Any]) -> Iterator[SourceChunk]:
        """Yield chunks of records from ``position`` on."""
        first = int(position.get("range", 0))
        for index in range(first, len(self.ranges)):
            part = self.ranges[index]
            start = int(position.get("offset", part.start)) if index == first else part.start
            before = sum(r.size for r in self.ranges[:index])
            origin = {"topic": part.topic, "partition": part.partition}
            for batch in self._history.read(part, start=start, max_records=self._chunk):
                chunk = SourceChunk(origin, "offset", [(r.offset, r.value or b"") for r in batch])
                chunk.position = {"range": index, "offset": batch[-1].offset + 1}
                chunk.progress = before + batch[-1].offset + 1 - part.start
                yield chunk
            yield SourceChunk(
                origin, "offset", position={"range": index + 1}, progress=before + part.size
            )


@dataclass
class RosterCounts:
    """Roster records read, rejected, and the people traced after the load."""

    records: int = 0
    bad: int = 0
    watched: int = 0


def load_roster_file(
    matcher: Matcher, path: Path, *, max_bytes: int, rejects: Rejects
) -> RosterCounts:
    """Apply every roster line in file order (the latest record of a person wins)."""
    counts = RosterCounts()
    handle, lines = open_lines(path, max_bytes=max_bytes)
    try:
        for line in lines:
            counts.records += 1
            origin = {"file": str(path), "line": line.number}
            if line.data is None:
                why = {
                    "size": line.size,
                    "sha256": line.sha256,
                    "prefix": line.prefix.decode("utf-8", "replace"),
                }
                _roster_reject(counts, rejects, origin, "oversized", why)
                continue
            reason = _apply(matcher, _roster_raw(line.data))
            if reason is not None:
                _roster_reject(
                    counts, rejects, origin, reason, describe(line.data, max_bytes=max_bytes)
                )
    finally:
        handle.close()
    counts.watched = len(matcher)
    return counts


def load_roster_topic(
    matcher: Matcher, history: FeedHistory, topic: str, *, max_bytes: int, rejects: Rejects
) -> RosterCounts:
    """Apply the whole roster topic, partition by partition in offset order.

    Applied in order, the latest valid record of each key wins, and a tombstone removes the
    person, as in the worker (``streams/roster.py``): an invalid record leaves the person as
    they were.
    """
    counts = RosterCounts()
    for part in history.ranges([topic], since_ms=None, until_ms=None):
        for batch in history.read(part):
            for record in batch:
                counts.records += 1
                origin = {"topic": topic, "partition": part.partition, "offset": record.offset}
                reason = _apply_record(matcher, record, max_bytes)
                if reason is not None:
                    _roster_reject(
                        counts, rejects, origin, reason, {"size": len(record.value or b"")}
                    )
    counts.watched = len(matcher)
    return counts


def _apply_record(matcher: Matcher, record: FeedRecord, max_bytes: int) -> str | None:
    if record.value is None:
        if not record.key:
            return "tombstone_without_key"
        # A tombstone deletes the person: read as a minimal `closed` record, as the worker does.
        return _apply(matcher, _tombstone(record.key))
    if len(record.value) > max_bytes:
        return "oversized"
    return _apply(matcher, _roster_raw(record.value))


def _tombstone(key: bytes) -> dict[str, Any]:
    return {
        "person_id": key.decode("utf-8", "replace"),
        "name": "-",
        "status": "closed",
        "status_changed_at": "1970-01-01T00:00:00+00:00",
    }


def _roster_raw(data: bytes) -> dict[str, Any] | str:
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        return "not_json"
    return raw if isinstance(raw, dict) else "not_object"


def _apply(matcher: Matcher, raw: dict[str, Any] | str) -> str | None:
    if isinstance(raw, str):
        return raw
    change = matcher.apply_roster(raw)
    return change.reason if change.action == "invalid" else None


def _roster_reject(
    counts: RosterCounts,
    rejects: Rejects,
    origin: dict[str, Any],
    reason: str,
    details: dict[str, Any],
) -> None:
    counts.bad += 1
    rejects.add(origin, reason, **details)
