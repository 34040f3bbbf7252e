"""Chunks of input lines through the :class:`Matcher`, in this process or in worker processes.

A chunk is a list of ``(ref, bytes)`` (``ref``: the line number, or the Kafka offset); what
comes back is a :class:`ChunkResult`: how many events were matched, the invalid lines with
their reasons, and the leads, each already encoded as its JSON line with the run's ``run_id``
(encoding in the workers keeps the parent, which writes in order, light).

Worker processes are forked after the parent built the :class:`ChunkMatcher` (the roster
loaded once, the watchlist frozen out of the GC's reach): each worker holds it from the fork,
copy on write, and never rebuilds it. :class:`MatchPool` keeps at most ``2 x workers`` chunks
in flight and hands results back in submission order, so the output is the same whatever the
number of workers.

While a pool lives, the cyclic garbage collector runs rarely (:data:`GC_THRESHOLDS`): matching
allocates a few hundred objects an event, nearly none in cycles, and the default thresholds
made it scan the matchers' growing value caches over and over (10 to 20 % of a core).
"""

from __future__ import annotations

import gc
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.pool import AsyncResult, Pool
from typing import Any, Final

import orjson
from matchers.errors import InvalidRecord, TracerError
from matchers.records import OccurredAtLimit, parse_event_bytes
from matchers.watchlist.matcher import Matcher

from batch.sinks import BatchLead

__all__ = [
    "CHUNK_TIMEOUT_S",
    "GC_THRESHOLDS",
    "ChunkMatcher",
    "ChunkResult",
    "MatchPool",
    "WorkerLost",
    "order_dependent",
]

#: Longest wait for one chunk's result (about a thousand times what a chunk takes).
CHUNK_TIMEOUT_S: Final = 900.0

#: The cyclic GC's thresholds while matching (CPython's are 700, 10, 10): a young collection
#: every 100k net allocations, which also bounds the garbage cycles left waiting.
GC_THRESHOLDS: Final = (100_000, 50, 100)


class WorkerLost(TracerError):
    """A matching process gave no result for a chunk in time (killed, or stuck)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"a matching process gave no result in {seconds:.0f}s (killed?); "
            "run the same command with --resume to continue from the last checkpoint"
        )


Chunk = Sequence[tuple[int, bytes]]


@dataclass(slots=True)
class ChunkResult:
    """What one chunk gave: matched events, invalid lines, leads (each with its line's ref).

    ``keys`` are the ``(source, event_id)`` of the events matched (the run's scope: a lead of
    one of them the run no longer makes no longer qualifies).
    """

    events: int = 0
    before_trace: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    leads: list[tuple[int, BatchLead]] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)


class ChunkMatcher:
    """Matches chunks of event lines with one loaded :class:`Matcher`.

    Args:
        matcher: the matcher, its roster applied.
        not_after: the latest ``occurred_at`` accepted (read once per run, as the worker does
            once per batch).
        run_id: written on every lead.
        max_event_bytes: the largest event accepted (``oversized`` past it).
    """

    def __init__(
        self, matcher: Matcher, *, not_after: OccurredAtLimit, run_id: str, max_event_bytes: int
    ) -> None:
        self.matcher = matcher
        self._not_after = not_after
        self._run_id = run_id
        self._parse = partial(parse_event_bytes, max_bytes=max_event_bytes, check_envelope=False)

    def __call__(self, chunk: Chunk) -> ChunkResult:
        """Match every line of the chunk; never raises for a bad line."""
        result = ChunkResult()
        match, parse, not_after = self.matcher.match, self._parse, self._not_after
        for ref, data in chunk:
            try:
                # The envelope is checked by the matcher, with the stream's reasons.
                raw = parse(data)
                outcome = match(raw, not_after=not_after)
            except InvalidRecord as exc:
                result.invalid.append((ref, exc.reason))
                continue
            result.events += 1
            # The envelope passed: ``source`` is one of the known names, as the lead has it.
            result.keys.append((raw["source"], outcome.event_id))
            result.before_trace += outcome.before_trace
            for lead in outcome.leads:
                result.leads.append((ref, self._encode(lead)))
        return result

    def _encode(self, lead: dict[str, Any]) -> BatchLead:
        lead["run_id"] = self._run_id
        line = orjson.dumps(lead, option=orjson.OPT_SORT_KEYS) + b"\n"
        return BatchLead(lead["lead_id"], lead["event_digest"], lead["tier"], line)


def order_dependent(matcher: Matcher) -> bool:
    """Whether scores depend on which events one matcher saw before (TF counted over events).

    Such a model cannot be split over processes without changing scores: the job then runs
    on one core.
    """
    tf = matcher.model.tf
    return tf.mode == "events" and not tf.table


_IGNORE_INT = (signal.SIGINT, signal.SIG_IGN)

# The forked workers' matcher: set in the parent just before the pool forks.
_WORKER: ChunkMatcher | None = None


def _match_in_worker(chunk: Chunk) -> ChunkResult:
    assert _WORKER is not None, "MatchPool sets it before forking"
    return _WORKER(chunk)


class MatchPool:
    """Runs a :class:`ChunkMatcher` on ``workers`` processes (or inline for one), in order.

    Args:
        chunk_matcher: what each chunk goes through.
        workers: processes; ``1`` matches inline, in this process.
    """

    def __init__(self, chunk_matcher: ChunkMatcher, *, workers: int) -> None:
        global _WORKER  # noqa: PLW0603 -- handed to the forked workers, not shared state
        self._inline = chunk_matcher
        self.workers = workers
        self._pool: Pool | None = None
        self._pending: deque[tuple[Any, AsyncResult[ChunkResult]]] = deque()
        # Before the fork: the workers inherit the thresholds; close() gives back the old ones.
        self._gc_before: tuple[int, int, int] | None = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        if workers > 1:
            _WORKER = chunk_matcher
            # fork: the workers inherit the loaded watchlist instead of building it again.
            # Ctrl-C is the parent's to handle (a checkpoint, then exit), not each worker's.
            context = multiprocessing.get_context("fork")
            self._pool = context.Pool(workers, initializer=signal.signal, initargs=_IGNORE_INT)

    def submit(self, chunk: Chunk, tag: Any, done: Callable[[Any, ChunkResult], None]) -> None:
        """Queue a chunk; call ``done(tag, result)`` for the chunks finished, in order."""
        if self._pool is None:
            done(tag, self._inline(chunk))
            return
        self._pending.append((tag, self._pool.apply_async(_match_in_worker, (chunk,))))
        while len(self._pending) >= 2 * self.workers:
            self._finish_one(done)

    def drain(self, done: Callable[[Any, ChunkResult], None]) -> None:
        """Wait for every chunk in flight, in order."""
        while self._pending:
            self._finish_one(done)

    def _finish_one(self, done: Callable[[Any, ChunkResult], None]) -> None:
        tag, pending = self._pending.popleft()
        try:
            # Bounded: a worker killed mid-chunk (the OOM killer) leaves its result unset.
            result = pending.get(timeout=CHUNK_TIMEOUT_S)
        except multiprocessing.TimeoutError as exc:
            raise WorkerLost(CHUNK_TIMEOUT_S) from exc
        done(tag, result)

    def close(self, *, abort: bool = False) -> None:
        """Stop the workers (``abort``: without waiting for chunks in flight)."""
        if self._gc_before is not None:
            gc.set_threshold(*self._gc_before)
            self._gc_before = None
        if self._pool is not None:
            if abort:
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None
