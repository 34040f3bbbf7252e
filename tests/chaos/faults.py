"""The five faults, each one run on its own slice of the stack and ending in one table row.

Every fault follows the same course: simulate a roster and events (``tracer simulate``), compute
the expected leads (``tracer reprocess``), publish the roster, start the worker(s), stream the
events while the fault happens, wait for the pipeline to settle (bounded), then compare the
leads in Elasticsearch with the expected ones and count the dead letters by reason.

``kill``, ``two-workers`` and ``hostile`` need nothing but a running stack; ``kafka`` and
``elasticsearch`` stop a service, so they need a :class:`~tests.chaos.stack.PrivateStack`.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
from rich.console import Console
from rich.progress import Progress, TaskID

from connectors.event_archive import drop_event_archive
from connectors.lead_index import drop_lead_index
from connectors.topics import drop_topics
from contract import ALL_TOPICS
from tests.chaos.harness import (
    Feeder,
    Message,
    RssSampler,
    Slice,
    WorkerProcess,
    event_messages,
    reasons,
    settle,
)
from tests.chaos.hostile import catalogue, interleave
from tests.chaos.report import by_word
from tests.chaos.stack import PrivateStack
from tests.chaos.tally import FaultName, Row, compare
from tracer.settings import TracerSettings

__all__ = ["FAULTS", "Context", "Sizes", "run_fault"]

_READY_S = 180.0


@dataclass(frozen=True)
class Sizes:
    """How big and how long each fault run is (the defaults keep ``make chaos`` near 15 min)."""

    events: int = 25_000
    hostile_events: int = 100_000
    hostile_copies: int = 3
    people: int = 50_000
    watchlist: int = 2_000
    kill_runs: int = 5
    feed_seconds: float = 60.0
    kafka_down_s: float = 20.0
    elasticsearch_down_s: float = 60.0
    stall_s: float = 90.0
    deadline_s: float = 900.0
    seed: int = 7


@dataclass
class Context:
    """What every fault gets: the stack's settings, the stack itself (when private), sizes."""

    base: TracerSettings
    out: Path
    sizes: Sizes
    console: Console
    progress: Progress
    stack: PrivateStack | None = None
    keep: bool = False
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    started: list[WorkerProcess] = field(default_factory=list)

    def say(self, message: str) -> None:
        """One line of the run's story, above the progress bars."""
        self.progress.console.log(message, highlight=False, markup=False)


@dataclass
class _Run:
    """One fault in progress: its slice, expected leads, messages, workers and sampler."""

    ctx: Context
    fault: FaultName
    slice: Slice
    expected: list[dict[str, Any]]
    messages: list[Message]
    task: TaskID
    workers: list[WorkerProcess] = field(default_factory=list)
    probes: list[Slice] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sigterm_s: dict[str, float | None] = field(default_factory=dict)
    began: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.sampler = RssSampler(lambda: list(self.workers))
        self.sampler.start()

    def start_worker(self, name: str, *, wait: bool = True) -> WorkerProcess:
        worker = WorkerProcess(self.slice, name)
        self.workers.append(worker)
        self.ctx.started.append(worker)
        if wait and not worker.wait_ready(timeout=_READY_S):
            state = "running" if worker.alive() else f"exited ({worker.process.returncode})"
            self.note(f"{name} not ready after {_READY_S:.0f} s ({state})")
        return worker

    def start_probe(self) -> WorkerProcess:
        """A worker of its own group on the same topics, to be stopped while a service is away."""
        probe = self.slice.probe()
        self.probes.append(probe)
        worker = WorkerProcess(probe, "probe")
        self.ctx.started.append(worker)
        if not worker.wait_ready(timeout=_READY_S):
            self.note("probe worker not ready")
        return worker

    def sigterm_probe(self, worker: WorkerProcess, state: str) -> None:
        """SIGTERM the probe worker while it is stuck in ``state``; note how long it took."""
        took = worker.stop(grace_s=30.0)
        self.sigterm_s[state] = None if took is None else round(took, 1)
        ended = "not stopped after 30 s (killed)" if took is None else f"{took:.1f} s"
        self.note(f"SIGTERM of a worker {state}: {ended}")

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.ctx.say(f"[{self.fault}] {text}")

    def feeder(self, messages: list[Message] | None = None, *, rate: float | None = None) -> Feeder:
        chosen = self.messages if messages is None else messages
        pace = len(chosen) / self.ctx.sizes.feed_seconds if rate is None else rate
        feeder = Feeder(self.slice, chosen, rate=pace)
        feeder.start()
        return feeder

    def elapsed(self) -> float:
        return time.monotonic() - self.began


