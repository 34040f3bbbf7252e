"""Benchmark: the streaming pipeline end to end on the local stack (Kafka -> Faust -> ES).

    python -m bench.e2e [--events 60000] [--workers 1] [--latency-rate 2000] [--latency-seconds 20]
                        [--phases throughput,latency] [--profile]

Two phases, each on its own topic prefix / consumer group / leads alias (nothing shared with
other runs), with real ``tracer worker`` subprocesses:

1. **Throughput**: the roster and ``--events`` events are published first (a backlog); then the
   workers start. Sustained events/s = events / (time from "watchlist ready" to zero consumer
   lag on the feeds *and* the leads topic, i.e. every lead acknowledged by Elasticsearch).
2. **Latency**: after a 3 s warm-up, events are published (aiokafka) at ``--latency-rate`` per
   second for ``--latency-seconds`` with fresh, ordered event ids; each send time is stamped,
   and a poller searches the leads alias every 100 ms. Latency = first time a lead of the
   event is searchable - its send time (so it includes the 1 s index refresh interval and a
   poll resolution of ~0.1 s); leads slower than the 10 s polling window are counted apart.

CPU of each process (workers, Kafka, Elasticsearch, this process as producer) is sampled with
psutil over each phase; 100 % = one core. The workers' CPU per event is split into matching
(validation and ``Matcher.match``, from the workers' last stats line) and the rest (Kafka, Faust,
lead production, Elasticsearch indexing, offsets). Results go to ``bench/results/e2e.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import orjson

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)

import psutil
from elasticsearch import ApiError, Elasticsearch, TransportError

from bench.common import environment, write_json
from connectors.clients import aiokafka_producer, elasticsearch_client, kafka_producer_client
from connectors.kafka import ConsumerLagProbe, consumer_lag, route_event_line
from contract import ALL_TOPICS, FEED_TOPICS, feed_topic, topic_name
from simulator import SimulationConfig, build_world
from tracer.settings import TracerSettings

__all__ = ["run_e2e"]

TRACER = str(Path(sys.executable).parent / "tracer")


class Slice:
    """One isolated prefix / group / alias on the shared stack, with its workers."""

    def __init__(self, name: str, workdir: Path) -> None:
        tag = uuid.uuid4().hex[:6]
        self.settings = TracerSettings(
            topic_prefix=f"bench{tag}.",
            leads_alias=f"leads-bench{tag}",
            consumer_group=f"tracer-bench{tag}",
            # Its own archive: another run's documents (create-only, so never rewritten) carry
            # another roster topic's marks, or none, and retro-matching publishes their leads
            # again (bench.alerts on the shared ``events``: 905 of 909 leads twice).
            event_archive_alias=f"events-bench{tag}",
        )
        self.name, self.workdir = name, workdir
        self.workers: list[subprocess.Popen[bytes]] = []
        self.env = os.environ | {
            "TRACER_TOPIC_PREFIX": self.settings.topic_prefix,
            "TRACER_LEADS_ALIAS": self.settings.leads_alias,
            "TRACER_CONSUMER_GROUP": self.settings.consumer_group,
            "TRACER_EVENT_ARCHIVE_ALIAS": self.settings.event_archive_alias,
        }
        subprocess.run([TRACER, "stack", "init"], env=self.env, check=True, capture_output=True)

    def topic(self, key: Any) -> str:
        return topic_name(key, prefix=self.settings.topic_prefix)

    def start_workers(self, count: int, *, profile: bool = False) -> None:
        for n in range(count):
            extra = (
                ["--profile", str(self.workdir / f"{self.name}-worker{n}.prof")] if profile else []
            )
            # A fresh log per run: wait_ready looks for "watchlist ready", and a line left by an
            # earlier run made it return at once, so the timing included the worker's start.
            with (self.workdir / f"{self.name}-worker{n}.log").open("wb") as log:
                self.workers.append(
                    subprocess.Popen(
                        [TRACER, "worker", "--web-port", str(_free_port()), *extra],
                        env=self.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        logs = [self.workdir / f"{self.name}-worker{n}.log" for n in range(len(self.workers))]
        while time.monotonic() < deadline:
            if all("watchlist ready" in p.read_text(errors="replace") for p in logs):
                return
            time.sleep(0.02)
        raise RuntimeError(f"workers not ready; see {logs}")

    def lag(self, probe: ConsumerLagProbe | None = None) -> int:
        topics = [self.topic(t) for t in (*FEED_TOPICS, "leads")]
        if probe is not None:
            return probe.lag(self.settings.consumer_group, topics)
        return consumer_lag(self.settings, self.settings.consumer_group, topics)

    def stop_workers(self) -> None:
        for proc in self.workers:
            proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def handler_cpu_s(self) -> float:
        """CPU seconds the workers spent validating and matching (their last stats lines)."""
        total = 0.0
        for n in range(len(self.workers)):
            text = (self.workdir / f"{self.name}-worker{n}.log").read_text(errors="replace")
            found = re.findall(r"handler_cpu_s=([0-9.]+)", text)
            total += float(found[-1]) if found else 0.0
        return total

    def stop(self, *, keep: bool) -> None:
        self.stop_workers()
        if not keep:
            _drop(self)


def _drop(s: Slice) -> None:
    from connectors.event_archive import drop_event_archive
    from connectors.lead_index import drop_lead_index
    from connectors.topics import drop_topics

    client = elasticsearch_client(s.settings)
    drop_lead_index(client, s.settings.leads_alias)
    drop_event_archive(client, s.settings.event_archive_alias)
    drop_topics(
        s.settings,
        [s.topic(t) for t in ALL_TOPICS],
        group=s.settings.consumer_group,
    )


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class CpuMeter:
    """Average CPU (% of one core) of named processes between start() and stop()."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.procs: dict[str, list[psutil.Process]] = {}
        for name, ps in pids.items():
            procs = [psutil.Process(p) for p in ps]
            # The stack's pid may be a launcher (runuser): count the JVM below it too.
            self.procs[name] = procs + [c for p in procs for c in p.children(recursive=True)]

    def start(self) -> None:
        for procs in self.procs.values():
            for proc in procs:
                proc.cpu_percent(None)

    def stop(self) -> dict[str, float]:
        return {
            name: round(sum(p.cpu_percent(None) for p in procs), 1)
            for name, procs in self.procs.items()
        }


