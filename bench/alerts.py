"""Benchmark: alert subscriptions (issue 16) on the local stack.

    python -m bench.alerts [--events 20000] [--subscriptions 1000,10000]
                           [--phases evaluate,msearch,pipeline]

Phases:

1. **evaluate**: in-process evaluation (``alerts.evaluate.SubscriptionIndex``) of a batch of
   leads against N active subscriptions: microseconds per lead.
2. **msearch**: the alternative: one ``_msearch`` per batch of 500 leads, each subscription's
   query restricted to the batch's lead ids (``ids`` filter), on a real index: seconds per
   batch (and so per lead). Same subscriptions, same leads.
3. **pipeline**: real ``tracer worker`` runs over a backlog of ``--events`` events (the live
   pipeline's full rate): alerting off, then on with each N. Events/s = events / (watchlist
   ready -> zero lag on feeds and leads; with alerting on, a lead batch's offsets wait for its
   notifications). Latency per notification: from the lead's bulk acknowledgement by
   Elasticsearch (the notification's ``created_at``, stamped when the lead writer hands the
   acknowledged bulk to the alert service; the lead is realtime-gettable then and searchable
   after the next refresh, at most ``refresh_interval`` = 1 s later) to (a) its message on the
   ``alerts`` topic (the Kafka timestamp the worker's producer stamps) and (b) its arrival at a
   loopback webhook receiver (one immediate-mode subscription with a webhook).

Two mixes of subscriptions (``--mixes``): the realistic one at every ``--subscriptions`` count,
the heavy one at every ``--heavy`` count (10,000):

- **realistic** (what officers subscribe to): district-wide watches are few, because they
  belong to a district's supervisors, not to every officer: at most ``DISTRICT_WATCHES`` per
  district (or 10 % of the subscriptions, whichever is smaller), half "new high leads in my
  district", half "a source and event type in my district over a score" (e.g. bank cards
  issued, score >= 25). 1 % are restricted queries (a name match and a score of 20 or more in
  a district). Everything else, the bulk of 10,000, is case officers watching their own
  people: 1-5 persons each, drawn from a watchlist twice the subscription count (a person has
  one or two watchers; ids beyond the world's roster stand for people without leads here).
- **heavy** (the previous benchmark's mix, kept as the worst case): 15 % district + source +
  ``min_tier: high`` + a minimum score and 5 % district + restricted query, however many there
  are: with 10,000 that is 2,000 district-wide watches over a dozen districts, and a lead
  notifies about 28 of them.

With ``--phases pipeline`` the run measures alerting off, then every count and mix, then off
again, all in one invocation on the same machine: the ratio is to the mean of the two offs.
Results go to ``bench/results/alerts.json``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import psutil
from elasticsearch import Elasticsearch, helpers

from alerts.evaluate import SubscriptionIndex, compile_subscription
from alerts.owners import Owner
from alerts.secretbox import SecretBox, new_key, new_webhook_secret
from alerts.subscriptions import Subscription
from bench.common import environment, write_json
from bench.e2e import Slice, _free_port, _lines, _publish
from connectors.clients import elasticsearch_client, kafka_consumer_client
from connectors.kafka import ConsumerLagProbe
from connectors.lead_index import lead_mappings
from simulator import SimulationConfig, build_world
from tracer.commands.reprocess import reprocess as offline_reprocess
from tracer.settings import TracerSettings

__all__ = ["run_alerts"]

OWNER = "bench-officer"


#: District-wide subscriptions per district in the realistic mix (a district's supervisors).
DISTRICT_WATCHES = 10
MIXES = ("realistic", "heavy")


def _subscriptions(
    count: int, districts: list[str], persons: list[str], *, mix: str = "realistic", seed: int = 16
) -> list[Subscription]:
    rng = random.Random(seed)
    now = "2026-01-01T00:00:00+00:00"
    make = _heavy if mix == "heavy" else _realistic
    wide = min(DISTRICT_WATCHES * len(districts), count // 10)
    if mix != "heavy":
        # Case officers watch their own people: a person has one or two watchers. 10,000
        # subscriptions of 1-5 persons cover a watchlist of about 2 x 10,000 people, most of
        # whom have no lead in this world's events (ids outside the roster stand for them).
        persons = persons + [f"W{i:07d}" for i in range(max(0, 2 * count - len(persons)))]
    return [
        Subscription(f"b{i:06d}", OWNER, now, now, **make(rng, i, wide, districts, persons))
        for i in range(count)
    ]


def _realistic(
    rng: random.Random, i: int, wide: int, districts: list[str], persons: list[str]
) -> dict[str, Any]:
    if i < wide // 2:  # a supervisor: new high leads in the district
        return {"districts": (districts[i % len(districts)],), "min_tier": "high"}
    if i < wide:  # a desk: one source and event type over a score
        source, event_type = rng.choice(_SOURCE_EVENTS)
        return {
            "districts": (districts[i % len(districts)],),
            "sources": (source,),
            "event_types": (event_type,),
            "min_score": 25.0,
        }
    if rng.random() < 0.01:  # an analyst's restricted query
        return {
            "districts": (rng.choice(districts),),
            "query": {
                "bool": {
                    "must": [{"match": {"event_name": rng.choice(["wei", "fang", "伟", "芳"])}}],
                    "filter": [{"range": {"score": {"gte": 20}}}],
                }
            },
        }
    return {"persons": tuple(rng.sample(persons, k=rng.randint(1, 5)))}  # a case officer


_SOURCE_EVENTS = (
    ("bank", "card_issued"),
    ("bank", "account_opened"),
    ("telecom", "sim_registered"),
    ("hukou", "move_in"),
)


def _heavy(
    rng: random.Random, _i: int, _wide: int, districts: list[str], persons: list[str]
) -> dict[str, Any]:
    kind = rng.random()
    if kind < 0.8:
        return {"persons": tuple(rng.sample(persons, k=rng.randint(1, 3)))}
    if kind < 0.95:
        return {
            "districts": (rng.choice(districts),),
            "sources": (rng.choice(["hukou", "bank", "telecom"]),),
            "min_tier": "high",
            "min_score": round(rng.uniform(10, 40), 1),
        }
    return {
        "districts": (rng.choice(districts),),
        "query": {
            "bool": {
                "must": [{"match": {"event_name": rng.choice(["wei", "fang", "伟", "芳"])}}],
                "filter": [{"range": {"score": {"gte": rng.uniform(5, 25)}}}],
            }
        },
    }


def _es_query(sub: Subscription, scope: list[str], ids: list[str]) -> dict[str, Any]:
    """The subscription as an Elasticsearch query restricted to a batch's lead ids."""
    filters: list[Any] = [
        {"ids": {"values": ids}},
        {"terms": {"district": list(sub.districts or scope)}},
        {"term": {"status": "new"}},
    ]
    if sub.persons:
        filters.append({"terms": {"person_id": list(sub.persons)}})
    if sub.sources:
        filters.append({"terms": {"source": list(sub.sources)}})
    if sub.min_tier == "high":
        filters.append({"term": {"tier": "high"}})
    if sub.min_score is not None:
        filters.append({"range": {"score": {"gte": sub.min_score}}})
    if sub.query is not None:
        filters.append(dict(sub.query))
    return {"bool": {"filter": filters}}


