"""Benchmark: retro-matching on the local stack, and what archiving costs the live pipeline.

    python -m bench.retro [--history 1000000,5000000] [--base-events 40000] [--dropouts 100]
                          [--throughput-events 20000] [--live-rate 400]
                          [--phases archive,retro | history] [--keep] [--drop-history]

Phases, each on its own topic prefix / consumer group / leads alias / archive alias:

1. **archive**: the live pipeline's sustained events/s (backlog published first, one ``tracer
   worker``, from "watchlist ready" to zero lag on the feeds and the leads topic, as bench.e2e
   measures it) and the worker process's CPU per event over the same window, with
   ``TRACER_EVENT_ARCHIVE=false`` then ``true``, alternated ``--archive-rounds`` times on the
   same Hainan-mix events; the ratios on/off (median, range) are the archive's cost: the CPU
   one the worker's own, the wall one also Elasticsearch indexing on the same cores.
2. **retro**: for each ``--history`` size, a history of that many archive documents
   (bench/retro_history.py: a Hainan-mix world of ``--base-events`` events, 2,000 watched,
   dated over the last 89 days and repeated as other people; the measured people's own events
   once; loaded in minutes and reused by later runs, ``--phases history`` loads only). The
   roster is published with the measured people ``active``; a worker starts. Then
   ``--dropouts`` of them drop out, 10 a second, each with ``status_changed_at`` now; a poller
   searches the leads alias every 100 ms. Latency of a drop-out = the time its last historical
   lead (the leads retro-matching must find, computed beforehand by the same archive search
   and ``Matcher.rematch`` in this process) is searchable - the time its record was published.
   It includes the leads index's 1 s refresh. Where that time goes per drop-out is read from
   the worker's ``retro batch:`` log lines (bench/retro_measure.py). Then a live feed of
   ``--live-rate`` events/s flows and its lag is sampled quiet, during a burst of as many more
   drop-outs, and quiet again: does retro stall live matching?

Results go to ``bench/results/retro.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from elasticsearch import Elasticsearch
from elasticsearch.serializer import OrjsonSerializer

from bench.alerts import CpuWindow, _spread
from bench.common import environment, write_json
from bench.e2e import Slice, _count, _lines, _publish, _quantiles
from bench.retro_history import HistorySpec, load_or_reuse
from bench.retro_measure import breakdown, live_lag_during_burst
from connectors.clients import elasticsearch_client, kafka_consumer_client, kafka_producer_client
from connectors.event_archive import (
    ElasticsearchEventArchive,
    day_index_name,
    drop_event_archive,
    key_digest,
    rebuild_event,
    searched_key,
)
from connectors.kafka import ConsumerLagProbe
from connectors.lead_index import ensure_district_index
from contract import FEED_TOPICS
from matchers.scoring.modelfile import default_model
from matchers.watchlist.blocking import person_block_keys
from matchers.watchlist.matcher import Matcher
from simulator import SimulationConfig, build_world
from tracer.settings import TracerSettings

__all__ = ["main"]

LOOKBACK = dt.timedelta(days=90)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class ArchiveSlice(Slice):
    """bench.e2e's slice with its own archive alias, the archive on or off."""

    def __init__(
        self, name: str, workdir: Path, *, archive: bool, alias: str | None = None
    ) -> None:
        super().__init__(name, workdir)
        self.own_archive = alias is None  # a shared one is dropped by its owner
        self.archive_alias = alias or f"events-{self.settings.consumer_group}"
        self.env |= {
            "TRACER_EVENT_ARCHIVE": "true" if archive else "false",
            "TRACER_EVENT_ARCHIVE_ALIAS": self.archive_alias,
        }

    def worker_log(self) -> str:
        return (self.workdir / f"{self.name}-worker0.log").read_text(errors="replace")

    def stop(self, *, keep: bool) -> None:
        super().stop(keep=keep)
        if not keep and self.own_archive:
            drop_event_archive(elasticsearch_client(self.settings), self.archive_alias)


def _wait_drained(s: Slice, topics: list[str], timeout: float = 1800) -> float:
    probe = ConsumerLagProbe(s.settings)
    started = time.perf_counter()
    try:
        while probe.lag(s.settings.consumer_group, topics) > 0:
            if time.perf_counter() - started > timeout:
                raise RuntimeError("lag did not reach zero")
            time.sleep(0.05)
    finally:
        probe.close()
    return time.perf_counter() - started


