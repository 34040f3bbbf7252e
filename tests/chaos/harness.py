"""The moving parts of a fault run: an isolated slice of a stack, workers, a feeder, the settling.

A :class:`Slice` is one fault's own topic prefix, consumer group and leads alias on a running
stack, with its folder of files (the simulated roster and events, ``tracer reprocess``'s
expected leads, the workers' logs). Workers are real ``tracer worker`` processes; their resident
memory is sampled from ``/proc`` by :class:`RssSampler`. A :class:`Feeder` publishes the events
at a steady rate from a thread, so faults land mid-stream, and can be paused while Kafka is
away. :func:`settle` waits, bounded, until the group has committed everything or nothing moves.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from elasticsearch import Elasticsearch, helpers

from connectors.clients import elasticsearch_client
from connectors.deadletter import decode_dead_letter
from connectors.kafka import consumer_lag, route_event_line
from contract import FEED_TOPICS, topic_name
from tracer.settings import TracerSettings

with warnings.catch_warnings():  # kafka-python warns once on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer

__all__ = [
    "TRACER",
    "Feeder",
    "Message",
    "RssSampler",
    "Settled",
    "Slice",
    "WorkerProcess",
    "event_messages",
    "settle",
]

TRACER = str(Path(sys.executable).parent / "tracer")
Message = tuple[str, bytes | None, bytes]
"""A feed message before the prefix: (contract topic, key, value)."""

Say = Callable[[str], None]
# Lag 0 and the count still short this long: the leads are lost, not late.
_SHORT_S = 20.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Slice:
    """One fault's topics, group and alias on a stack, and the folder of its files."""

    base: TracerSettings
    name: str
    folder: Path
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def __post_init__(self) -> None:
        # A fresh folder per run: files of an earlier run (expected leads of other sizes,
        # worker logs) must never be read as this run's.
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        stem = f"chaos-{self.name}-{self.tag}"
        self.settings = self.base.model_copy(
            update={
                "topic_prefix": f"{stem}.",
                "leads_alias": f"leads-{stem}",
                # Its own event archive too: a later fault's first roster load would otherwise
                # retro-match an earlier fault's archived events (other worlds, other leads).
                "event_archive_alias": f"events-{stem}",
                "consumer_group": f"tracer-{stem}",
                "feed_partitions": 4,
                "bulk_flush_seconds": 0.3,
            }
        )

    def probe(self) -> Slice:
        """A slice on the same topics with its own group and alias: a second, separate pipeline.

        A worker there reads the same events without taking partitions from this slice's
        workers, so it can be stopped at any moment without touching the run being measured.
        """
        other = Slice(self.base, f"{self.name}-probe", self.folder / "probe", tag=self.tag)
        other.settings = other.settings.model_copy(
            update={"topic_prefix": self.settings.topic_prefix}
        )
        return other

    @property
    def env(self) -> dict[str, str]:
        """The environment of every ``tracer`` command of this slice."""
        s = self.settings
        return os.environ | {
            "TRACER_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
            "TRACER_ELASTICSEARCH_URL": s.elasticsearch_url,
            "TRACER_STACK_DIR": str(s.stack_dir),
            "TRACER_TOPIC_PREFIX": s.topic_prefix,
            "TRACER_LEADS_ALIAS": s.leads_alias,
            "TRACER_EVENT_ARCHIVE_ALIAS": s.event_archive_alias,
            "TRACER_CONSUMER_GROUP": s.consumer_group,
            "TRACER_FEED_PARTITIONS": str(s.feed_partitions),
            "TRACER_BULK_FLUSH_SECONDS": str(s.bulk_flush_seconds),
        }

    def topic(self, contract_topic: str) -> str:
        """The prefixed name of a contract topic."""
        return topic_name(contract_topic, prefix=self.settings.topic_prefix)  # type: ignore[arg-type]

    def tracer(self, *args: str, timeout: float = 600) -> str:
        """Run one ``tracer`` command; return its stdout.

        Raises:
            RuntimeError: the command failed (the message holds the end of its stderr).
        """
        done = subprocess.run(
            [TRACER, *args], env=self.env, capture_output=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace")[-1500:]
            raise RuntimeError(f"tracer {args[0]} failed (exit {done.returncode}): {tail}")
        return done.stdout.decode(errors="replace")

    def simulate(self, *, events: int, people: int, watchlist: int, seed: int) -> None:
        """Write roster.jsonl and events.jsonl with ``tracer simulate``."""
        self.tracer(
            "simulate", "--out", str(self.folder), "--events", str(events),
            "--people", str(people), "--watchlist", str(watchlist), "--seed", str(seed),
            "--quiet",
        )  # fmt: skip

    def expected(self) -> list[dict[str, Any]]:
        """The leads ``tracer reprocess`` finds in the slice's files."""
        out = self.folder / "expected.jsonl"
        self.tracer(
            "reprocess", "--roster", str(self.roster), "--events", str(self.events),
            "--out", str(out),
        )  # fmt: skip
        return [orjson.loads(line) for line in out.read_bytes().splitlines() if line.strip()]

    @property
    def roster(self) -> Path:
        """The simulated roster file."""
        return self.folder / "roster.jsonl"

    @property
    def events(self) -> Path:
        """The simulated events file."""
        return self.folder / "events.jsonl"

    def es(self) -> Elasticsearch:
        """A client of the slice's Elasticsearch (short timeouts: it may be down)."""
        return elasticsearch_client(self.settings, request_timeout=10)

    def lead_count(self) -> int | None:
        """Documents behind the slice's alias, or ``None`` while Elasticsearch does not answer."""
        try:
            with self.es() as client:
                client.indices.refresh(index=self.settings.leads_alias)
                return int(client.count(index=self.settings.leads_alias)["count"])
        except Exception:  # any failure means "not known now"; the caller polls again
            return None

    def documents(self) -> list[dict[str, Any]]:
        """Every lead document's identifying fields (``_id`` too)."""
        fields = ["lead_id", "person_id", "source", "event_id"]
        with elasticsearch_client(self.settings, request_timeout=60) as client:
            client.indices.refresh(index=self.settings.leads_alias)
            hits = helpers.scan(
                client,
                index=self.settings.leads_alias,
                query={"query": {"match_all": {}}, "_source": fields},
            )
            return [hit["_source"] | {"_id": hit["_id"]} for hit in hits]

    def lag(self) -> int | None:
        """Messages of the feeds and the leads topic the group has not committed, or ``None``."""
        topics = [self.topic(t) for t in (*FEED_TOPICS, "leads")]
        try:
            return consumer_lag(self.settings, self.settings.consumer_group, topics)
        except Exception:  # Kafka away: unknown for now
            return None

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every dead letter the slice's workers published (undecodable ones as a reason)."""
        consumer = KafkaConsumer(
            self.topic("deadletter"),
            bootstrap_servers=self.settings.kafka_bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            consumer_timeout_ms=5000,
            fetch_max_bytes=8 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        letters = []
        try:
            for message in consumer:
                try:
                    letters.append(decode_dead_letter(message.value))
                except ValueError:
                    letters.append({"reason": "(unreadable dead letter)"})
        finally:
            consumer.close()
        return letters


def event_messages(path: Path) -> list[Message]:
    """Route every line of an events file as ``tracer produce`` does."""
    messages: list[Message] = []
    for raw in path.read_bytes().splitlines():
        if raw.strip():
            route = route_event_line(raw)
            messages.append((route.topic, route.key, raw))
    return messages


class WorkerProcess:
    """One ``tracer worker`` subprocess of a slice, logging to its own file."""

    def __init__(self, slice_: Slice, name: str) -> None:
        self.name = name
        self.log_path = slice_.folder / f"{name}.log"
        # Only what this process writes counts (a log left by an earlier run must not say ready).
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [TRACER, "worker", "--web-port", str(_free_port()), "--loglevel", "info"],
                env=slice_.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the worker still runs."""
        return self.process.poll() is None

    def log(self) -> str:
        """This worker's output so far."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def wait_ready(self, *, timeout: float) -> bool:
        """Wait until the worker loaded the roster and matches; ``False`` on time-out or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.alive():
            if "watchlist ready" in self.log():
                return True
            time.sleep(0.3)
        return False

    def kill(self) -> None:
        """SIGKILL: no goodbye, no commit, no flush."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, *, grace_s: float = 20.0) -> float | None:
        """SIGTERM, then SIGKILL after ``grace_s``; return how long SIGTERM took, or ``None``."""
        if not self.alive():
            return 0.0
        begin = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        return time.monotonic() - begin


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children in MB, read from ``/proc`` (0 when gone)."""
    total_kb = 0
    for each in (pid, *_children(pid)):
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


class RssSampler(threading.Thread):
    """Sample the resident memory of the given workers every ``every_s``; keep the peak."""

    def __init__(self, workers: Callable[[], Iterable[WorkerProcess]], *, every_s: float = 0.5):
        super().__init__(daemon=True)
        self._workers = workers
        self._every_s = every_s
        self._halt = threading.Event()
        self.peak_mb = 0.0
        self.samples: list[tuple[float, float]] = []

    def run(self) -> None:
        begin = time.monotonic()
        while not self._halt.wait(self._every_s):
            current = max((rss_mb(w.pid) for w in self._workers() if w.alive()), default=0.0)
            self.peak_mb = max(self.peak_mb, current)
            self.samples.append((time.monotonic() - begin, current))

    def halt(self) -> float:
        """Stop sampling; return the peak in MB."""
        self._halt.set()
        self.join(timeout=5)
        return self.peak_mb


class Feeder(threading.Thread):
    """Publish messages at ``rate`` per second (0: as fast as possible), pausable.

    A message Kafka refused is sent again after the stream (at most ``attempts`` times in all);
    what was never accepted is counted in ``lost`` so the table can say so.
    """

    def __init__(
        self, slice_: Slice, messages: list[Message], *, rate: float, attempts: int = 5
    ) -> None:
        super().__init__(daemon=True)
        self._slice = slice_
        self._messages = messages
        self._rate = rate
        self._attempts = attempts
        self.running = threading.Event()
        self.running.set()
        self.sent = 0
        self.lost = 0
        self.metadata: dict[int, tuple[str, int, int]] = {}
        self._failed: list[int] = []
        self._lock = threading.Lock()

    def pause(self) -> None:
        """Stop sending until :meth:`resume` (the thread waits between two messages)."""
        self.running.clear()

    def resume(self) -> None:
        """Go on sending."""
        self.running.set()

    def run(self) -> None:
        producer = KafkaProducer(
            bootstrap_servers=self._slice.settings.kafka_bootstrap,
            acks="all",
            linger_ms=5,
            max_request_size=1_048_576,
            request_timeout_ms=15_000,
        )
        try:
            pending = list(range(len(self._messages)))
            for attempt in range(self._attempts):
                self._send_all(producer, pending, paced=attempt == 0)
                with self._lock:
                    pending, self._failed = self._failed, []
                if not pending:
                    break
                time.sleep(2.0 * (attempt + 1))
            self.lost = len(pending)
        finally:
            producer.close(timeout=10)

    def _send_all(self, producer: KafkaProducer, indices: list[int], *, paced: bool) -> None:
        begin = time.monotonic()
        for n, index in enumerate(indices):
            self.running.wait()
            if paced and self._rate > 0:
                ahead = n / self._rate - (time.monotonic() - begin)
                if ahead > 0:
                    time.sleep(ahead)
            topic, key, value = self._messages[index]
            try:
                future = producer.send(self._slice.topic(topic), key=key, value=value)
            except Exception:  # refused before sending (buffer full, metadata time-out)
                self._failed.append(index)
                continue
            future.add_callback(self._ok, index)
            future.add_errback(self._failed_one, index)
            if paced:
                self.sent = n + 1
        producer.flush(timeout=120)
        self.sent = max(self.sent, len(indices))

    def _ok(self, index: int, metadata: Any) -> None:
        self.metadata[index] = (metadata.topic, metadata.partition, metadata.offset)

    def _failed_one(self, index: int, _exc: Exception) -> None:
        with self._lock:
            self._failed.append(index)


@dataclass
class Settled:
    """How a wait for the pipeline to finish ended."""

    drained: bool
    seconds: float
    lag: int | None
    leads: int | None
    reason: str


def settle(
    slice_: Slice,
    *,
    expected: int,
    feeder: Feeder | None,
    workers: list[WorkerProcess],
    stall_s: float,
    deadline_s: float,
    tick: Callable[[int | None, int | None], None],
) -> Settled:
    """Wait until the group committed everything (lag 0) after the feeder finished.

    Ends early when nothing moves (neither lag nor lead count) for ``stall_s`` (a stuck worker),
    ``_SHORT_S`` after the lag reached 0 with leads still short (they are lost, not late), when
    no worker runs any more, and at ``deadline_s`` in any case.
    """
    begin = time.monotonic()
    last: tuple[int | None, int | None] = (None, None)
    moved = begin
    while True:
        now = time.monotonic()
        lag, leads = slice_.lag(), slice_.lead_count()
        tick(lag, leads)
        feeding = feeder is not None and feeder.is_alive()
        if (lag, leads) != last:
            last, moved = (lag, leads), now
        if not feeding and lag == 0 and leads is not None and leads >= expected:
            return Settled(True, now - begin, lag, leads, "drained")
        if not any(worker.alive() for worker in workers):
            return Settled(False, now - begin, lag, leads, "no worker running")
        if not feeding and lag == 0 and now - moved > _SHORT_S:
            return Settled(True, now - begin, lag, leads, "lag 0 but leads short")
        if not feeding and now - moved > stall_s:
            why = "lag 0 but leads short" if lag == 0 else f"no progress for {stall_s:.0f} s"
            return Settled(lag == 0, now - begin, lag, leads, why)
        if now - begin > deadline_s:
            return Settled(False, now - begin, lag, leads, f"deadline {deadline_s:.0f} s")
        time.sleep(1.0)


def reasons(letters: Iterable[dict[str, Any]]) -> tuple[dict[str, int], int]:
    """Dead letters counted by reason, one per original message; and how many repeated one.

    Delivery is at least once, and a probe worker (its own group on the same topics)
    dead-letters what the measured worker does: the same original (topic, partition, offset)
    with the same reason is counted once, its repeats apart.
    """
    seen: set[tuple[Any, ...]] = set()
    counts: Counter[str] = Counter()
    repeats = 0
    for n, letter in enumerate(letters):
        reason = str(letter.get("reason"))
        origin = (letter.get("topic"), letter.get("partition"), letter.get("offset"))
        key = (*origin, reason) if letter.get("topic") is not None else (n, reason)
        if key in seen:
            repeats += 1
            continue
        seen.add(key)
        counts[reason] += 1
    return dict(counts), repeats


@contextlib.contextmanager
def workers_of(slice_: Slice) -> Iterator[list[WorkerProcess]]:
    """A list to start workers into; every one still running is stopped on the way out."""
    started: list[WorkerProcess] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop(grace_s=15.0)
