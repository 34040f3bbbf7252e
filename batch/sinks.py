"""Where the job's leads go: the :class:`LeadSink` port, a JSONL file, Elasticsearch.

Leads reach a sink in input order, once each (the job keeps the first lead of an id, as the
index's create-only write does), already encoded by the worker that matched them
(:class:`BatchLead`). ``flush`` makes what was written durable and returns the sink's
position (a checkpoint's ``sizes``); ``close`` returns the sink's counts for the summary.

``ElasticsearchLeadSink`` writes through ``connectors.lead_store.LeadStore`` (async, driven
from this synchronous job by one ``asyncio.Runner`` for the sink's life): ``refresh`` per bulk of
``batch_size`` leads (machine fields only; a confirmed / rejected lead is never touched), and,
at the end of a *complete* run only, ``mark_not_qualifying`` over the run's scope.

The scope is an ``EventScope`` of every ``(source, event_id)`` the run read, never a
``TimeScope``: a time-range job selects messages by their Kafka timestamp, not by the events'
``occurred_at``, so a time scope would mark leads of late or early events the run never read.
To keep memory bounded whatever the run's size, the pairs are spilled to a scope file next to
the leads (one JSON pair a line, truncated back to a checkpoint's size on resume like every
output) and read back in slices of ``scope_slice`` pairs, one ``mark_not_qualifying`` each.
The lead ids produced are the job's own ``seen`` map (the whole run's, resumed ones included).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Final, Protocol

import orjson
from connectors.errors import RetryGaveUp, ServiceUnavailable
from connectors.files import open_private
from connectors.lead_plan import EventScope, RefreshCounts, Scope

__all__ = ["AsyncLeadStore", "BatchLead", "ElasticsearchLeadSink", "JsonlLeadSink", "LeadSink"]

#: The counts an Elasticsearch run reports (``RefreshCounts``' numbers, ``rejected`` as a count).
COUNT_NAMES: Final = tuple(f.name for f in fields(RefreshCounts))


@dataclass(frozen=True, slots=True)
class BatchLead:
    """One lead as the job moves it: its id, digest and tier, and its JSON line (sorted keys)."""

    lead_id: str
    event_digest: str
    tier: str
    line: bytes


class LeadSink(Protocol):
    """Takes the job's leads."""

    def write(self, leads: Sequence[BatchLead]) -> None:
        """Take a chunk's new leads, in order."""
        ...

    def note_events(self, keys: Sequence[tuple[str, str]]) -> None:
        """Take a chunk's ``(source, event_id)`` pairs read (the run's scope)."""
        ...

    def flush(self) -> int:
        """Make everything written durable; return the position to resume from."""
        ...

    def counts(self) -> dict[str, int]:
        """The sink's counts so far (kept in checkpoints)."""
        ...

    def close(self, *, complete: bool = True) -> dict[str, int]:
        """Finish (flush, close) and return the sink's counts.

        Args:
            complete: the job ran to its end (an interrupted one is resumed later: nothing
                may be concluded from what it did not write).
        """
        ...