def _prepare(ctx: Context, fault: FaultName, events: int) -> _Run:
    sizes = ctx.sizes
    slice_ = Slice(ctx.base, fault, ctx.out / fault)
    task = ctx.progress.add_task(f"{fault}: simulate", total=None)
    slice_.simulate(events=events, people=sizes.people, watchlist=sizes.watchlist, seed=sizes.seed)
    ctx.progress.update(task, description=f"{fault}: reprocess")
    expected = slice_.expected()
    ctx.progress.update(task, description=f"{fault}: roster", total=len(expected), completed=0)
    slice_.tracer("produce", "--roster", str(slice_.roster))
    return _Run(ctx, fault, slice_, expected, event_messages(slice_.events), task)


def _indexed(slice_: Slice) -> str:
    count = slice_.lead_count()
    return "no index yet" if count is None else f"{count:,}"


def _tick(run: _Run) -> Callable[[int | None, int | None], None]:
    def tick(lag: int | None, leads: int | None) -> None:
        lag_text = "?" if lag is None else f"{lag:,}"
        run.ctx.progress.update(
            run.task,
            description=f"{run.fault}: settling, lag {lag_text}",
            completed=leads or 0,
        )

    return tick


def _wait_sent(run: _Run, feeder: Feeder, fraction: float) -> None:
    target = int(len(run.messages) * fraction)
    while feeder.sent < target and feeder.is_alive():
        run.ctx.progress.update(run.task, description=f"{run.fault}: feeding {feeder.sent:,}")
        time.sleep(0.2)


def _finish(
    run: _Run,
    *,
    runs: int,
    feeder: Feeder | None,
    extra_events: int = 0,
    more_notes: Callable[[list[dict[str, Any]]], str] | None = None,
) -> Row:
    sizes = run.ctx.sizes
    outcome = settle(
        run.slice,
        expected=len(run.expected),
        feeder=feeder,
        workers=run.workers,
        stall_s=sizes.stall_s,
        deadline_s=sizes.deadline_s,
        tick=_tick(run),
    )
    if feeder is not None and feeder.lost:
        run.note(f"{feeder.lost} messages never accepted by Kafka")
    if not outcome.drained:
        run.note(f"did not drain: {outcome.reason}, lag {outcome.lag}, leads {outcome.leads}")
    run.notes.append(_log_summary(run.workers))
    alive = [w.name for w in run.workers if w.alive()]
    dead = [f"{w.name} ({w.process.returncode})" for w in run.workers if not w.alive()]
    run.notes.append(f"running at the end: {', '.join(alive) or 'none'}")
    if dead:
        run.notes.append(f"exited: {', '.join(dead)}")
    comparison = compare(run.expected, run.slice.documents())
    letters = run.slice.dead_letters()
    _keep_letters(run.slice.folder / "deadletters.jsonl", letters)
    if more_notes is not None:
        run.notes.append(more_notes(letters))
    peak = run.sampler.halt()
    raw, repeats = reasons(letters)
    if repeats:
        run.notes.append(f"{repeats} dead letters repeat an original already dead-lettered")
    if len(raw) > len(by_word(raw)):
        # The contract wants a closed set of reasons: detail inside one is worth saying.
        run.notes.append(f"{len(raw)} distinct raw reason strings for {len(by_word(raw))} words")
    row = Row(
        fault=run.fault,
        runs=runs,
        events=len(run.messages) + extra_events,
        comparison=comparison,
        dead_letters=raw,
        peak_rss_mb=round(peak, 1),
        seconds=run.elapsed(),
        notes=run.notes,
        drained=outcome.drained,
        sigterm_s=run.sigterm_s,
    )
    _stop_workers(run, row)
    run.ctx.progress.update(
        run.task, description=f"{run.fault}: {'ok' if row.passed else 'FAILED'}"
    )
    if not run.ctx.keep:
        for each in (run.slice, *run.probes):
            _drop(each)
    return row


def _log_summary(workers: list[WorkerProcess]) -> str:
    """Warnings, errors and retried publishes in the workers' logs, summed over all of them."""
    counts: Counter[str] = Counter()
    for worker in workers:
        for line in worker.log().splitlines():
            for marker in ("[WARNING]", "[ERROR]", "Traceback", "publish failed"):
                if marker in line:
                    counts[marker.strip("[]")] += 1
    found = ", ".join(f"{marker} {n}" for marker, n in sorted(counts.items()))
    return f"worker logs: {found or 'no warning or error'}"