def _archive_round(
    workdir: Path, roster: list[bytes], events: list[bytes], *, archive: bool, keep: bool
) -> dict[str, Any]:
    """One slice: the backlog matched with the archive on or off; wall rate and worker CPU."""
    s = ArchiveSlice(f"archive-{'on' if archive else 'off'}", workdir, archive=archive)
    try:
        _publish(s, roster, events)
        # As a running deployment's group: past the roster already. A fresh group searched
        # the history of every dropped-out person of the roster first (archive on only): a
        # one-off at start, not a cost per live event.
        _commit_roster_end(s)
        s.start_workers(1)
        s.wait_ready(timeout=300)
        cpu = CpuWindow(s, len(events), alerting=False)
        seconds = _wait_drained(s, [s.topic(t) for t in (*FEED_TOPICS, "leads")])
        worker = cpu.stop()
        return {
            "seconds": round(seconds, 2),
            "events_per_s": round(len(events) / seconds),
            "worker_cpu_ms_per_event": worker["cpu_ms_per_event"],
            "leads": _count(elasticsearch_client(s.settings), s.settings.leads_alias),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
    finally:
        s.stop(keep=keep)


def archive_phase(workdir: Path, count: int, *, rounds: int, keep: bool) -> dict[str, Any]:
    """The live pipeline with the archive off and on, alternated ``rounds`` times.

    Per slice, the wall rate (events/s from "watchlist ready" to zero lag) and the worker's
    CPU per event (user + system of its process over the same window: what it spent whoever
    else ran; Elasticsearch's indexing of the archive is not in it). Each "on" is compared
    with the "off" run just before it; the median and range of those ratios are what to quote.
    """
    world = build_world(
        SimulationConfig(people=100_000, watchlist=2_000, events=count, seed=3, mix="hainan")
    )
    roster, events = _lines(world)
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for n in range(rounds):
        for archive in (False, True):
            key = "on" if archive else "off"
            runs[key].append(_archive_round(workdir, roster, events, archive=archive, keep=keep))
            say(f"retro bench: archive {key} round {n + 1}: {runs[key][-1]}")
    pairs = list(zip(runs["off"], runs["on"], strict=True))
    out: dict[str, Any] = {"events": len(events), "rounds": rounds, **runs}
    for name, field in (("events_per_s", "events_per_s"), ("cpu", "worker_cpu_ms_per_event")):
        ratios = [round(on[field] / off[field], 3) for off, on in pairs]
        out[f"{name}_on_over_off"] = _spread(ratios)
    wall, cpu = out["events_per_s_on_over_off"], out["cpu_on_over_off"]
    say(f"retro bench: archive on/off events/s {wall}, worker CPU per event {cpu}")
    return out


async def _expected(
    matcher: Matcher, url: str, alias: str, people: list[str]
) -> dict[str, set[str]]:
    """The leads retro-matching must publish per person: the same search and rematch."""
    archive = ElasticsearchEventArchive.connect(TracerSettings(elasticsearch_url=url), alias)
    out: dict[str, set[str]] = {}
    try:
        for person_id in people:
            person = matcher.person(person_id)
            assert person is not None
            since = dt.datetime.fromisoformat(person.status_changed_at) - LOOKBACK
            keys = [key_digest(k) for k in person_block_keys(person) if searched_key(k)]
            found: set[str] = set()
            async for page in archive.search(keys, since=since.isoformat(), max_events=200_000):
                for doc in page:
                    outcome = matcher.rematch(rebuild_event(doc), digest=doc["event_digest"])
                    found |= {x["lead_id"] for x in outcome.leads if x["person_id"] == person_id}
            out[person_id] = found
    finally:
        await archive.close()
    return out


def _expected_for(
    roster: list[dict[str, Any]], dropping: list[str], at: str, url: str, alias: str
) -> dict[str, set[str]]:
    """Expected leads of ``dropping`` with them dropped out at ``at``, everyone else as is."""
    matcher = Matcher(default_model(), trace_lookback=LOOKBACK)
    wanted = set(dropping)
    for record in roster:
        change = {"status": "dropped_out", "status_changed_at": at}
        matcher.apply_roster(record | change if record["person_id"] in wanted else record)
    return asyncio.run(_expected(matcher, url, alias, dropping))


class DropOutPoller(threading.Thread):
    """Search the leads alias every 100 ms; note when each person's expected leads are all in."""

    def __init__(self, client: Elasticsearch, alias: str, expected: dict[str, set[str]]) -> None:
        super().__init__(daemon=True)
        self.client, self.alias, self.expected = client, alias, expected
        self.done: dict[str, float] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set() and len(self.done) < len(self.expected):
            pending = [p for p in self.expected if p not in self.done]
            try:
                hits = self.client.search(
                    index=self.alias,
                    query={"terms": {"person_id": pending}},
                    size=10_000,
                    source_includes=["person_id"],
                )["hits"]["hits"]
            except Exception:
                hits = []
            now = time.time()
            seen: dict[str, set[str]] = {}
            for hit in hits:
                seen.setdefault(hit["_source"]["person_id"], set()).add(hit["_id"])
            for person_id in pending:
                if self.expected[person_id] <= seen.get(person_id, set()):
                    self.done[person_id] = now
            self.halt.wait(0.1)


def retro_phase(
    workdir: Path, args: argparse.Namespace, save: Any, *, measure: bool = True
) -> dict[str, Any]:
    """p50/p99 from a drop-out published to its last historical lead searchable, per size.

    Each ``--history`` size is its own history (bench/retro_history.py: loaded in minutes,
    reused by the next run); at each size a fresh slice (topics, group, leads alias) measures
    ``--dropouts`` new drop-outs among the same candidates. ``save`` is called with the
    figures after each size.
    """
    world = build_world(
        SimulationConfig(
            people=200_000, watchlist=2_000, events=args.base_events, seed=5, mix="hainan"
        )
    )
    sizes = sorted(int(x) for x in str(args.history).split(","))
    with_events = {e.person_id for e in world.events if e.person_id}
    candidates = [
        r["person_id"]
        for r in world.roster
        if r["status"] == "dropped_out" and r["person_id"] in with_events
    ][: args.dropouts * 2]
    base = _parsed(world)
    client = elasticsearch_client(
        TracerSettings(),
        request_timeout=300,
        serializers={OrjsonSerializer.mimetype: OrjsonSerializer()},
    )
    out: dict[str, Any] = {"base_events": args.base_events, "sizes": {}}
    started = time.monotonic()
    for size in sizes:
        spec = HistorySpec(size, args.base_events, seed=5, measured=len(candidates))
        history = load_or_reuse(
            client,
            spec,
            base,
            set(candidates),
            senders=args.senders,
            chunks_per_bulk=args.chunks_per_bulk,
            partial_ok=args.partial_ok,
            resume=not args.no_resume,
        )
        say(
            f"retro bench: {history['documents']:,} events archived in {history['alias']}"
            f" ({'reused' if history['reused'] else 'loaded'}: {history['docs_per_s']:,} docs/s)"
        )
        if not measure:
            continue  # --phases history: loaded for a later run
        try:
            figures = _measure(
                workdir,
                world,
                people=candidates,
                alias=spec.alias,
                documents=int(history["documents"]),
                client=client,
                args=args,
            )
        finally:
            if args.drop_history:
                drop_event_archive(client, spec.alias)
        out["sizes"][str(history["documents"])] = {"history": history, **figures}
        save(out)
        if time.monotonic() - started > args.minutes * 60:
            say("retro bench: out of time; larger sizes left out")
            break
    return out


def _parsed(world: Any) -> list[tuple[dict[str, Any], str | None]]:
    raws = []
    for event in world.events:
        try:
            raw = orjson.loads(event.payload) if isinstance(event.payload, str) else event.payload
        except orjson.JSONDecodeError:
            continue
        if isinstance(raw, dict) and isinstance(raw.get("event_id"), str):
            raws.append((raw, event.person_id))  # (copies of an id-less event would be valid)
    return raws


def _measure(
    workdir: Path,
    world: Any,
    *,
    people: list[str],
    alias: str,
    documents: int,
    client: Elasticsearch,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """One worker, ``--dropouts`` of ``people`` dropping out 10 a second; latency quantiles.

    ``documents``: the history's, restored after the live phase (:func:`_forget`).
    """
    s = ArchiveSlice("retro", workdir, archive=True, alias=alias)
    live: list[dict[str, Any]] = []
    try:
        # Who drops out: the people with at least one lead to find (decided beforehand), then
        # their leads again against exactly the roster the worker will hold.
        dropped_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        url = s.settings.elasticsearch_url
        found = _expected_for(world.roster, people, dropped_at, url, alias)
        chosen = [p for p in people if found[p]][: args.dropouts]
        expected = _expected_for(world.roster, chosen, dropped_at, url, alias)
        final = {
            r["person_id"]: r | {"status_changed_at": dropped_at}
            for r in world.roster
            if r["person_id"] in set(chosen)
        }
        first = [
            orjson.dumps(r | {"status": "active"} if r["person_id"] in set(people) else r)
            for r in world.roster
        ]
        _publish(s, first, [])
        # A running deployment's group is past the roster already: without this, the fresh
        # group's first read of the roster searches every dropped-out person's history once.
        _commit_roster_end(s)
        s.start_workers(1)
        s.wait_ready(timeout=600)
        # A running deployment's districts have their lead indices: made before the clock
        # (a district's first lead makes its index, seconds on this shared machine).
        for district in {r.get("district") for r in world.roster if r["person_id"] in final}:
            ensure_district_index(client, s.settings.leads_alias, district)
        say(f"retro bench: worker ready; {len(chosen)} drop-outs to publish")
        poller = DropOutPoller(client, s.settings.leads_alias, expected)
        poller.start()
        sent = _send_dropouts(s, [final[p] for p in chosen])
        poller.join(timeout=300)
        poller.halt.set()
        latencies = sorted(poller.done[p] - sent[p] for p in chosen if p in poller.done)
        result: dict[str, Any] = {
            "dropouts": len(chosen),
            "completed": len(latencies),
            "leads_expected": sum(len(v) for v in expected.values()),
            **_quantiles(latencies),
        }
        say(f"retro bench: drop-out to last lead searchable {result}")
        mean = sum(latencies) / len(latencies) if latencies else 0.0
        result["breakdown"] = breakdown(s.worker_log(), mean)
        say(f"retro bench: per drop-out {result['breakdown']}")
        if args.live_rate:
            rest = [p for p in people if p not in set(chosen)][: args.dropouts]
            drops = [
                r | {"status_changed_at": dropped_at}
                for r in world.roster
                if r["person_id"] in set(rest)
            ]
            live = _live_backlog(world, int(args.live_rate * 90))  # lasts the three windows
            searched = len(chosen) + len(drops)

            def burst() -> None:
                _send_dropouts(s, drops)
                deadline = time.monotonic() + 120
                while _people_searched(s) < searched and time.monotonic() < deadline:
                    time.sleep(0.1)

            lines = [orjson.dumps(raw) for raw in live]
            figures = live_lag_during_burst(s, burst, lines, rate=args.live_rate)
            result["live_during_burst"] = figures | {
                "dropouts": len(drops),
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
            say(f"retro bench: live matching during a retro burst {result['live_during_burst']}")
        return result
    finally:
        s.stop(keep=args.keep)
        if live:  # the live feed's archive documents out of the reused history again
            _forget(client, alias, live, documents)


def _live_backlog(world: Any, count: int) -> list[dict[str, Any]]:
    """``count`` of the world's events as new ones occurring now (matched live, archived)."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    raws = [raw for raw, _ in _parsed(world)]
    return [
        raws[n % len(raws)]
        | {
            "event_id": f"{raws[n % len(raws)]['event_id']}-live{n // len(raws)}",
            "occurred_at": now,
        }
        for n in range(count)
    ]


def _forget(client: Elasticsearch, alias: str, live: list[dict[str, Any]], documents: int) -> None:
    """The live events' archive documents out of the reused history, until it holds ``documents``.

    A bulk the stopped worker had in flight can land after the first pass (seen at load 13:
    the next run found more documents than loaded and loaded 5M again), so passes are made
    until the count is the history's again: at most 5, 5 s apart.
    """
    index = day_index_name(alias, live[0]["occurred_at"])
    ids = [f"{raw.get('source')}:{raw['event_id']}" for raw in live]
    for _ in range(5):
        for start in range(0, len(ids), 5000):
            ops = [{"delete": {"_index": index, "_id": i}} for i in ids[start : start + 5000]]
            client.bulk(operations=ops, refresh=False)
        client.indices.refresh(index=alias)
        left = _count(client, alias) - documents
        if left <= 0:
            return
        time.sleep(5)
    say(f"retro bench: {left} documents of the live phase left in {alias}")


def _people_searched(s: Slice) -> int:
    return sum(int(n) for n in re.findall(r"retro batch: people=(\d+)", s.worker_log()))


def _commit_roster_end(s: Slice) -> None:
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    topic = s.topic("supervision.roster")
    consumer = kafka_consumer_client(
        s.settings,
        group_id=s.settings.consumer_group,
        enable_auto_commit=False,
    )
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(parts)
        consumer.commit({tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items()})
    finally:
        consumer.close()


def _send_dropouts(s: Slice, records: list[dict[str, Any]]) -> dict[str, float]:
    producer = kafka_producer_client(s.settings, acks="all")
    sent: dict[str, float] = {}
    try:
        for record in records:
            future = producer.send(
                s.topic("supervision.roster"),
                key=record["person_id"].encode(),
                value=orjson.dumps(record),
            )
            future.get(timeout=30)
            sent[record["person_id"]] = time.time()  # acknowledged: the worker may read it
            time.sleep(0.1)
    finally:
        producer.close()
    return sent


def main() -> None:
    """Run the phases asked for and write ``bench/results/retro.json``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", default="100000,1000000,5000000", help="sizes, ascending")
    parser.add_argument("--base-events", type=int, default=40_000)
    parser.add_argument("--dropouts", type=int, default=100)
    parser.add_argument("--throughput-events", type=int, default=20_000)
    parser.add_argument("--archive-rounds", type=int, default=3, help="off/on pairs")
    parser.add_argument("--minutes", type=float, default=60, help="no larger size after this")
    parser.add_argument("--phases", default="archive,retro")
    parser.add_argument("--keep", action="store_true", help="keep topics and indices")
    parser.add_argument("--senders", type=int, default=3, help="history bulks in flight")
    parser.add_argument(
        "--chunks-per-bulk", type=int, default=3, help="history chunks (4,000 docs) per bulk"
    )
    parser.add_argument(
        "--no-resume", action="store_true", help="load a stopped history again, not resume it"
    )
    parser.add_argument(
        "--live-rate", type=float, default=400, help="live events/s fed around a retro burst"
    )
    parser.add_argument("--tag", default="", help="retro figures saved as retro_<tag>")
    parser.add_argument(
        "--partial-ok", action="store_true", help="reuse a history whose load was stopped short"
    )
    parser.add_argument(
        "--drop-history", action="store_true", help="delete the loaded histories (else reused)"
    )
    args = parser.parse_args()
    workdir = Path("out/bench-retro")
    workdir.mkdir(parents=True, exist_ok=True)
    phases = set(args.phases.split(","))
    result: dict[str, Any] = {"environment": environment(), "command": " ".join(sys.argv)}
    previous = Path("bench/results/retro.json")
    if previous.exists():  # phases not run this time keep their last figures
        result = orjson.loads(previous.read_bytes()) | result

    def save(key: str, figures: dict[str, Any]) -> None:
        result[key] = figures
        result[f"{key}_command"] = result["command"]  # each phase's own (phases run apart)
        say(f"retro bench: results in {write_json('retro.json', result)}")

    if "archive" in phases:
        figures = archive_phase(
            workdir, args.throughput_events, rounds=args.archive_rounds, keep=args.keep
        )
        save("archive", figures)
    if "history" in phases and "retro" not in phases:
        retro_phase(workdir, args, lambda figures: None, measure=False)
    if "retro" in phases:
        key = f"retro_{args.tag}" if args.tag else "retro"
        retro_phase(workdir, args, lambda figures: save(key, figures))


if __name__ == "__main__":
    main()