def _stack_pids() -> dict[str, list[int]]:
    out = subprocess.run(
        [TRACER, "stack", "status", "--json"], capture_output=True, check=False
    ).stdout
    return {row["service"]: [int(row["pid"])] for row in json.loads(out) if row.get("pid")}


def _lines(world: Any) -> tuple[list[bytes], list[bytes]]:
    roster = [orjson.dumps(r) for r in world.roster]
    events = []
    for event in world.events:
        payload = event.payload
        events.append(payload.encode() if isinstance(payload, str) else orjson.dumps(payload))
    return roster, events


def _publish(s: Slice, roster: list[bytes], events: list[bytes]) -> float:
    producer = kafka_producer_client(s.settings, linger_ms=20, batch_size=256 * 1024)
    started = time.perf_counter()
    for line in roster:
        producer.send(
            s.topic("supervision.roster"), key=orjson.loads(line)["person_id"].encode(), value=line
        )
    for line in events:
        route = route_event_line(line)
        producer.send(s.topic(route.topic), key=route.key, value=line)
    producer.flush()
    producer.close()
    return time.perf_counter() - started


def _count(client: Elasticsearch, alias: str) -> int:
    client.indices.refresh(index=alias)
    return int(client.count(index=alias)["count"])


def throughput_phase(
    workdir: Path,
    roster: list[bytes],
    events: list[bytes],
    *,
    workers: int,
    say: Any,
    profile: bool = False,
) -> dict[str, Any]:
    s = Slice("throughput", workdir)
    try:
        say(f"e2e: publishing {len(roster):,} roster + {len(events):,} events as a backlog")
        produce_s = _publish(s, roster, events)
        s.start_workers(workers, profile=profile)
        # Everything slow before the clock starts: matching begins as soon as a worker is ready.
        meter = CpuMeter(_stack_pids() | {"workers": [p.pid for p in s.workers]})
        probe = ConsumerLagProbe(s.settings)
        try:
            s.wait_ready()
            meter.start()
            started = time.perf_counter()
            while s.lag(probe) > 0:
                time.sleep(0.05)
            seconds = time.perf_counter() - started
            cpu = meter.stop()
        finally:
            probe.close()
        leads = _count(elasticsearch_client(s.settings), s.settings.leads_alias)
        s.stop_workers()  # their last stats line says how much of their CPU matching took
        worker_us = cpu["workers"] / 100 * seconds / len(events) * 1e6
        handler_us = s.handler_cpu_s() / len(events) * 1e6
        result = {
            "events": len(events),
            "leads": leads,
            "publish_events_per_s": round(len(events) / produce_s),
            "seconds": round(seconds, 2),
            "events_per_s": round(len(events) / seconds),
            "cpu_percent": cpu,
            # CPU time the workers spent per event: the figure contention does not change much.
            "worker_cpu_us_per_event": round(worker_us),
            # Of which validating and matching (the handler), and the rest: Kafka, Faust,
            # lead production, Elasticsearch indexing, offsets.
            "handler_cpu_us_per_event": round(handler_us),
            "pipeline_cpu_us_per_event": round(worker_us - handler_us),
            "workers": workers,
        }
        say(
            f"e2e: throughput {result['events_per_s']:,} events/s over {seconds:.1f}s "
            f"({leads:,} leads); CPU % {cpu}; "
            f"worker CPU {result['worker_cpu_us_per_event']} us/event "
            f"(matching {result['handler_cpu_us_per_event']}, "
            f"the rest {result['pipeline_cpu_us_per_event']})"
        )
        return result
    finally:
        s.stop(keep=False)