def evaluate_phase(
    leads: list[dict[str, Any]], subs: list[Subscription], scope: list[str]
) -> dict[str, Any]:
    owner = Owner(OWNER, districts=frozenset(scope))
    compiled = [c for s in subs if (c := compile_subscription(s, owner)) is not None]
    index = SubscriptionIndex(compiled)
    started = time.perf_counter()
    rounds, matched = 0, 0
    while time.perf_counter() - started < 2.0:
        matched = sum(len(index.matching(lead)) for lead in leads)
        rounds += 1
    seconds = time.perf_counter() - started
    candidates = sum(len(index.candidates(lead)) for lead in leads)
    return {
        "us_per_lead": round(seconds / (rounds * len(leads)) * 1e6, 2),
        "notifications_per_lead": round(matched / len(leads), 3),
        "candidates_per_lead": round(candidates / len(leads), 3),
    }


def msearch_phase(
    es: Elasticsearch, leads: list[dict[str, Any]], subs: list[Subscription], scope: list[str]
) -> dict[str, Any]:
    index = f"bench-alerts-{uuid.uuid4().hex[:6]}"
    es.indices.create(index=index, mappings=lead_mappings())
    try:
        batch = leads[:500]
        helpers.bulk(es, ({"_index": index, "_id": d["lead_id"], **d} for d in batch), refresh=True)
        ids = [d["lead_id"] for d in batch]
        started = time.perf_counter()
        hits = 0
        for start in range(0, len(subs), 1000):  # bounded request bodies
            body: list[Any] = []
            for sub in subs[start : start + 1000]:
                body += [{}, {"query": _es_query(sub, scope, ids), "size": 500, "_source": False}]
            response = es.msearch(index=index, searches=body)
            hits += sum(len(r["hits"]["hits"]) for r in response["responses"])
        seconds = time.perf_counter() - started
        owner = Owner(OWNER, districts=frozenset(scope))
        compiled = [c for s in subs if (c := compile_subscription(s, owner)) is not None]
        ours = sum(len(SubscriptionIndex(compiled).matching(d)) for d in batch)
        return {
            "seconds_per_batch_of_500": round(seconds, 3),
            "us_per_lead": round(seconds / len(batch) * 1e6, 1),
            "hits": hits,
            "in_process_hits": ours,
        }
    finally:
        es.options(ignore_status=404).indices.delete(index=index)