def _keep_letters(path: Path, letters: list[dict[str, Any]]) -> None:
    """Keep the dead letters for a look after the run, without the original bytes."""
    with path.open("wb") as out:
        for letter in letters:
            out.write(orjson.dumps({k: v for k, v in letter.items() if k != "value_b64"}) + b"\n")


def _stop_workers(run: _Run, row: Row) -> None:
    timings = []
    state = "at the end" if row.drained else "at the end, stuck"
    for worker in run.workers:
        if worker.alive():
            took = worker.stop(grace_s=20.0)
            row.sigterm_s[f"{worker.name} {state}"] = None if took is None else round(took, 1)
            timings.append(f"{worker.name} {'>20 s (killed)' if took is None else f'{took:.1f} s'}")
    if timings:
        row.notes.append(f"SIGTERM took: {', '.join(timings)}")


def _drop(slice_: Slice) -> None:
    with contextlib.suppress(Exception):  # best effort: a stopped service keeps its slice
        with slice_.es() as client:
            drop_lead_index(client, slice_.settings.leads_alias)
            drop_event_archive(client, slice_.settings.event_archive_alias)
        drop_topics(
            slice_.settings,
            [slice_.topic(t) for t in ALL_TOPICS],
            group=slice_.settings.consumer_group,
        )


# The faults ---------------------------------------------------------------------------------


def kill(ctx: Context) -> Row:
    """SIGKILL the worker at random points ``kill_runs`` times, restarting it each time."""
    run = _prepare(ctx, "kill", ctx.sizes.events)
    worker = run.start_worker("worker-1")
    feeder = run.feeder()
    for n in range(ctx.sizes.kill_runs):
        # From "ready" on: roster loaded, matching, writing and committing all under way.
        time.sleep(ctx.rng.uniform(0.2, 6.0))
        worker.kill()
        run.note(
            f"SIGKILL {n + 1} at {run.elapsed():.0f} s: {feeder.sent:,} of "
            f"{len(run.messages):,} sent, leads indexed: {_indexed(run.slice)}"
        )
        worker = run.start_worker(f"worker-{n + 2}")
    return _finish(run, runs=ctx.sizes.kill_runs, feeder=feeder)


def _needs_stack(ctx: Context, fault: str) -> PrivateStack:
    if ctx.stack is None:
        raise RuntimeError(f"the {fault} fault stops a service: it needs the private stack")
    return ctx.stack


def kafka(ctx: Context) -> Row:
    """Stop Kafka mid-stream for ``kafka_down_s``, then start it again."""
    stack = _needs_stack(ctx, "kafka")
    run = _prepare(ctx, "kafka", ctx.sizes.events)
    run.start_worker("worker")
    probe = run.start_probe()
    feeder = run.feeder()
    _wait_sent(run, feeder, 1 / 3)
    feeder.pause()  # the producers wait for Kafka too; the fault under test is the worker's
    begin = time.monotonic()
    try:
        stack.stop("kafka", lambda m: run.note(f"stop: {m}"))
        time.sleep(ctx.sizes.kafka_down_s / 2)
        run.sigterm_probe(probe, f"after {time.monotonic() - begin:.0f} s without Kafka")
        time.sleep(max(0.0, ctx.sizes.kafka_down_s - (time.monotonic() - begin)))
        stack.start("kafka", lambda m: run.note(f"start: {m}"))
    finally:
        feeder.resume()  # never leave the feeder waiting, even when the restart failed
    run.note(f"Kafka away for {time.monotonic() - begin:.0f} s")
    return _finish(run, runs=1, feeder=feeder)


def elasticsearch(ctx: Context) -> Row:
    """Stop Elasticsearch mid-stream for ``elasticsearch_down_s`` while events keep coming."""
    stack = _needs_stack(ctx, "elasticsearch")
    run = _prepare(ctx, "elasticsearch", ctx.sizes.events)
    run.start_worker("worker")
    probe = run.start_probe()
    feeder = run.feeder()
    _wait_sent(run, feeder, 1 / 4)
    before = run.sampler.peak_mb
    stack.stop("elasticsearch", lambda m: run.note(f"stop: {m}"))
    begin = time.monotonic()
    time.sleep(ctx.sizes.elasticsearch_down_s / 2)
    run.sigterm_probe(probe, f"after {time.monotonic() - begin:.0f} s without Elasticsearch")
    time.sleep(max(0.0, ctx.sizes.elasticsearch_down_s - (time.monotonic() - begin)))
    during = run.sampler.peak_mb
    stack.start("elasticsearch", lambda m: run.note(f"start: {m}"))
    run.note(
        f"Elasticsearch away for {time.monotonic() - begin:.0f} s; worker RSS peak "
        f"{before:.0f} MB before, {during:.0f} MB by the end of the outage"
    )
    return _finish(run, runs=1, feeder=feeder)