class JsonlLeadSink:
    """Leads to a JSONL file, one per line, truncated back to a checkpoint's size on resume.

    Args:
        path: the file (its folder is created).
        keep: bytes of an earlier run to keep (``0``: start afresh).

    Raises:
        InputFileError: the file cannot be created or written.
    """

    def __init__(self, path: Path, *, keep: int = 0) -> None:
        self.path = path
        self._handle = open_private(path, keep=keep, buffering=1 << 20)
        self.written = 0

    def write(self, leads: Sequence[BatchLead]) -> None:
        """Append the leads' lines."""
        self.write_lines([lead.line for lead in leads])

    def write_lines(self, lines: Sequence[bytes]) -> None:
        """Append lines (each ending in a newline)."""
        self._handle.writelines(lines)
        self.written += len(lines)

    def note_events(self, keys: Sequence[tuple[str, str]]) -> None:
        """Nothing: a file concludes nothing from what was read."""
        del keys

    def counts(self) -> dict[str, int]:
        """``{"written": n}`` (this run's lines)."""
        return {"written": self.written}

    def flush(self) -> int:
        """Sync to disk; return the file's size."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return self._handle.tell()

    def close(self, *, complete: bool = True) -> dict[str, int]:
        """Close the file; return ``{"written": n}`` (this run's lines)."""
        del complete  # a file has nothing to conclude
        self._handle.close()
        return {"written": self.written}


class AsyncLeadStore(Protocol):
    """What :class:`ElasticsearchLeadSink` uses of ``connectors.lead_store.LeadStore``."""

    async def refresh(
        self, leads: Iterable[Mapping[str, Any]], *, run_id: str, model_version: str
    ) -> RefreshCounts:
        """Create or refresh machine fields; never touch a decided lead."""
        ...

    async def mark_not_qualifying(
        self, scope: Scope, produced_ids: Iterable[str], *, run_id: str
    ) -> RefreshCounts:
        """Mark ``qualifies: false`` the leads of ``scope`` not in ``produced_ids``."""
        ...

    async def close(self) -> None:
        """Close the client."""
        ...


class ElasticsearchLeadSink:
    """Leads to Elasticsearch through the lead store (see the module docstring).

    Args:
        store: the lead store; closed with the sink.
        run_id: this run's id.
        model_version: the model the run matches with.
        produced: the job's lead ids so far (its ``seen`` map, read at the end).
        scope_path: where the pairs read are spilled.
        keep: bytes of the scope file an earlier run keeps (``0``: start afresh).
        counts: the counts an earlier run reached at its checkpoint.
        batch_size: leads per ``refresh`` call (bounds a request and the memory held).
        scope_slice: pairs per ``mark_not_qualifying`` call (bounds the memory at the end).

    Raises:
        InputFileError: the scope file cannot be created.
    """

    def __init__(
        self,
        store: AsyncLeadStore,
        *,
        run_id: str,
        model_version: str,
        produced: Mapping[str, str],
        scope_path: Path,
        keep: int = 0,
        counts: Mapping[str, int] | None = None,
        batch_size: int = 500,
        scope_slice: int = 50_000,
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._model_version = model_version
        self._produced = produced
        self._batch_size = batch_size
        self._slice = scope_slice
        self._pending: list[dict[str, Any]] = []
        self._counts = {name: int((counts or {}).get(name, 0)) for name in COUNT_NAMES}
        self._runner = asyncio.Runner()
        self._failed = False  # a refresh failed: close sends nothing more
        self._scope = JsonlLeadSink(scope_path, keep=keep)

    def write(self, leads: Sequence[BatchLead]) -> None:
        """Queue the leads; refresh a bulk each time ``batch_size`` are waiting."""
        self._pending.extend(orjson.loads(lead.line) for lead in leads)
        while len(self._pending) >= self._batch_size:
            self._send(self._pending[: self._batch_size])
            del self._pending[: self._batch_size]

    def note_events(self, keys: Sequence[tuple[str, str]]) -> None:
        """Spill the pairs read to the scope file."""
        self._scope.write_lines([orjson.dumps(key) + b"\n" for key in keys])

    def flush(self) -> int:
        """Refresh what is waiting, sync the scope file; return the scope file's size."""
        if self._pending:
            self._send(self._pending)
            self._pending = []
        return self._scope.flush()

    def counts(self) -> dict[str, int]:
        """Counts by outcome so far (earlier runs of a resumed job included)."""
        return dict(self._counts)

    def close(self, *, complete: bool = True) -> dict[str, int]:
        """Send the rest; after a complete run mark what it no longer finds; return the counts.

        The store's client is closed even when a request fails (the error goes on up).
        """
        try:
            if self._failed:  # what was not sent is past the last checkpoint: a resume redoes it
                self._scope.close()
                return self.counts()
            self.flush()
            self._scope.close()
            if complete:
                self._mark_all()
        finally:
            try:
                self._runner.run(self._store.close())
            finally:
                self._runner.close()
        return self.counts()

    def _mark_all(self) -> None:
        try:
            for scope in self._scope_slices():
                self._add(self._runner.run(self._mark(scope)))
        except RetryGaveUp as exc:
            raise ServiceUnavailable(
                f"Elasticsearch did not answer ({exc}) while marking the leads this run no "
                "longer finds; its leads are written: run the job again to mark them"
            ) from exc
        self._scope.path.unlink(missing_ok=True)  # scratch: the run is concluded

    async def _mark(self, scope: EventScope) -> RefreshCounts:
        return await self._store.mark_not_qualifying(
            scope, self._produced.keys(), run_id=self._run_id
        )

    def _scope_slices(self) -> Iterator[EventScope]:
        """The scope file's pairs, ``scope_slice`` at a time, line by line (never all held)."""
        pairs: set[tuple[str, str]] = set()
        with self._scope.path.open("rb") as handle:
            for line in handle:
                source, event_id = orjson.loads(line)
                pairs.add((source, event_id))
                if len(pairs) >= self._slice:
                    yield EventScope(frozenset(pairs))
                    pairs = set()
        if pairs:
            yield EventScope(frozenset(pairs))

    def _send(self, leads: list[dict[str, Any]]) -> None:
        refresh = self._store.refresh(leads, run_id=self._run_id, model_version=self._model_version)
        try:
            self._add(self._runner.run(refresh))
        except RetryGaveUp as exc:
            self._failed = True
            raise ServiceUnavailable(f"Elasticsearch did not answer ({exc})") from exc
        except BaseException:
            self._failed = True
            raise

    def _add(self, outcome: RefreshCounts) -> None:
        for name in COUNT_NAMES:
            value = getattr(outcome, name)
            self._counts[name] += len(value) if isinstance(value, tuple) else value