class Receiver:
    """Loopback webhook receiver: arrival time per notification id."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as a real receiver: HTTP/1.0 closed every connection, and the
            # worker's CPU then went on a TCP connection per delivery.
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                now = time.time()
                receiver.arrived.setdefault(orjson.loads(body)["data"]["notification_id"], now)
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _quantiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"count": 0}
    ordered = sorted(samples)
    return {
        "count": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def pipeline_run(  # noqa: PLR0915, PLR0917 - a benchmark's internal step
    workdir: Path,
    roster: list[bytes],
    events: list[bytes],
    subs: list[Subscription] | None,
    scope: list[str],
    say: Any,
    *,
    baseline: Path | None = None,
    webhook: bool = True,
) -> dict[str, Any]:
    """One worker over the backlog: events/s, worker CPU per event, and (on) the latencies.

    ``baseline``: run the worker from that checkout instead (the code before a change), with
    this checkout's stopwatch (``bench/alerts_worker.py`` copied there). ``webhook``: with
    the one webhook subscription (``False``: alerting's cost without HTTP deliveries).
    """
    name = f"alerts-{len(subs) if subs is not None else 'off'}" + ("-base" if baseline else "")
    s = Slice(name, workdir)
    tag = s.settings.consumer_group.removeprefix("tracer-")
    key, secret = new_key(), new_webhook_secret()
    extra = {
        "TRACER_ALERTS_ENABLED": "true" if subs is not None else "false",
        "TRACER_SUBSCRIPTIONS_INDEX": f"subscriptions-{tag}",
        "TRACER_ALERTS_INDEX": f"alerts-{tag}",
        "TRACER_REVIEW_USERS_INDEX": f"review-users-{tag}",
        "TRACER_ALERT_SECRET_KEY": key,
        "TRACER_ALERT_ALLOW_HTTP_WEBHOOKS": "true",
        "TRACER_ALERT_ALLOW_PRIVATE_WEBHOOKS": "true",
    }
    s.env |= extra
    es = elasticsearch_client(s.settings, request_timeout=60)
    receiver = Receiver()
    stages = workdir / f"{name}-stages.json"
    poller = SearchablePoller(s.settings, s.settings.leads_alias)
    try:
        if subs is not None:
            hooked = Subscription(
                "hook",
                OWNER,
                "2026-01-01T00:00:00+00:00",
                "2026-01-01T00:00:00+00:00",
                webhook_url=f"http://127.0.0.1:{receiver.server.server_port}/hook",
                webhook_secret=SecretBox(key).seal(secret),
                min_tier="high",
            )
            _store(es, extra, [*subs, hooked] if webhook else subs, scope)
        # The roster first, the events once the worker is ready (and has its subscriptions):
        # the steady state at full rate, with no start-up work (loading the watchlist or the
        # subscriptions, re-matching a roster applied while events flow) in the figures.
        _publish(s, roster, [])
        for trigger in (".profile-on", ".profile-off"):  # an earlier run's, same name
            stages.with_name(stages.name + trigger).unlink(missing_ok=True)
        _start_probed_worker(s, stages, baseline)
        probe = ConsumerLagProbe(s.settings)
        try:
            s.wait_ready()
            cpu = CpuWindow(s, len(events), alerting=subs is not None, stages=stages)
            poller.start()
            started = time.perf_counter()
            _publish(s, [], events)
            while s.lag(probe) > 0:
                time.sleep(0.05)
            seconds = time.perf_counter() - started
        finally:
            probe.close()
        result: dict[str, Any] = {
            "events_per_s": round(len(events) / seconds),
            "seconds": round(seconds, 2),
        }
        # Both on and off: the publisher, the marks and the webhooks finish behind the
        # pipeline, and their CPU counts as alerting's.
        time.sleep(TAIL_S)
        result["worker_cpu"] = cpu.stop()
        _await_window_closed(stages, s.workers[0].pid)
        poller.stop()
        s.stop_workers()  # the stage file is complete once the worker exited
        probed = orjson.loads(stages.read_bytes()) if stages.exists() else {}
        result["loop_lag"] = _lag_summary(probed.get("loop_lag_s", []))
        # Where the loop's thread was while stalled (bench.alerts_worker's watchdog).
        result["stall_samples"] = probed.get("stall_samples", {})
        # The garbage collector's passes in the CPU window, by generation: [count, seconds].
        result["gc"] = probed.get("gc_window", {})
        if probed.get("profile"):
            say(f"alerts: {name}: steady-state profile {probed['profile']}")
        if subs is not None:
            stamps = probed.get("stamps", {})
            result |= _latencies(s, receiver, poller.seen, stamps, cpu.loaded_at)
            result["bulks"] = _bulk_summary(probed.get("bulks", {}))
        result["load_average_1m"] = round(os.getloadavg()[0], 2)
        say(f"alerts: {name}: {_brief(result)}")
        return result
    finally:
        poller.stop()
        receiver.server.shutdown()
        s.stop(keep=False)
        quiet = es.options(ignore_status=404)
        for index in (v for k, v in extra.items() if k.endswith("_INDEX")):
            quiet.indices.delete(index=index)


#: Seconds after the backlog is done before the worker's CPU is read (on and off alike).
TAIL_S = 3.0


class CpuWindow:
    """The worker process's CPU seconds per event, from its steady state to the end.

    The window opens once the worker is ready and, with alerting on, has loaded its
    subscriptions (a one-off at start, not a cost per event), before the ``events`` are
    published. CPU time (user + system, all threads) is what the worker spent,
    whoever else ran on the machine: far steadier than a wall-clock rate on shared cores.

    Beside it, over the same window: the CPU seconds of Elasticsearch and Kafka (their JVMs,
    shared with whatever else uses the stack) and how busy the machine's cores were, to tell
    whether the run was starved. Opening and closing the window also drops the trigger files
    of the worker's steady-state profile (``bench.alerts_worker``, ``BENCH_ALERTS_PROFILE``).
    """

    def __init__(self, s: Slice, events: int, *, alerting: bool, stages: Path) -> None:
        self._process = psutil.Process(s.workers[0].pid)
        if alerting:
            _wait_for_line(s.workdir / f"{s.name}-worker0.log", "active subscriptions loaded")
        #: When the worker could evaluate leads (to the poll's 20 ms).
        self.loaded_at = time.time()
        self._events = events
        self._stages = stages
        self._stack = _stack_processes()
        self._stack_start = {name: _cpu_of(p) for name, p in self._stack.items()}
        self._machine_start = psutil.cpu_times()
        stages.with_name(stages.name + ".profile-on").touch()
        self._start = _cpu_of(self._process)

    def stop(self) -> dict[str, Any]:
        """The CPU seconds since the window opened, and per event (ms); the stack's and cores'."""
        spent = _cpu_of(self._process) - self._start
        self._stages.with_name(self._stages.name + ".profile-off").touch()
        machine = psutil.cpu_times()
        total = sum(machine) - sum(self._machine_start)
        idle = (machine.idle + machine.iowait) - (
            self._machine_start.idle + self._machine_start.iowait
        )
        return {
            "cpu_s": round(spent, 2),
            "events": self._events,
            "cpu_ms_per_event": round(spent / max(1, self._events) * 1000, 4),
            "stack_cpu_s": {
                name: round(_cpu_of(p) - self._stack_start[name], 2)
                for name, p in self._stack.items()
            },
            "cores_busy": round(1 - idle / total, 3) if total > 0 else None,
        }


def _await_window_closed(stages: Path, pid: int, timeout_s: float = 30.0) -> None:
    """Wait until the worker saw the window close (its figures, its profile) before its stop."""
    prefix = os.environ.get("BENCH_ALERTS_PROFILE")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        written = orjson.loads(stages.read_bytes()) if stages.exists() else {}
        if written.get("gc_window") and (not prefix or Path(f"{prefix}.{pid}").exists()):
            return
        time.sleep(0.2)


def _cpu_of(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:  # gone (a stack process restarted): counted as nothing
        return 0.0
    return float(times.user + times.system)


def _stack_processes() -> dict[str, psutil.Process]:
    """The local stack's JVMs by their main class (what shares the cores with the worker)."""
    found: dict[str, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info.get("cmdline") or ())
        if "org.elasticsearch.bootstrap.Elasticsearch" in line:
            found["elasticsearch"] = process
        elif "kafka.Kafka " in line or line.endswith("kafka.Kafka"):
            found["kafka"] = process
    return found


def _wait_for_line(log: Path, text: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{text!r} not in {log} within {timeout_s} s")


def _bulk_summary(bulks: dict[str, list[list[float]]]) -> dict[str, Any]:
    """Per kind of outbox bulk: requests, documents, and seconds per request (p50 / p99)."""
    return {
        kind: {"requests": len(timed), "documents": int(sum(n for n, _ in timed))}
        | _quantiles([seconds for _, seconds in timed])
        for kind, timed in bulks.items()
    }


def _start_probed_worker(s: Slice, stages: Path, baseline: Path | None = None) -> None:
    """``tracer worker`` with the stage stopwatch and the loop probe (``bench.alerts_worker``).

    From ``baseline`` (another checkout) if given: its code first on the path.
    """
    env = s.env if baseline is None else s.env | {"PYTHONPATH": str(baseline)}
    with (s.workdir / f"{s.name}-worker0.log").open("wb") as log:
        s.workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.alerts_worker",
                    str(_free_port()),
                    str(stages.resolve()),
                ],
                env=env,
                cwd=baseline,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )


