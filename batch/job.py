"""The reprocessing job: chunks from a source, matched in order, to sinks, with checkpoints.

::

    job = Job(source, pool, sinks={"leads": JsonlLeadSink(out)}, rejects=rejects,
              state=JobState.fresh(run_id, inputs), checkpoint_path=cp, checkpoint_every=50_000)
    tally = job.run(on_progress=bar.update)

The stream's rules hold in memory (docs/design.md, "Duplicates and late drop-outs"): the first
event in input order that makes a lead id writes it; a later lead of that id with the same
``event_digest`` is a redelivery (counted), with another a ``conflicting_duplicate`` reject.

Every ``checkpoint_every`` events, after a chunk, the sinks and the rejects are synced and the
checkpoint replaced: the source's position after that chunk, each output's size, the counts. A
job killed at any moment resumes from it (:meth:`JobState.resumed`): the outputs are truncated
back to those sizes, the lead ids written so far are read back from the leads file, and the
source continues where the checkpoint says, so no line is matched twice or skipped.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from connectors.elasticsearch import CONFLICTING_DUPLICATE
from connectors.errors import InputFileError

from batch.checkpoint import Checkpoint, save_checkpoint
from batch.matching import ChunkResult, MatchPool
from batch.rejects import RejectsFile
from batch.sinks import BatchLead, LeadSink
from batch.sources import Source, SourceChunk, describe

__all__ = ["Interrupted", "Job", "JobState", "Tally", "read_lead_ids"]


class Interrupted(Exception):
    """The job was stopped by SIGINT after a checkpoint; ``read`` lines were done."""

    def __init__(self, read: int) -> None:
        super().__init__(f"interrupted after {read} lines")
        self.read = read


class _StopFlag:
    """SIGINT sets a flag the job reads between chunks; a second one interrupts at once."""

    def __init__(self) -> None:
        self.raised = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only: nothing to install
            return
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _handle(self, _signum: int, _frame: object) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True


@dataclass
class Tally:
    """The job's counters (kept in checkpoints)."""

    read: int = 0
    events: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    tiers: Counter[str] = field(default_factory=Counter)
    redelivered: int = 0
    conflicting: int = 0
    before_trace: int = 0

    @property
    def leads(self) -> int:
        """Leads written."""
        return sum(self.tiers.values())

    def as_dict(self) -> dict[str, Any]:
        """The counters as JSON-ready values."""
        return {
            "read": self.read,
            "events": self.events,
            "invalid": dict(self.invalid),
            "tiers": dict(self.tiers),
            "redelivered": self.redelivered,
            "conflicting": self.conflicting,
            "before_trace": self.before_trace,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Tally:
        """Read counters back from :meth:`as_dict`."""
        tally = cls(**{k: v for k, v in value.items() if k not in ("invalid", "tiers")})
        tally.invalid = Counter(value.get("invalid", {}))
        tally.tiers = Counter(value.get("tiers", {}))
        return tally


@dataclass
class JobState:
    """Where a job starts: its checkpoint, counters and the lead ids already written."""

    checkpoint: Checkpoint
    tally: Tally
    seen: dict[str, str]

    @classmethod
    def fresh(cls, run_id: str, inputs: dict[str, Any]) -> JobState:
        """A job from the start."""
        return cls(Checkpoint(run_id, inputs), Tally(), {})

    @classmethod
    def resumed(cls, checkpoint: Checkpoint, leads_file: Path | None) -> JobState:
        """A job from its checkpoint; lead ids read back from the leads file's kept part."""
        seen = {} if leads_file is None else read_lead_ids(leads_file, checkpoint.sizes["leads"])
        return cls(checkpoint, Tally.from_dict(checkpoint.counts), seen)


def read_lead_ids(path: Path, size: int) -> dict[str, str]:
    """``lead_id`` -> ``event_digest`` of the leads in the first ``size`` bytes of a leads file.

    Raises:
        InputFileError: the file is missing or shorter than ``size``.
    """
    seen: dict[str, str] = {}
    taken = 0
    try:
        with path.open("rb") as handle:
            # Line by line: the leads file of a long run need not fit in memory twice.
            for line in handle:
                if taken + len(line) > size:
                    break
                taken += len(line)
                lead = orjson.loads(line)
                seen[lead["lead_id"]] = lead["event_digest"]
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the leads to resume ({exc.strerror})") from exc
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputFileError(f"{path}: not the leads its checkpoint wrote; start again") from exc
    if taken < size:
        raise InputFileError(f"{path}: shorter than its checkpoint says; start again")
    return seen


class Job:
    """One run of the job over a source (see the module's docstring).

    Args:
        source: where events come from.
        pool: matches chunks (inline or in worker processes), in order.
        sinks: where new leads go, by name (``leads``: the JSONL file).
        rejects: where unusable lines and conflicting duplicates go.
        state: a fresh or a resumed state.
        checkpoint_path: where checkpoints are written.
        checkpoint_every: events between two checkpoints.
        max_event_bytes: lines over this are kept as prefix + hash in the rejects.
    """

    def __init__(
        self,
        source: Source,
        pool: MatchPool,
        *,
        sinks: dict[str, LeadSink],
        rejects: RejectsFile,
        state: JobState,
        checkpoint_path: Path,
        checkpoint_every: int,
        max_event_bytes: int,
    ) -> None:
        self._source = source
        self._pool = pool
        self._sinks = sinks
        self._rejects = rejects
        self.state = state
        self.tally = state.tally
        self._checkpoint_path = checkpoint_path
        self._every = checkpoint_every
        self._max_bytes = max_event_bytes
        self._since_checkpoint = 0
        self._on_progress: Callable[[int], None] = lambda _done: None
        self.done = False

    def run(self, *, on_progress: Callable[[int], None] | None = None) -> Tally:
        """Read, match and write to the end; checkpoint on the way and once done.

        SIGINT (Ctrl-C) stops reading: the chunks in flight are finished and written, a
        checkpoint saved, then :class:`Interrupted` is raised. A second SIGINT interrupts at
        once (the last checkpoint stays valid: a resume truncates what came after it).

        Raises:
            Interrupted: SIGINT; the checkpoint says where to resume.
        """
        self._on_progress = on_progress or self._on_progress
        stop = _StopFlag()
        with stop.installed():
            chunks: Iterator[SourceChunk] = self._source.chunks(self.state.checkpoint.position)
            for chunk in chunks:
                self._pool.submit(chunk.lines, chunk, self._finish)
                if stop.raised:
                    break
            self._pool.drain(self._finish)
            self._pool.close()
            self._save(done=not stop.raised)
        if stop.raised:
            raise Interrupted(self.tally.read)
        self.done = True
        return self.tally

    def _finish(self, chunk: SourceChunk, result: ChunkResult) -> None:
        tally = self.tally
        tally.read += chunk.read
        tally.events += result.events
        tally.before_trace += result.before_trace
        self._reject_lines(chunk, result)
        fresh = self._new_leads(chunk, result)
        for sink in self._sinks.values():
            if fresh:
                sink.write(fresh)
            sink.note_events(result.keys)
        self.state.checkpoint.position = chunk.position
        self._since_checkpoint += chunk.read
        if self._since_checkpoint >= self._every:
            self._save(done=False)
        self._on_progress(chunk.progress)

    def _reject_lines(self, chunk: SourceChunk, result: ChunkResult) -> None:
        data = dict(chunk.lines) if result.invalid else {}
        found = [
            (ref, reason, describe(data[ref], max_bytes=self._max_bytes))
            for ref, reason in result.invalid
        ]
        for line in chunk.oversized:
            details = {
                "size": line.size,
                "sha256": line.sha256,
                "prefix": line.prefix.decode("utf-8", "replace"),
            }
            found.append((line.ref, "oversized", details))
        for ref, reason, details in sorted(found, key=lambda item: item[0]):
            self.tally.invalid[reason] += 1
            self._rejects.add(chunk.origin | {chunk.ref_name: ref}, reason, **details)

    def _new_leads(self, chunk: SourceChunk, result: ChunkResult) -> list[BatchLead]:
        fresh: list[BatchLead] = []
        seen = self.state.seen
        data: dict[int, bytes] | None = None
        for ref, lead in result.leads:
            known = seen.get(lead.lead_id)
            if known is None:  # create-only, as in the index: the first one stays
                seen[lead.lead_id] = lead.event_digest
                self.tally.tiers[lead.tier] += 1
                fresh.append(lead)
            elif known == lead.event_digest:
                self.tally.redelivered += 1
            else:
                self.tally.conflicting += 1
                data = data if data is not None else dict(chunk.lines)
                details = describe(data[ref], max_bytes=self._max_bytes)
                self._rejects.add(
                    chunk.origin | {chunk.ref_name: ref},
                    CONFLICTING_DUPLICATE,
                    lead_id=lead.lead_id,
                    **details,
                )
        return fresh

    def _save(self, *, done: bool) -> None:
        checkpoint = self.state.checkpoint
        checkpoint.sizes = {name: sink.flush() for name, sink in self._sinks.items()}
        checkpoint.sizes["rejects"] = self._rejects.flush()
        checkpoint.sinks = {name: sink.counts() for name, sink in self._sinks.items()}
        checkpoint.counts = self.tally.as_dict()
        checkpoint.done = done
        save_checkpoint(self._checkpoint_path, checkpoint)
        self._since_checkpoint = 0
