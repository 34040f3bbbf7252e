"""bench.retro's history: millions of archive documents loaded in minutes, reused across runs.

A Hainan-mix world's events are dated uniformly over the last 89 days and repeated with fresh
event ids (copies are other people: :func:`other_person`) until the history holds the size
asked for. Every document is made by ``connectors.event_archive.archive_document``, exactly as
the live archiver makes it (without ``roster_seen``: loaded history counts as matched before
any drop-out).

What it does so that Elasticsearch is not the bound (before: documents made in the sending
thread, one bulk at a time, each spread over 90 indices refreshing every 5 s):

- documents are made and serialised to NDJSON in worker processes (one more than cores: on a
  shared machine the share of CPU bounds it): making one costs ~190 us of CPU in pure-Python
  normalisation (``event_from_raw``, the block keys), the loader's main cost;
- each bulk's documents are dated on one day (at most two day indices): a bulk spread over
  90 indices is 90 shard writes;
- several bulks are in flight at once (``senders`` threads), each of ``chunks_per_bulk``
  chunks (3: ~6 MB), so Elasticsearch indexes one while the next is on the wire and the
  processes make the one after;
- the day indices are made first, with ``refresh_interval: -1``, no replica and the translog
  synced in the background during the load (no segment per 5 s to make and merge, no fsync per
  bulk), then the template's settings restored and one refresh made.

What bounds it then is making the documents: ~190 us of CPU each in pure Python. Measured on
the shared 2-core machine: 1,150 documents/s at load averages 15-22 (2026-12-07, one chunk a
bulk); 3,799/s resuming 3.49M to 5.01M at load ~11 and 3,561/s loading 5.01M from nothing at
load 7-12 (2026-12-08, compiled matchers, three chunks a bulk).

**Resumed, not restarted**: a load stopped short (killed, or :func:`finish_load` called; the
record says ``complete: false``) is finished by the next run, from the first chunk not wholly
in Elasticsearch (:func:`first_missing`), with the first run's dates: chunk ``n``'s documents
depend only on ``n`` and the load's start time.

A loaded history is kept (its alias names its size) and reused by the next run when its
documents, its recipe (``_meta`` on the day indices) and its age (under 12 hours: its dates are
relative to when it was loaded) say it is the same history: reruns reload nothing.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, cast

import orjson
from elasticsearch import Elasticsearch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from connectors.event_archive import (
    archive_document,
    day_index_name,
    drop_event_archive,
    ensure_event_archive,
)
from matchers.errors import InvalidRecord
from matchers.leads import event_digest
from matchers.records import event_from_raw
from simulator.population import is_valid_resident_id, resident_id_check_char

__all__ = ["HistorySpec", "finish_load", "first_missing", "load_or_reuse", "other_person"]

LOOKBACK = dt.timedelta(days=90)
#: A reused history's dates must still sit inside the drop-outs' 90-day window.
MAX_AGE = dt.timedelta(hours=12)
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class HistorySpec:
    """What a history is made of; two runs with equal specs may share one loaded history."""

    size: int
    base_events: int
    seed: int
    measured: int  # how many of the world's drop-outs keep their own history once

    @property
    def alias(self) -> str:
        return f"events-bench-h{self.size}-b{self.base_events}-s{self.seed}-m{self.measured}"


def other_person(raw: dict[str, Any], copy: int) -> dict[str, Any]:
    """The event as another person's: same name and birth date, other id, phone and house.

    A history of ``copy`` re-dated repeats of one day would repeat each id and phone ``copy``
    times, which no real history does: ids and phones identify. The copy keeps the name and
    birth date (namesakes and birthday-mates do grow with the history) and gets its own id
    (sequence digits moved, check character made again when the original was valid), phone
    (last four digits) and house number.
    """
    out = dict(raw)
    id_number = raw.get("id_number")
    if isinstance(id_number, str) and len(id_number) == 18 and id_number[14:17].isdigit():
        body = id_number[:14] + f"{(int(id_number[14:17]) + 37 * copy) % 1000:03d}"
        check = is_valid_resident_id(id_number)
        out["id_number"] = body + (resident_id_check_char(body) if check else id_number[17])
    phone = raw.get("phone")
    if isinstance(phone, str):
        digits = [i for i, c in enumerate(phone) if c.isdigit()][-4:]
        if len(digits) == 4:
            tail = f"{(int(''.join(phone[i] for i in digits)) + 7919 * copy) % 10000:04d}"
            chars = list(phone)
            for i, c in zip(digits, tail, strict=True):
                chars[i] = c
            out["phone"] = "".join(chars)
    for name in ("address", "registered_address"):
        value = raw.get(name)
        if isinstance(value, str):
            out[name] = _DIGITS.sub(lambda m: str(int(m.group()) + 1000 * copy), value, count=1)
    return out


#: The world's events and the measured people, set before the pool forks (read by _chunk).
_BASE: list[tuple[dict[str, Any], str | None]] = []
_MEASURED: set[str] = set()

_Job = tuple[int, int, int, str, float, int]
_DAY = 86_400


def _chunk(job: _Job) -> tuple[bytes, int]:
    """One bulk body (NDJSON): ``_BASE[start:stop]`` as copy ``copy``, dated on day ``day``.

    A chunk's events fall within one day (``day`` days before the run, at most two day
    indices): a bulk spread over 90 indices costs 90 shard writes and translog syncs.
    """
    copy, start, stop, alias, now_ts, day = job
    rng = random.Random(copy * 1_000_003 + start)
    now = dt.datetime.fromtimestamp(now_ts, dt.UTC)
    lines: list[bytes] = []
    made = 0
    for raw, person_id in _BASE[start:stop]:
        if copy and person_id in _MEASURED:
            continue  # the measured people's own history once
        when = now - dt.timedelta(seconds=day * _DAY + rng.randrange(600, _DAY))
        dated = (raw if not copy else other_person(raw, copy)) | {
            "occurred_at": when.isoformat(timespec="seconds")
        }
        if copy:
            dated["event_id"] = f"{raw.get('event_id')}-r{copy}"
        try:
            record = event_from_raw(dated)
        except InvalidRecord:
            continue
        doc = archive_document(record, dated, digest=event_digest(dated))
        action = {
            "create": {
                "_index": day_index_name(alias, record.occurred_at),
                "_id": f"{record.source}:{record.event_id}",
            }
        }
        lines += [orjson.dumps(action), orjson.dumps(doc)]
        made += 1
    return b"\n".join(lines) + b"\n", made


def _job(alias: str, now: dt.datetime, step: int, n: int) -> _Job:
    """Chunk ``n`` of the load: copy after copy of the world's events, ``step`` at a time.

    Chunk ``n`` is dated on day ``n % 89``: over the run, every day of the window gets the
    same share of the history. A chunk's documents depend on ``n``, ``step`` and ``now`` only,
    so a stopped load is resumed by making chunks from where it stopped (:func:`_resume_at`).
    """
    per_copy = -(-len(_BASE) // step)
    copy, start = divmod(n, per_copy)
    start *= step
    return copy, start, start + step, alias, now.timestamp(), n % (LOOKBACK.days - 1)


def _jobs(alias: str, now: dt.datetime, step: int, first: int = 0) -> Iterator[_Job]:
    """Chunks ``first``, ``first + 1``... without end (ids unique throughout)."""
    n = first
    while True:
        yield _job(alias, now, step, n)
        n += 1


def _chunk_ids(body: bytes) -> list[dict[str, str]]:
    """The ``_index`` / ``_id`` of every document of a chunk's body (its action lines)."""
    lines = body.split(b"\n")
    return [orjson.loads(line)["create"] for line in lines[0:-1:2]]