#: The searchable poller's period: the resolution of "the lead became searchable".
POLL_S = 0.02


class SearchablePoller:
    """When each lead first answers a search of the leads alias (polled every ``POLL_S``).

    A lead is searchable once the refresh after its write ran (``refresh_interval`` 1 s); a
    lead first seen by a search sent at ``t`` became searchable after the previous search and
    before ``t`` plus that search's own time: ``seen`` is that search's send time, accurate to
    ``POLL_S`` plus one search (a few ms on ~1,000 leads).
    """

    def __init__(self, settings: TracerSettings, alias: str) -> None:
        self._es = elasticsearch_client(settings, request_timeout=10)
        self._alias = alias
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        quiet = self._es.options(ignore_status=404)
        while not self._stop.is_set():
            sent = time.time()
            response = quiet.search(
                index=self._alias,
                size=10_000,
                source=False,
                query={"match_all": {}},
                track_total_hits=False,
            )
            for hit in response.get("hits", {}).get("hits", []):
                self.seen.setdefault(hit["_id"], sent)
            self._stop.wait(POLL_S)


def _lag_summary(lags: list[float]) -> dict[str, Any]:
    """The loop probe's lateness: quantiles, and the time it spent more than 100 ms late."""
    if not lags:
        return {"ticks": 0}
    ordered = sorted(lags)
    return {
        "ticks": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
        "stalled_s_over_100ms": round(sum(x for x in ordered if x > 0.1), 2),
    }