def two_workers(ctx: Context) -> Row:
    """Two workers share the group; one is SIGKILLed mid-stream and the other takes over."""
    run = _prepare(ctx, "two-workers", ctx.sizes.events)
    run.start_worker("worker-a", wait=False)
    run.start_worker("worker-b")
    run.workers[0].wait_ready(timeout=_READY_S)
    feeder = run.feeder()
    time.sleep(ctx.rng.uniform(0.2, 0.6) * ctx.sizes.feed_seconds)
    victim = ctx.rng.choice(run.workers)
    victim.kill()
    run.note(
        f"SIGKILL {victim.name} at {run.elapsed():.0f} s: {feeder.sent:,} sent, "
        f"leads indexed: {_indexed(run.slice)}"
    )
    return _finish(run, runs=1, feeder=feeder)


def hostile(ctx: Context) -> Row:
    """Hostile messages of every kind interleaved with the valid events, as fast as they go."""
    run = _prepare(ctx, "hostile", ctx.sizes.hostile_events)
    bad = [h for copy in range(ctx.sizes.hostile_copies) for h in catalogue(copy)]
    bad_messages: list[Message] = [(h.feed, h.key, h.value) for h in bad]
    mixed = list(interleave(run.messages, bad_messages))
    kind_of = {id(m): h.kind for m, h in zip(bad_messages, bad, strict=True)}
    kinds = {n: kind_of[id(m)] for n, m in enumerate(mixed) if id(m) in kind_of}
    run.start_worker("worker")
    feeder = run.feeder(mixed, rate=0)
    run.note(f"{len(bad)} hostile messages ({len(bad) // max(1, ctx.sizes.hostile_copies)} kinds)")
    return _finish(
        run,
        runs=1,
        feeder=feeder,
        extra_events=len(bad),
        more_notes=lambda letters: _not_dead_lettered(letters, feeder, kinds),
    )


#: Hostile kinds with a usable envelope: the contract keeps them as events (a field that fails
#: validation is left out of matching and flagged, hidden characters are removed), so they get
#: no dead letter; that none of them makes a lead is checked by the table (duplicated = 0).
KEPT_BY_DESIGN: Final = frozenset(
    {
        "bidi_name",
        "bidi_isolate",
        "zero_width_name",
        "control_chars",
        "bidi_id_number",
        "name_object",
        "id_number_float",
        "phone_list",
        "query_lucene",
        "query_dsl",
        "painless_script",
        "html_script",
        "jndi_lookup",
        "sql_injection",
        "path_traversal",
    }
)


def _not_dead_lettered(letters: list[dict[str, Any]], feeder: Feeder, kinds: dict[int, str]) -> str:
    """Name the hostile kinds some copy of which has no dead letter (accepted, stuck or lost)."""
    origins = {(x.get("topic"), x.get("partition"), x.get("offset")) for x in letters}
    copies = Counter(kinds.values())
    missed = Counter(kind for n, kind in kinds.items() if feeder.metadata.get(n) not in origins)
    kept = sorted(kind for kind in missed if kind in KEPT_BY_DESIGN)
    unexpected = sorted(kind for kind in missed if kind not in KEPT_BY_DESIGN)
    notes = []
    if kept:
        notes.append(
            "kept as events by design (hidden characters removed, wrongly typed optional "
            f"fields flagged, query-like text is data; no lead made): {', '.join(kept)}"
        )
    if unexpected:
        listed = ", ".join(f"{kind} {missed[kind]}/{copies[kind]}" for kind in unexpected)
        notes.append(f"hostile messages without a dead letter (kind copies/all): {listed}")
    return "; ".join(notes) or "every hostile message was dead-lettered"


FAULTS: dict[FaultName, Callable[[Context], Row]] = {
    "kill": kill,
    "kafka": kafka,
    "elasticsearch": elasticsearch,
    "two-workers": two_workers,
    "hostile": hostile,
}


def run_fault(ctx: Context, fault: FaultName) -> Row:
    """Run one fault; a harness failure becomes a failed row with the error in its notes."""
    try:
        return FAULTS[fault](ctx)
    except Exception as exc:  # the table must still come out, with this row failed
        ctx.console.print_exception(max_frames=5)
        return Row.failed(fault, f"harness error: {type(exc).__name__}: {exc}")
    finally:
        # A failed or interrupted run leaves no worker behind.
        for worker in ctx.started:
            if worker.alive():
                worker.stop(grace_s=10.0)
        ctx.started.clear()
