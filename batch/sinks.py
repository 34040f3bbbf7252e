"""Where the job's leads go: the :class:`LeadSink` port, a JSONL file, Elasticsearch.

Leads reach a sink in input order, once each (the job keeps the first lead of an id, as the
index's create-only write does), already encoded by the worker that matched them
(:class:`BatchLead`). ``flush`` makes what was written durable and returns the sink's
position (a checkpoint's ``sizes``); ``close`` returns the sink's counts for the summary.

``ElasticsearchLeadSink`` is the adapter to the ``store`` helper's
``connectors.lead_store.LeadStore`` (``refresh`` machine fields of leads, ``mark_not_qualifying``
the ones this run no longer finds). INTEGRATION POINT: until that API is merged the command
refuses ``--elasticsearch`` with one line (``tracer/commands/reprocess.py``); this class is
the one place to wire, through the :class:`LeadRefresher` shape it expects. The store's API as
committed on its branch (read at 12:10 UTC) differs in three ways a small sync facade absorbs:
its methods are ``async`` (one ``asyncio.Runner`` for the job's life), ``refresh`` returns a
``RefreshCounts`` dataclass (``created``, ``refreshed``, ``unchanged``, ``kept_reviewed``,
``duplicates``, ``unresolved``, ``rejected``), and ``mark_not_qualifying(scope, produced_ids,
*, run_id)`` needs the run's scope (``EventScope`` of every ``(source, event_id)`` read, or
``TimeScope`` by ``occurred_at``) and the lead ids it produced.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import orjson
from connectors.errors import InputFileError

__all__ = ["BatchLead", "ElasticsearchLeadSink", "JsonlLeadSink", "LeadRefresher", "LeadSink"]


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

    def flush(self) -> int:
        """Make everything written durable; return the position to resume from."""
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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            os.ftruncate(fd, keep)
            os.lseek(fd, keep, os.SEEK_SET)
        except OSError as exc:
            raise InputFileError(f"{path}: cannot write ({exc.strerror or exc})") from exc
        self._handle: IO[bytes] = os.fdopen(fd, "wb", buffering=1 << 20)
        self.written = 0

    def write(self, leads: Sequence[BatchLead]) -> None:
        """Append the leads' lines."""
        self._handle.writelines(lead.line for lead in leads)
        self.written += len(leads)

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


class LeadRefresher(Protocol):
    """The shape :class:`ElasticsearchLeadSink` expects of ``connectors.lead_store.LeadStore``.

    ``refresh`` writes machine fields of the leads (creating the missing ones, never touching
    review state or a confirmed / rejected lead) and returns counts by outcome (``created``,
    ``refreshed``, ``unchanged``, ...); ``mark_not_qualifying`` sets ``qualifies: false`` on
    the leads of this model no run ``run_id`` wrote (``superseded``), returning how many.
    """

    def refresh(
        self, leads: Sequence[Mapping[str, Any]], *, run_id: str, model_version: str
    ) -> Mapping[str, int]:
        """Write machine fields; return counts by outcome."""
        ...

    def mark_not_qualifying(self, *, run_id: str, model_version: str) -> int:
        """Mark leads this run did not find; return how many."""
        ...


class ElasticsearchLeadSink:
    """Leads to Elasticsearch through the lead store, in bulks of ``batch_size``.

    Args:
        store: the lead store (see :class:`LeadRefresher`).
        run_id: this run's id.
        model_version: the model the run matches with.
        batch_size: leads per ``refresh`` call (bounds a request).
    """

    def __init__(
        self, store: LeadRefresher, *, run_id: str, model_version: str, batch_size: int = 500
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._model_version = model_version
        self._batch_size = batch_size
        self._pending: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.written = 0

    def write(self, leads: Sequence[BatchLead]) -> None:
        """Queue the leads; refresh a bulk each time ``batch_size`` are waiting."""
        self._pending.extend(orjson.loads(lead.line) for lead in leads)
        while len(self._pending) >= self._batch_size:
            self._send(self._pending[: self._batch_size])
            del self._pending[: self._batch_size]

    def flush(self) -> int:
        """Refresh what is waiting; return how many leads were sent so far."""
        if self._pending:
            self._send(self._pending)
            self._pending = []
        return self.written

    def close(self, *, complete: bool = True) -> dict[str, int]:
        """Send the rest, mark what this run no longer finds; return counts by outcome."""
        self.flush()
        if not complete:
            return dict(self.counts)
        superseded = self._store.mark_not_qualifying(
            run_id=self._run_id, model_version=self._model_version
        )
        self.counts["superseded"] += superseded
        return dict(self.counts)

    def _send(self, leads: list[dict[str, Any]]) -> None:
        outcome = self._store.refresh(leads, run_id=self._run_id, model_version=self._model_version)
        self.counts.update(outcome)
        self.written += len(leads)