class LeadPoller(threading.Thread):
    """Search the alias every 100 ms; remember when each event's first lead became visible.

    Event ids are zero-padded in send order, so each poll only asks for ids at or above
    ``floor`` (the id sent ``WINDOW_S`` ago, kept up to date by the sender): a poll stays
    small however long the run, and the poller does not steal the CPU it measures.
    """

    WINDOW_S = 10.0

    def __init__(self, client: Elasticsearch, alias: str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.client, self.alias, self.prefix = client, alias, prefix
        self.floor = prefix
        self.seen: dict[str, float] = {}
        self.halt = threading.Event()

    def fetch(self, floor: str) -> list[dict[str, Any]]:
        query = {
            "bool": {
                "filter": [
                    {"prefix": {"event_id": self.prefix}},
                    {"range": {"event_id": {"gte": floor}}},
                ]
            }
        }
        return list(
            self.client.search(
                index=self.alias,
                query=query,
                size=10_000,
                source=False,
                docvalue_fields=[{"field": "event_id"}],
            )["hits"]["hits"]
        )

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                hits = self.fetch(self.floor)
            except (ApiError, TransportError):  # the index not there yet, or busy: poll again
                hits = []
            now = time.time()
            for hit in hits:
                self.seen.setdefault(hit["fields"]["event_id"][0], now)
            self.halt.wait(0.1)


def latency_phase(
    workdir: Path,
    roster: list[bytes],
    events: list[bytes],
    *,
    workers: int,
    rate: int,
    seconds: float,
    say: Any,
    warmup: float = 3.0,
) -> dict[str, Any]:
    s = Slice("latency", workdir)
    try:
        _publish(s, roster, [])
        s.start_workers(workers)
        s.wait_ready()
        valid = [e for e in map(_load, events) if e.get("source") and e.get("event_id")]
        # Warm up first (connections, metadata, the first bulk): steady state is what counts.
        _paced_send(s, valid, f"warm{uuid.uuid4().hex[:6]}-", rate=rate, seconds=warmup)
        while s.lag() > 0:
            time.sleep(0.25)
        time.sleep(1.5)
        prefix = f"lat{uuid.uuid4().hex[:6]}-"
        client = elasticsearch_client(s.settings)
        poller = LeadPoller(client, s.settings.leads_alias, prefix)
        poller.start()
        meter = CpuMeter(
            _stack_pids() | {"workers": [p.pid for p in s.workers], "bench_producer": [os.getpid()]}
        )
        meter.start()
        sent = _paced_send(s, valid, prefix, rate=rate, seconds=seconds, poller=poller)
        deadline = time.monotonic() + 30
        while s.lag() > 0 and time.monotonic() < deadline:
            time.sleep(0.25)
        time.sleep(2.0)  # a refresh interval and some polls after the last write
        cpu = meter.stop()
        poller.halt.set()
        poller.join()
        client.indices.refresh(index=s.settings.leads_alias)
        indexed = {hit["fields"]["event_id"][0] for hit in poller.fetch(prefix)}
        late = len(indexed - set(poller.seen))  # indexed, but beyond the polling window
        first = min(sent.values(), default=0.0)
        timeline = sorted(
            (round(sent[e] - first, 2), round(poller.seen[e] - sent[e], 3))
            for e in poller.seen
            if e in sent
        )
        samples = sorted(latency for _, latency in timeline)
        result = {
            "rate": rate,
            "seconds": seconds,
            "warmup_seconds": warmup,
            "events_sent": len(sent),
            "events_with_leads": len(samples),
            "leads_later_than_window": late,
            "cpu_percent": cpu,
            **_quantiles(samples),
            "worst_send_offset_and_latency": sorted(timeline, key=lambda row: -row[1])[:10],
        }
        say(
            f"e2e: latency at {rate:,} events/s: p50 {result['p50_s']}s p99 {result['p99_s']}s "
            f"max {result['max_s']}s over {len(samples):,} leads; CPU % {cpu}"
        )
        return result
    finally:
        s.stop(keep=False)


def _load(line: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _quantiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50_s": 0.0, "p90_s": 0.0, "p99_s": 0.0, "max_s": 0.0}

    def q(p: float) -> float:
        return round(samples[min(len(samples) - 1, int(p * len(samples)))], 3)

    return {"p50_s": q(0.5), "p90_s": q(0.9), "p99_s": q(0.99), "max_s": round(samples[-1], 3)}


def _paced_send(
    s: Slice,
    valid: list[dict[str, Any]],
    prefix: str,
    *,
    rate: int,
    seconds: float,
    poller: LeadPoller | None = None,
) -> dict[str, float]:
    """Publish at ``rate`` for ``seconds`` (aiokafka: kafka-python costs ~0.5 ms a message)."""
    return asyncio.run(
        _paced_send_async(s, valid=valid, prefix=prefix, rate=rate, seconds=seconds, poller=poller)
    )


async def _paced_send_async(
    s: Slice,
    *,
    valid: list[dict[str, Any]],
    prefix: str,
    rate: int,
    seconds: float,
    poller: LeadPoller | None,
) -> dict[str, float]:
    producer = aiokafka_producer(s.settings, linger_ms=5)
    await producer.start()
    sent: dict[str, float] = {}
    started, n = time.monotonic(), 0
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            due = int(elapsed * rate)
            while n < due:
                event = valid[n % len(valid)] | {"event_id": f"{prefix}{n:09d}"}
                sent[event["event_id"]] = time.time()
                await producer.send(
                    s.topic(feed_topic(event["source"])),
                    key=event["event_id"].encode(),
                    value=orjson.dumps(event),
                )
                n += 1
            if poller is not None:
                poller.floor = f"{prefix}{max(0, n - int(rate * poller.WINDOW_S)):09d}"
            await asyncio.sleep(0.01)
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def run_e2e(
    *,
    people: int = 50_000,
    watchlist: int = 2_000,
    events: int = 60_000,
    workers: int = 1,
    latency_rate: int = 2_000,
    latency_seconds: float = 20.0,
    phases: tuple[str, ...] = ("throughput", "latency"),
    profile: bool = False,
    say: Any = print,
) -> dict[str, Any]:
    """Run both phases and return the figures (also written to bench/results/e2e.json)."""
    workdir = Path("out/bench-e2e")
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"e2e: simulating {people:,} people, roster {watchlist:,}, {events:,} events")
    world = build_world(SimulationConfig(people=people, watchlist=watchlist, events=events, seed=5))
    roster, lines = _lines(world)
    result: dict[str, Any] = {"environment": environment(), "roster": len(roster)}
    if "throughput" in phases:
        result["throughput"] = throughput_phase(
            workdir, roster, lines, workers=workers, say=say, profile=profile
        )
    if "latency" in phases:
        result["latency"] = latency_phase(
            workdir,
            roster,
            lines,
            workers=workers,
            rate=latency_rate,
            seconds=latency_seconds,
            say=say,
        )
    path = write_json("e2e.json", result)
    say(f"e2e: wrote {path}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--watchlist", type=int, default=2_000)
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--latency-rate", type=int, default=2_000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--phases", default="throughput,latency", help="comma-separated")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile the throughput workers (out/bench-e2e/throughput-worker<n>.prof)",
    )
    args = parser.parse_args()
    run_e2e(
        people=args.people,
        watchlist=args.watchlist,
        events=args.events,
        workers=args.workers,
        latency_rate=args.latency_rate,
        latency_seconds=args.latency_seconds,
        phases=tuple(args.phases.split(",")),
        profile=args.profile,
    )


if __name__ == "__main__":
    main()
