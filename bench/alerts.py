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
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                now = time.time()
                receiver.arrived.setdefault(orjson.loads(body)["data"]["notification_id"], now)
                self.send_response(204)
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


def pipeline_run(  # noqa: PLR0917 - a benchmark's internal step
    workdir: Path,
    roster: list[bytes],
    events: list[bytes],
    subs: list[Subscription] | None,
    scope: list[str],
    say: Any,
) -> dict[str, Any]:
    name = f"alerts-{len(subs) if subs is not None else 'off'}"
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
            _store(es, extra, [*subs, hooked], scope)
        _publish(s, roster, events)
        _start_probed_worker(s, stages)
        probe = ConsumerLagProbe(s.settings)
        try:
            s.wait_ready()
            poller.start()
            started = time.perf_counter()
            while s.lag(probe) > 0:
                time.sleep(0.05)
            seconds = time.perf_counter() - started
        finally:
            probe.close()
        result: dict[str, Any] = {
            "events_per_s": round(len(events) / seconds),
            "seconds": round(seconds, 2),
        }
        if subs is not None:
            time.sleep(3.0)  # the webhook queue drains behind the pipeline
        poller.stop()
        s.stop_workers()  # the stage file is complete once the worker exited
        probed = orjson.loads(stages.read_bytes()) if stages.exists() else {}
        result["loop_lag"] = _lag_summary(probed.get("loop_lag_s", []))
        # Where the loop's thread was while stalled (bench.alerts_worker's watchdog).
        result["stall_samples"] = probed.get("stall_samples", {})
        if subs is not None:
            result |= _latencies(s, receiver, poller.seen, probed.get("stamps", {}))
        say(f"alerts: {name}: {_brief(result)}")
        return result
    finally:
        poller.stop()
        receiver.server.shutdown()
        s.stop(keep=False)
        quiet = es.options(ignore_status=404)
        for index in (v for k, v in extra.items() if k.endswith("_INDEX")):
            quiet.indices.delete(index=index)


def _start_probed_worker(s: Slice, stages: Path) -> None:
    """``tracer worker`` with the stage stopwatch and the loop probe (``bench.alerts_worker``)."""
    with (s.workdir / f"{s.name}-worker0.log").open("wb") as log:
        s.workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.alerts_worker", str(_free_port()), str(stages)],
                env=s.env,
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
    parts = [f"{result['events_per_s']} events/s", f"loop lag {result['loop_lag']}"]
    for stage, figures in result.get("stages", {}).items():
        if figures.get("count"):
            parts.append(f"{stage} p50 {figures['p50_ms']} p99 {figures['p99_ms']} ms")
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
) -> dict[str, Any]:
    """Per notification: each stage's time, from the topic, the receiver and the worker's file.

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
    consumer.close()
    return {
        "notifications": messages,
        "distinct_notifications": len(ids),
        "leads_never_seen_searchable": unseen,
        "to_topic": _quantiles(spans["searchable->topic"]),
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
        _pipeline_phase(result, cases, workdir, (roster, lines), scope, persons, say, rounds=rounds)
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
) -> None:
    """Off, then every case on with an off after each, ``rounds`` times: one machine's load.

    Each "on" run's ratio is to the mean of the two "off" runs around it (the machine's load
    drifts; alternating keeps each ratio to its neighbours); a case's ratio is the mean of its
    rounds', and every run's figure is kept.
    """
    roster, lines = feeds
    offs = [pipeline_run(workdir, roster, lines, None, scope, say)]
    runs: dict[str, list[dict[str, Any]]] = {_case(c, m): [] for c, m in cases}
    ratios: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for count, mix in cases:
            subs = _subscriptions(count, scope, persons, mix=mix)
            on = pipeline_run(workdir, roster, lines, subs, scope, say)
            offs.append(pipeline_run(workdir, roster, lines, None, scope, say))
            around = (offs[-2]["events_per_s"] + offs[-1]["events_per_s"]) / 2
            runs[_case(count, mix)].append(on)
            ratios[_case(count, mix)].append(round(on["events_per_s"] / around, 3))
    result["pipeline_off"] = {
        "runs": [o["events_per_s"] for o in offs],
        "events_per_s_mean": round(statistics.mean(o["events_per_s"] for o in offs)),
        "loop_lag": [o["loop_lag"] for o in offs],
    }
    for key, entries in runs.items():
        result[key]["pipeline"] = entries[-1] if len(entries) == 1 else entries
        result[key]["throughput_ratio_on_off"] = ratios[key]
        result[key]["throughput_ratio_mean"] = round(statistics.mean(ratios[key]), 3)
        say(f"alerts: {key}: on/off ratios {ratios[key]}, mean {statistics.mean(ratios[key]):.3f}")


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
    args = parser.parse_args()
    run_alerts(
        people=args.people,
        watchlist=args.watchlist,
        events=args.events,
        counts=tuple(int(c) for c in args.subscriptions.split(",")),
        mixes=tuple(args.mixes.split(",")),
        heavy=tuple(int(c) for c in args.heavy.split(",")),
        phases=tuple(args.phases.split(",")),
        rounds=args.rounds,
    )


if __name__ == "__main__":
    main()