def _brief(result: dict[str, Any]) -> str:
    parts = [
        f"{result['events_per_s']} events/s",
        f"worker CPU {result['worker_cpu']['cpu_ms_per_event']} ms/event",
        f"stack CPU s {result['worker_cpu']['stack_cpu_s']}",
        f"cores busy {result['worker_cpu']['cores_busy']}",
        f"gc [passes, s] {result.get('gc')}",
        f"load {result['load_average_1m']}",
        f"loop lag {result['loop_lag']}",
    ]
    for stage, figures in result.get("stages", {}).items():
        if figures.get("count"):
            parts.append(f"{stage} p50 {figures['p50_ms']} p99 {figures['p99_ms']} ms")
    for kind, figures in result.get("bulks", {}).items():
        if figures.get("count"):
            each = figures["documents"] // figures["requests"]
            parts.append(
                f"{kind} bulks {figures['requests']} x {each} docs: "
                f"p50 {figures['p50_ms']} p99 {figures['p99_ms']} ms"
            )
    return "; ".join(parts)


def _store(
    es: Elasticsearch, extra: dict[str, str], subs: list[Subscription], scope: list[str]
) -> None:
    from alerts.store import subscription_mappings

    es.index(
        index=extra["TRACER_REVIEW_USERS_INDEX"],
        id=OWNER,
        document={"username": OWNER, "role": "officer", "districts": scope},
    )
    index = extra["TRACER_SUBSCRIPTIONS_INDEX"]
    es.indices.create(index=index, mappings=subscription_mappings())
    helpers.bulk(
        es,
        ({"_index": index, "_id": s.subscription_id, **s.to_document()} for s in subs),
        refresh=True,
        chunk_size=2000,
    )