def _chunk_loaded(client: Elasticsearch, job: _Job) -> bool:
    """Whether every document of ``job`` is in Elasticsearch already (one ``mget``)."""
    body, made = _chunk(job)
    if not made:
        return True
    docs = [{"_index": x["_index"], "_id": x["_id"]} for x in _chunk_ids(body)]
    found = client.mget(docs=docs, source=False, filter_path="docs.found")["docs"]
    return sum(1 for doc in found if doc.get("found")) == made


def first_missing(whole: Callable[[int], bool], guess: int) -> int:
    """The first ``n`` with ``whole(n)`` false, for a ``whole`` true on a prefix only (pure).

    A galloping search from ``guess``, then a bisection: about 2 log2(n) calls.

    Example:
        >>> first_missing(lambda n: n < 1000, 700)
        1000
    """
    low, high = 0, max(1, guess)
    while whole(high):
        low, high = high + 1, high * 2  # the guess was short (it counts whole chunks only)
    while low < high:  # chunk `high` is not whole; every chunk before `low` is
        middle = (low + high) // 2
        if whole(middle):
            low = middle + 1
        else:
            high = middle
    return low


def _resume_at(client: Elasticsearch, alias: str, now: dt.datetime, step: int, loaded: int) -> int:
    """The first chunk of a stopped load not wholly in Elasticsearch.

    A load sends its chunks in order with a few bulks in flight, so what it left is a prefix
    of the chunks and a fringe of the few in flight when it stopped: resuming at the first
    chunk not whole sends the fringe again, where ``create`` answers 409 (not counted).
    About a dozen probes of one chunk each (made here, ~1 s, and looked up with one ``mget``).
    """
    return first_missing(lambda n: _chunk_loaded(client, _job(alias, now, step, n)), loaded // step)


class _RateColumn(ProgressColumn):
    """Documents per second over the whole load so far."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        done = task.completed - float(task.fields.get("start_at", 0))
        rate = done / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} docs/s", style="progress.data.speed")


class _Sender:
    """Up to ``senders`` bulks in flight; refused documents (not 409s) are counted."""

    def __init__(self, client: Elasticsearch, senders: int) -> None:
        self._client = client
        self._pool = ThreadPoolExecutor(senders, thread_name_prefix="bulk")
        self._room = threading.BoundedSemaphore(senders * 2)  # bodies queued or on the wire
        self._futures: list[Future[int]] = []
        self.refused = 0
        self.present = 0  # 409s: sent again after a resume, there already
        self.example: Any = None

    def send(self, body: bytes) -> None:
        self._room.acquire()
        for future in [f for f in self._futures if f.done()]:
            future.result()  # a bulk that raised fails the load now
        self._futures = [f for f in self._futures if not f.done()]
        self._futures.append(self._pool.submit(self._bulk, body))

    def _bulk(self, body: bytes) -> int:
        try:
            response = self._client.bulk(
                operations=cast(Any, body), filter_path="errors,items.*.error"
            )
            errors = [next(iter(item.values()))["error"] for item in response.get("items", [])]
            refused = [e for e in errors if e.get("type") != "version_conflict_engine_exception"]
            self.present += len(errors) - len(refused)
            if refused:
                self.refused += len(refused)
                self.example = refused[0]
            return len(refused)
        finally:
            self._room.release()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for future in self._futures:
            future.result()  # a bulk that raised fails the load


def _history_meta(client: Elasticsearch, alias: str) -> dict[str, Any] | None:
    quiet = client.options(ignore_status=404)
    found = quiet.indices.get_mapping(index=alias).body
    if not isinstance(found, dict) or "error" in found or not found:
        return None
    metas = [m.get("mappings", {}).get("_meta", {}).get("history") for m in found.values()]
    return metas[0] if metas and all(x == metas[0] for x in metas) else None


def _reusable(
    client: Elasticsearch, spec: HistorySpec, now: dt.datetime, *, partial_ok: bool
) -> dict[str, Any] | None:
    """The loaded history's record when it is ``spec``'s, whole (or ``partial_ok``), young."""
    meta = _history_meta(client, spec.alias)
    if meta is None or meta.get("spec") != asdict(spec):
        return None
    if not meta.get("complete", True) and not partial_ok:
        return None
    loaded_at = dt.datetime.fromisoformat(str(meta.get("loaded_at")))
    if now - loaded_at > MAX_AGE:
        return None
    # Fewer documents: the history lost some, load it again. More: a live phase's residue
    # (reused, the surplus said): dropping a 5M history for a few strays cost 25 minutes.
    surplus = int(client.count(index=spec.alias)["count"]) - int(meta.get("documents", -1))
    if surplus < 0:
        return None
    return meta | ({"surplus": surplus} if surplus else {})


#: Index settings while loading: no refresh, no replica, the translog synced in the background
#: (a crashed load is resumed: create-only ids make the fringe sent again a no-op); the
#: template's restored after (its replicas: ``0-1``, none on this single node).
_LOADING = {
    "refresh_interval": "-1",
    "translog.durability": "async",
    "auto_expand_replicas": "false",
    "number_of_replicas": 0,
}
_LOADED = {
    "refresh_interval": "5s",
    "translog.durability": "request",
    "auto_expand_replicas": "0-1",
}


def _make_day_indices(client: Elasticsearch, alias: str, now: dt.datetime) -> None:
    """Every day index up front, in loading mode; four at a time (one creation takes ~1 s)."""
    ensure_event_archive(client, alias)
    names = [
        day_index_name(alias, (now - dt.timedelta(days=days)).isoformat())
        for days in range(LOOKBACK.days + 1)
    ]
    quiet = client.options(ignore_status=400)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda name: quiet.indices.create(index=name, settings=_LOADING), names))


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where a load starts: the dates' origin, the documents there already, the first chunk."""

    now: dt.datetime
    present: int = 0
    first_chunk: int = 0
    load_s: float = 0.0  # what the earlier, stopped, load took


def _bodies(
    pool: Any, plan: _Plan, alias: str, step: int, per_bulk: int
) -> Iterator[tuple[bytes, int]]:
    """Bulk bodies of ``per_bulk`` chunks each (chunks made in ``pool``, in order)."""
    parts: list[bytes] = []
    made = 0
    for body, count in pool.imap(_chunk, _jobs(alias, plan.now, step, plan.first_chunk)):
        parts.append(body)
        made += count
        if len(parts) == per_bulk:
            yield b"".join(parts), made
            parts, made = [], 0


def _load(
    client: Elasticsearch,
    spec: HistorySpec,
    plan: _Plan,
    *,
    processes: int,
    senders: int,
    per_bulk: int,
) -> int:
    """Load up to ``spec.size`` documents (the last bulk whole: a few more); return how many."""
    loaded = plan.present
    ctx = multiprocessing.get_context("fork")
    sender = _Sender(client, senders)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with ctx.Pool(processes) as pool, Progress(*columns) as progress:
        task = progress.add_task(
            f"history {spec.size:,}", total=spec.size, completed=loaded, start_at=loaded
        )
        try:
            for body, made in _bodies(pool, plan, spec.alias, CHUNK_DOCS, per_bulk):
                sender.send(body)
                loaded += made
                progress.update(task, completed=min(loaded - sender.present, spec.size))
                if loaded - sender.present >= spec.size:
                    break  # chunks made ahead are dropped: their ids are never used again
        finally:
            pool.terminate()
            sender.close()
    if sender.refused:
        raise RuntimeError(f"{sender.refused} history documents refused, e.g. {sender.example}")
    return loaded - sender.present


def _plan(
    client: Elasticsearch, spec: HistorySpec, now: dt.datetime, *, resume: bool
) -> _Plan | None:
    """How to resume a stopped load of ``spec`` still young enough to reuse; else ``None``."""
    meta = _history_meta(client, spec.alias)
    if not resume or meta is None or meta.get("spec") != asdict(spec) or meta.get("complete"):
        return None
    loaded_at = dt.datetime.fromisoformat(str(meta.get("loaded_at")))
    if now - loaded_at > MAX_AGE / 2:  # the measured runs must still fit in its age
        return None
    present = int(client.count(index=spec.alias)["count"])
    first = _resume_at(client, spec.alias, loaded_at, CHUNK_DOCS, present)
    return _Plan(loaded_at, present, first, float(meta.get("load_s", 0.0)))


#: Documents per chunk: part of a history's recipe (chunk ``n`` is dated on day ``n % 89``,
#: and a stopped load resumes chunk by chunk), so never changed for an existing history.
CHUNK_DOCS = 4000


def load_or_reuse(
    client: Elasticsearch,
    spec: HistorySpec,
    base: list[tuple[dict[str, Any], str | None]],
    measured: set[str],
    *,
    processes: int | None = None,
    senders: int = 3,
    chunks_per_bulk: int = 3,
    partial_ok: bool = False,
    resume: bool = True,
) -> dict[str, Any]:
    """The history of ``spec`` under ``spec.alias``: reused if loaded already, else loaded.

    Args:
        client: a synchronous client with a long request timeout.
        spec: the history.
        base: the world's events (parsed payload, person id).
        measured: people whose own events appear once only (they drop out during the run).
        processes: document makers (default: one more than cores).
        senders: bulks in flight at once.
        chunks_per_bulk: chunks of :data:`CHUNK_DOCS` documents per bulk (3: ~6 MB).
        partial_ok: reuse a load that was stopped short (:func:`finish_load`) as it is.
        resume: finish a load stopped short (same spec, loaded under 6 hours ago) instead of
            loading it all again.

    Returns:
        The history's record: alias, documents, loaded_at, load_s, docs_per_s, reused, and
        ``resumed`` (the documents there before, this load's documents, seconds and rate).
    """
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    found = _reusable(client, spec, now, partial_ok=partial_ok)
    if found is not None:
        return found | {"alias": spec.alias, "reused": True}
    _BASE[:] = base
    _MEASURED.clear()
    _MEASURED.update(measured)
    plan = _plan(client, spec, now, resume=resume)
    if plan is None:
        drop_event_archive(client, spec.alias)  # a partial or stale load of the same name
        plan = _Plan(now)
        _make_day_indices(client, spec.alias, now)
    else:
        client.indices.put_settings(index=spec.alias, settings=_LOADING)
    started = time.perf_counter()
    _load(
        client,
        spec,
        plan,
        processes=processes or multiprocessing.cpu_count() + 1,
        senders=senders,
        per_bulk=chunks_per_bulk,
    )
    return finish_load(
        client, spec, loaded_at=plan.now, load_s=time.perf_counter() - started, before=plan
    )


def finish_load(
    client: Elasticsearch,
    spec: HistorySpec,
    *,
    loaded_at: dt.datetime,
    load_s: float,
    before: _Plan | None = None,
) -> dict[str, Any]:
    """End a load of ``spec``: settings restored, refreshed, its record put on the indices.

    Also for a load stopped before ``spec.size`` (the record says ``complete: false``; such
    a history is reused only when asked: ``partial_ok``, or resumed). ``before``: where this
    load started (a resumed load's record keeps both parts: the whole, and this one alone).
    """
    client.indices.put_settings(index=spec.alias, settings=_LOADED)
    client.indices.refresh(index=spec.alias)
    documents = int(client.count(index=spec.alias)["count"])
    earlier = before.load_s if before else 0.0
    present = before.present if before else 0
    meta: dict[str, Any] = {
        "spec": asdict(spec),
        "documents": documents,
        "complete": documents >= spec.size,
        "loaded_at": loaded_at.isoformat(),
        "load_s": round(earlier + load_s, 1),
        "docs_per_s": round(documents / (earlier + load_s)),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if present:
        meta["resumed"] = {
            "present": present,
            "documents": documents - present,
            "load_s": round(load_s, 1),
            "docs_per_s": round((documents - present) / load_s),
        }
    client.indices.put_mapping(index=spec.alias, meta={"history": meta})
    return meta | {"alias": spec.alias, "reused": False}