def _latencies(
    s: Slice,
    receiver: Receiver,
    searchable: dict[str, float],
    stamps: dict[str, dict[str, float]],
    loaded_at: float,
) -> dict[str, Any]:
    """Per notification: each stage's time, from the topic, the receiver and the worker's file.

    ``to_topic_after_start`` leaves out the notifications of leads searchable before the worker
    had loaded its subscriptions (``loaded_at``): a worker started on a backlog evaluates
    nothing until then, a wait once per start that is not the pipeline's steady latency.

    Stages (seconds since the epoch): ``ack`` the lead's bulk acknowledged (the notification's
    ``created_at``), ``searchable`` (:class:`SearchablePoller`), ``stored`` / ``handed`` /
    ``acked`` (``bench.alerts_worker``), ``topic`` (the Kafka timestamp, stamped by the
    worker's producer when it sends), ``webhook`` (the receiver's arrival).
    """
    consumer = kafka_consumer_client(
        s.settings,
        s.topic("alerts"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    spans: dict[str, list[float]] = {name: [] for name in STAGE_SPANS}
    after_start: list[float] = []
    ids = set()
    unseen = messages = 0
    for message in consumer:
        messages += 1
        note = orjson.loads(message.value)
        ids.add(note["notification_id"])
        nid = note["notification_id"]
        at = dict(stamps.get(nid, {}))
        at["ack"] = _epoch(note["created_at"])
        at["topic"] = message.timestamp / 1000
        if nid in receiver.arrived:
            at["webhook"] = receiver.arrived[nid]
        if note["lead_id"] in searchable:
            at["searchable"] = searchable[note["lead_id"]]
        else:
            unseen += 1
        for name, (start, end) in STAGE_SPANS.items():
            if start in at and end in at:
                spans[name].append(at[end] - at[start])
        if at.get("searchable", 0.0) >= loaded_at:
            after_start.append(at["topic"] - at["searchable"])
    consumer.close()
    return {
        "notifications": messages,
        "distinct_notifications": len(ids),
        "leads_never_seen_searchable": unseen,
        "to_topic": _quantiles(spans["searchable->topic"]),
        "to_topic_after_start": _quantiles(after_start),
        "to_webhook": _quantiles(spans["searchable->webhook"]),
        "stages": {name: _quantiles(values) for name, values in spans.items()},
    }


#: The spans reported per notification: (from stage, to stage); see :func:`_latencies`.
STAGE_SPANS = {
    "ack->searchable": ("ack", "searchable"),
    "ack->stored": ("ack", "stored"),
    "stored->handed": ("stored", "handed"),
    "handed->acked": ("handed", "acked"),
    "ack->topic": ("ack", "topic"),
    "searchable->topic": ("searchable", "topic"),
    "searchable->webhook": ("searchable", "webhook"),
}


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


def run_alerts(
    *,
    people: int = 20_000,
    watchlist: int = 1_000,
    events: int = 20_000,
    counts: tuple[int, ...] = (1_000, 10_000),
    mixes: tuple[str, ...] = MIXES,
    heavy: tuple[int, ...] = (10_000,),
    phases: tuple[str, ...] = ("evaluate", "msearch", "pipeline"),
    rounds: int = 1,
    say: Any = print,
    prefix: str = "",
    baseline: Path | None = None,
    webhook: bool = True,
) -> dict[str, Any]:
    """Run the phases; write ``bench/results/{prefix}alerts.json``."""
    workdir = Path("out/bench-alerts")
    leads, roster, lines, scope, persons = _world(workdir, people, watchlist, events)
    say(f"alerts: {len(leads):,} leads over {len(scope)} districts; {len(persons):,} people")
    result: dict[str, Any] = {
        "environment": environment(),
        "events": events,
        "leads": len(leads),
        "districts": len(scope),
        "webhook_subscription": webhook,
    }
    es = elasticsearch_client(TracerSettings(), request_timeout=120)
    cases = [(count, mix) for mix in mixes for count in counts if mix != "heavy"]
    cases += [(count, "heavy") for count in heavy if "heavy" in mixes]
    for count, mix in cases:
        subs = _subscriptions(count, scope, persons, mix=mix)
        entry: dict[str, Any] = {"mix": mix, "subscriptions": count}
        if "evaluate" in phases:
            entry["evaluate"] = evaluate_phase(leads, subs, scope)
        if "msearch" in phases:
            entry["msearch"] = msearch_phase(es, leads, subs, scope)
        say(f"alerts: {count:,} subscriptions ({mix}): {entry}")
        result[_case(count, mix)] = entry
    if "pipeline" in phases:
        _pipeline_phase(
            result,
            cases,
            workdir,
            (roster, lines),
            scope,
            persons,
            say,
            rounds=rounds,
            baseline=baseline,
            webhook=webhook,
        )
    path = write_json(f"{prefix}alerts.json", result)
    say(f"alerts: wrote {path}")
    return result


def _case(count: int, mix: str) -> str:
    return str(count) if mix == "realistic" else f"{count}-{mix}"


def _world(
    workdir: Path, people: int, watchlist: int, events: int
) -> tuple[list[dict[str, Any]], list[bytes], list[bytes], list[str], list[str]]:
    workdir.mkdir(parents=True, exist_ok=True)
    world = build_world(
        SimulationConfig(people=people, watchlist=watchlist, events=events, seed=16)
    )
    roster, lines = _lines(world)
    (workdir / "roster.jsonl").write_bytes(b"\n".join(roster) + b"\n")
    (workdir / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    out = workdir / "leads.jsonl"
    offline_reprocess(
        roster=workdir / "roster.jsonl", events=workdir / "events.jsonl", out=out, model=None
    )
    leads = [orjson.loads(line) for line in out.read_bytes().splitlines() if line.strip()]
    scope = sorted({d for lead in leads if (d := lead.get("district"))})
    persons = sorted({orjson.loads(r)["person_id"] for r in roster})
    return leads, roster, lines, scope, persons


def _pipeline_phase(  # noqa: PLR0917 - a benchmark's internal step
    result: dict[str, Any],
    cases: list[tuple[int, str]],
    workdir: Path,
    feeds: tuple[list[bytes], list[bytes]],
    scope: list[str],
    persons: list[str],
    say: Any,
    *,
    rounds: int = 1,
    baseline: Path | None = None,
    webhook: bool = True,
) -> None:
    """Off, then each case on (and on from ``baseline``), an off after them, ``rounds`` times.

    Every "on" run is compared with the two "off" runs around it (the machine's load drifts;
    alternating keeps each comparison to its neighbours): its wall-clock events/s ratio and its
    worker-CPU-per-event ratio. A case reports each round's ratios and their median and range.
    """
    roster, lines = feeds
    offs = [pipeline_run(workdir, roster, lines, None, scope, say)]
    variants = [(c, m, None) for c, m in cases]
    if baseline is not None:
        variants += [(c, m, baseline) for c, m in cases]
    runs: dict[str, list[dict[str, Any]]] = {_variant(c, m, b): [] for c, m, b in variants}
    for _ in range(rounds):
        ons = []
        for count, mix, root in variants:
            subs = _subscriptions(count, scope, persons, mix=mix)
            ons.append(
                (
                    _variant(count, mix, root),
                    pipeline_run(
                        workdir, roster, lines, subs, scope, say, baseline=root, webhook=webhook
                    ),
                )
            )
        offs.append(pipeline_run(workdir, roster, lines, None, scope, say))
        for key, on in ons:
            on["off_around"] = [offs[-2], offs[-1]]  # dropped below; kept for the ratios
            runs[key].append(on)
    result["pipeline_off"] = {
        "events_per_s": [o["events_per_s"] for o in offs],
        "worker_cpu_ms_per_event": [o["worker_cpu"]["cpu_ms_per_event"] for o in offs],
        "loop_lag": [o["loop_lag"] for o in offs],
    }
    for key, entries in runs.items():
        summary = _compare(entries)
        result.setdefault(key, {})["pipeline"] = entries
        result[key]["versus_off"] = summary
        say(f"alerts: {key}: {summary}")
    result["summary"] = _summary_lines(result, runs)
    for line in result["summary"]:
        say(line)


def _variant(count: int, mix: str, baseline: Path | None) -> str:
    return _case(count, mix) + ("@baseline" if baseline is not None else "")


def _spread(values: list[float]) -> dict[str, Any]:
    """Each value, and their median with the range (what a reader should quote)."""
    return {
        "each": values,
        "median": round(statistics.median(values), 3),
        "min": min(values),
        "max": max(values),
    }


def _compare(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Each "on" run against the mean of its two neighbouring "off" runs."""
    wall, cpu = [], []
    for on in entries:
        around = on.pop("off_around")
        off_rate = statistics.mean(o["events_per_s"] for o in around)
        off_cpu = statistics.mean(o["worker_cpu"]["cpu_ms_per_event"] for o in around)
        wall.append(round(on["events_per_s"] / off_rate, 3))
        cpu.append(round(on["worker_cpu"]["cpu_ms_per_event"] / off_cpu, 3))
    return {"events_per_s_on_over_off": _spread(wall), "cpu_per_event_on_over_off": _spread(cpu)}


def _summary_lines(result: dict[str, Any], runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The figures to quote, one line each (also kept in the JSON under ``summary``)."""
    off = result["pipeline_off"]
    lines = [
        f"alerts summary: {result['events']:,} events, {result['leads']:,} leads; "
        f"load average {result['environment']['load_average_1m']} at start; webhook "
        f"subscription {'on' if result.get('webhook_subscription', True) else 'off'}",
        f"  off: events/s {off['events_per_s']}; worker CPU ms/event "
        f"{off['worker_cpu_ms_per_event']}",
    ]
    for key, entries in runs.items():
        versus = result[key]["versus_off"]
        lines.append(
            f"  {key}: events/s {[e['events_per_s'] for e in entries]}; worker CPU ms/event "
            f"{[e['worker_cpu']['cpu_ms_per_event'] for e in entries]}; load "
            f"{[e['load_average_1m'] for e in entries]}"
        )
        for name, figures in versus.items():
            lines.append(
                f"    {name}: median {figures['median']} (range {figures['min']}-"
                f"{figures['max']}; each {figures['each']})"
            )
        for stage in STAGE_SPANS:
            quantiles = [e["stages"][stage] for e in entries if e["stages"][stage].get("count")]
            if quantiles:
                lines.append(
                    f"    {stage}: p50 / p99 ms per round "
                    + ", ".join(f"{q['p50_ms']} / {q['p99_ms']}" for q in quantiles)
                )
        for kind in ("create", "mark", "took:create", "took:index", "took:update"):
            timed = [
                e["bulks"][kind] for e in entries if e.get("bulks", {}).get(kind, {}).get("count")
            ]
            if timed:
                lines.append(
                    f"    {kind} bulk (docs/request, p50 / p99 ms) per round "
                    + ", ".join(
                        f"{t['documents'] // t['requests']}: {t['p50_ms']} / {t['p99_ms']}"
                        for t in timed
                    )
                )
    return lines


def _listed(text: str) -> tuple[str, ...]:
    """A comma-separated option's items; ``""`` is none (``--heavy ""``: no heavy case)."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--watchlist", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--subscriptions", default="1000,10000", help="comma-separated counts")
    parser.add_argument("--mixes", default=",".join(MIXES), help="comma-separated")
    parser.add_argument("--heavy", default="10000", help="counts of the heavy mix")
    parser.add_argument("--phases", default="evaluate,msearch,pipeline", help="comma-separated")
    parser.add_argument(
        "--rounds", type=int, default=1, help="pipeline: on/off alternations of every case"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="pipeline: also run each case with the worker of this checkout (before/after)",
    )
    parser.add_argument(
        "--no-webhook",
        action="store_true",
        help="pipeline: leave out the one webhook subscription (alerting's cost without HTTP)",
    )
    args = parser.parse_args()
    run_alerts(
        people=args.people,
        watchlist=args.watchlist,
        events=args.events,
        counts=tuple(int(c) for c in _listed(args.subscriptions)),
        mixes=_listed(args.mixes),
        heavy=tuple(int(c) for c in _listed(args.heavy)),
        phases=_listed(args.phases),
        rounds=args.rounds,
        baseline=args.baseline,
        webhook=not args.no_webhook,
    )


if __name__ == "__main__":
    main()
