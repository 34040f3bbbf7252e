"""Benchmark: the review service under 20 concurrent officers with 1M leads (issue 15).

    python -m bench.review_load [--leads 1000000] [--officers 20] [--duration 60]
                                [--think 0] [--keep]

1. Loads ``--leads`` leads into per-district indices behind a PRIVATE alias
   (``bench-review-leads-<N>``; never the shared ``leads``), across ``--districts`` districts.
   The documents are real leads (``tracer simulate`` + ``tracer reprocess``, a few hundred) used
   as templates, each copy with its own lead, person and event ids, names, score, time,
   district and review state. The load is ``parallel_bulk`` with refresh off, then on. A rerun
   finds the alias holding N leads and skips the load.
2. Starts ``tracer serve`` as a child process on the private alias, a private users index,
   audit index, events alias and audit topic; makes ``--officers`` officers (1-3 districts
   each) and signs each in.
3. Each officer (one ``httpx.AsyncClient``) loops for ``--duration`` seconds: a search through
   the JSON API (tier, status, district, name text, date range, sort, page 1-5), or opens the
   HTML page of a lead from their last search, back to back (``--think 0``: the service
   saturated) or after an exponential pause of mean ``--think`` s (an officer reading).
   Latency is per request; the table gives
   p50/p95/p99 and requests/s of each kind and the errors (anything but a 200).

Results go to ``bench/results/review_load.json`` under the run's lead count. The private
indices, users, audit index and topic are dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson
from elasticsearch import Elasticsearch
from elasticsearch.helpers import parallel_bulk
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bench.common import RESULTS, environment
from connectors.clients import elasticsearch_client
from connectors.lead_index import (
    district_index_name,
    drop_lead_index,
    ensure_district_index,
    ensure_lead_index,
)
from review.security import hash_password
from review.users import users_mappings
from tracer.settings import TracerSettings

__all__ = ["main"]

URL = "http://127.0.0.1:9200"
PASSWORD = "bench review password"
OUT = RESULTS / "review_load.json"
#: Hainan's districts and counties (the simulator's world), then numbered ones if more wanted.
DISTRICT_NAMES = (
    "美兰区", "龙华区", "秀英区", "琼山区", "海棠区", "吉阳区", "天涯区", "崖州区",
    "西沙区", "南沙区", "那大镇", "五指山市", "琼海市", "文昌市", "万宁市", "东方市",
    "定安县", "屯昌县", "澄迈县", "临高县",
)  # fmt: skip
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文"
STATUSES = ("new",) * 16 + ("reviewing",) * 2 + ("confirmed", "rejected")
TIERS = ("high", "medium", "low")
PERSON_LEADS = 20  # leads per person on average: the lead page's timeline has some to show
DAYS = 90  # leads spread over the last 90 days
Kind = Literal["search", "page"]

console = Console(stderr=True, highlight=False)


# --- 1. the leads -------------------------------------------------------------------------


def real_templates(workdir: Path) -> list[dict[str, Any]]:
    """Real leads: a small simulated world reprocessed by the matcher (a few seconds)."""
    tracer = Path(sys.executable).parent / "tracer"
    world = workdir / "world"
    run = [str(tracer), "simulate", "--out", str(world), "--people", "20000"]
    subprocess.run([*run, "--watchlist", "1000", "--events", "10000", "--quiet"], check=True)
    out = workdir / "leads.jsonl"
    subprocess.run(
        [str(tracer), "reprocess", "--roster", str(world / "roster.jsonl"), "--events",
         str(world / "events.jsonl"), "--out", str(out)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    templates = [orjson.loads(line) for line in out.read_bytes().splitlines() if line.strip()]
    if len(templates) < 100:
        raise SystemExit(f"review_load: only {len(templates)} template leads came out")
    return templates


def districts_of(count: int) -> list[str]:
    """``count`` district names (Hainan's first, then numbered)."""
    names = list(DISTRICT_NAMES[:count])
    names += [f"测试区{n}" for n in range(len(names), count)]
    return names


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def make_lead(
    n: int, template: Mapping[str, Any], districts: list[str], now: dt.datetime
) -> dict[str, Any]:
    """The ``n``-th lead: ``template`` with its own ids, names, score, time, district, state.

    Deterministic in ``n`` (a rerun writes the same leads). A person keeps one district and
    one name over their ~20 leads.
    """
    rng = random.Random(n)
    person = n // PERSON_LEADS
    prng = random.Random(f"person-{person}")
    person_name = _name(prng)
    district = districts[person % len(districts)]
    source = str(template.get("source", "bank"))
    event_id = f"{source}-bench-{n:08d}"
    occurred = now - dt.timedelta(seconds=rng.randint(0, DAYS * 86400))
    stamp = occurred.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat(timespec="seconds")
    score = round(float(template.get("score", 10.0)) + rng.uniform(-4.0, 4.0), 4)
    tier = str(template.get("tier")) if rng.random() < 0.8 else rng.choice(TIERS)
    status = rng.choice(STATUSES)
    review: dict[str, Any] = {}
    if status != "new":
        review = {"assignee": f"officer{rng.randint(1, 20):02d}", "updated_at": stamp}
        if status in ("confirmed", "rejected"):
            review |= {"decided_by": review["assignee"], "decided_at": stamp, "note": "核实"}
    lead = dict(template)
    lead |= {
        "lead_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-review-{n}")),
        "person_id": f"P-bench-{person:07d}",
        "event_id": event_id,
        "event_digest": f"{n:064x}",
        "occurred_at": stamp,
        "@timestamp": stamp,
        "score": score,
        "tier": tier,
        "status": status,
        "review": review,
        "district": district,
        "person_name": person_name,
        "event_name": person_name if rng.random() < 0.7 else _name(rng),
        "run_id": "bench",
        "qualifies": True,
        "machine_updated_at": now.isoformat(timespec="seconds"),
    }
    return lead


def _actions(
    alias: str, count: int, templates: list[dict[str, Any]], districts: list[str]
) -> Iterator[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    for n in range(count):
        lead = make_lead(n, templates[n % len(templates)], districts, now)
        yield {
            "_op_type": "create",
            "_index": district_index_name(alias, lead["district"]),
            "_id": lead["lead_id"],
            "_source": lead,
        }


def load_leads(es: Elasticsearch, alias: str, count: int, districts: list[str]) -> float:
    """Fill the private alias with ``count`` leads unless it holds them; return seconds taken."""
    if es.indices.exists_alias(name=alias) and int(es.count(index=alias)["count"]) == count:
        console.print(f"[green]{alias} already holds {count:,} leads: reused")
        return 0.0
    drop_lead_index(es, alias)
    with tempfile.TemporaryDirectory(prefix="review-load-") as work:
        templates = real_templates(Path(work))
    console.print(f"{len(templates)} real leads as templates; loading {count:,} into {alias}")
    ensure_lead_index(es, alias)
    indices = [ensure_district_index(es, alias, d) for d in districts]
    # Refresh off while loading (one segment flush at the end, not one a second).
    es.indices.put_settings(index=",".join(indices), settings={"refresh_interval": "-1"})
    started = time.perf_counter()
    failed = 0
    with _progress() as progress:
        task = progress.add_task("loading leads", total=count)
        for ok, _item in parallel_bulk(
            es,
            _actions(alias, count, templates, districts),
            thread_count=2,
            chunk_size=2000,
            raise_on_error=False,
            request_timeout=120,
        ):
            failed += not ok
            progress.advance(task)
    es.indices.put_settings(index=",".join(indices), settings={"refresh_interval": "1s"})
    es.indices.refresh(index=alias)
    seconds = time.perf_counter() - started
    stored = int(es.count(index=alias)["count"])
    if failed or stored != count:
        raise SystemExit(f"review_load: {failed} bulk failures, {stored:,} of {count:,} stored")
    console.print(f"loaded {count:,} leads in {seconds:.0f} s ({count / seconds:,.0f}/s)")
    return seconds


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


# --- 2. the service and its officers -------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """The private names of one run."""

    alias: str
    users: str
    audit: str
    events: str
    topic_prefix: str


def make_officers(
    es: Elasticsearch, users_index: str, count: int, districts: list[str]
) -> dict[str, list[str]]:
    """Create ``count`` officers with 1-3 districts each in a fresh users index."""
    es.options(ignore_status=404).indices.delete(index=users_index)
    es.indices.create(index=users_index, mappings=users_mappings())
    rng = random.Random(15)
    officers: dict[str, list[str]] = {}
    hashed = hash_password(PASSWORD)  # one hash: argon2 costs ~0.1 s each, same for all
    now = dt.datetime.now(dt.UTC).isoformat()
    for i in range(1, count + 1):
        mine = rng.sample(districts, rng.randint(1, min(3, len(districts))))
        officers[f"officer{i:02d}"] = mine
        doc = {
            "username": f"officer{i:02d}",
            "role": "officer",
            "districts": mine,
            "password_hash": hashed,
            "disabled": False,
            "created_at": now,
        }
        es.index(index=users_index, id=f"officer{i:02d}", document=doc)
    es.indices.refresh(index=users_index)
    return officers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def review_service(names: Names, port: int) -> Iterator[str]:
    """``tracer serve`` on the private names; yields its base URL; stops it on exit."""
    env = os.environ | {
        "TRACER_LEADS_ALIAS": names.alias,
        "TRACER_REVIEW_USERS_INDEX": names.users,
        "TRACER_AUDIT_INDEX": names.audit,
        "TRACER_EVENTS_ALIAS": names.events,
        "TRACER_TOPIC_PREFIX": names.topic_prefix,
        "TRACER_REVIEW_SESSION_MINUTES": "30",
    }
    tracer = Path(sys.executable).parent / "tracer"
    log = open(f"/tmp/review-load-serve-{port}.log", "wb")  # noqa: SIM115 (child's lifetime)
    child = subprocess.Popen(
        [str(tracer), "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # bounded: 60 s for the service to answer
            if child.poll() is not None:
                raise SystemExit(
                    f"review_load: tracer serve exited {child.returncode}; see {log.name}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"review_load: tracer serve did not answer in 60 s; see {log.name}"
                )
            time.sleep(0.5)
        yield base
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        log.close()


# --- 3. the officers at work ---------------------------------------------------------------


@dataclass
class Tally:
    """Latencies (seconds) per kind of request, and what went wrong."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {"search": [], "page": []})
    #: (latency, seconds into the run) of each request: where the slowest ones fell.
    timeline: list[tuple[float, float]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    started: float = 0.0  # perf_counter() when the clock started

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def search_params(rng: random.Random, districts: list[str]) -> dict[str, str]:
    """A search an officer might make: a few filters, a sort, a page of the first five."""
    params: dict[str, str] = {"sort": rng.choice(("score", "time")), "page": str(rng.randint(1, 5))}
    if rng.random() < 0.5:
        params["tier"] = rng.choice(TIERS)
    if rng.random() < 0.5:
        params["status"] = rng.choice(("new", "new", "reviewing", "confirmed", "rejected"))
    if rng.random() < 0.4:
        params["district"] = rng.choice(districts)
    if rng.random() < 0.3:
        params["q"] = rng.choice(SURNAMES) + rng.choice(GIVEN)
    if rng.random() < 0.4:
        today = dt.date.today()
        since = today - dt.timedelta(days=rng.randint(1, DAYS))
        params["since"] = since.isoformat()
        if rng.random() < 0.5:
            params["until"] = (since + dt.timedelta(days=rng.randint(0, 30))).isoformat()
    return params


async def sign_in(client: httpx.AsyncClient, username: str, tally: Tally) -> bool:
    """Sign ``client`` in (the session cookie stays in it); count a failure as an error."""
    login = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    if login.status_code != 200:
        tally.error(f"login {login.status_code}")
    return login.status_code == 200


async def officer(
    client: httpx.AsyncClient,
    districts: list[str],
    *,
    until: float,
    tally: Tally,
    seed: int,
    think: float = 0.0,
) -> None:
    """One signed-in officer searching and opening leads until ``until``."""
    rng = random.Random(seed)
    seen: list[str] = []
    while time.monotonic() < until:  # bounded by the run's duration
        if think > 0:  # an officer reads before the next click (exponential, mean think)
            await asyncio.sleep(min(rng.expovariate(1 / think), max(0.0, until - time.monotonic())))
            if time.monotonic() >= until:  # a pause cut by the deadline: no burst at the end
                break
        kind: Kind = "page" if seen and rng.random() < 0.4 else "search"
        if kind == "search":
            url, params = "/api/leads", search_params(rng, districts)
        else:
            url, params = f"/leads/{rng.choice(seen)}", {}
        started = time.perf_counter()
        try:
            response = await client.get(url, params=params)
        except httpx.HTTPError as exc:
            tally.error(f"{kind} {type(exc).__name__}")
            continue
        tally.latencies[kind].append(time.perf_counter() - started)
        tally.timeline.append((time.perf_counter() - started, started - tally.started))
        if response.status_code != 200:
            tally.error(f"{kind} {response.status_code}")
        elif kind == "search":
            found = [lead["lead_id"] for lead in response.json()["leads"]]
            seen = found or seen


async def run_officers(
    base: str, officers: dict[str, list[str]], duration: float, think: float = 0.0
) -> tuple[Tally, float, list[float]]:
    """All officers at once for ``duration`` s; returns the tally, wall time, load samples."""
    tally = Tally()
    clients = {name: httpx.AsyncClient(base_url=base, timeout=30) for name in officers}
    try:
        # Everyone signs in before the clock starts: argon2 checks are not what is measured.
        signed = await asyncio.gather(*(sign_in(c, name, tally) for name, c in clients.items()))
        if not all(signed):
            raise SystemExit(f"review_load: sign-in failed: {tally.errors}")
        return await _work(clients, officers, duration, think, tally)
    finally:
        for client in clients.values():
            await client.aclose()


async def _work(
    clients: dict[str, httpx.AsyncClient],
    officers: dict[str, list[str]],
    duration: float,
    think: float,
    tally: Tally,
) -> tuple[Tally, float, list[float]]:
    loads: list[float] = []

    async def sample() -> None:
        while True:
            loads.append(os.getloadavg()[0])
            await asyncio.sleep(5)

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    tally.started = time.perf_counter()
    until = started + duration
    with _progress() as progress:
        task = progress.add_task(f"{len(officers)} officers", total=int(duration))

        async def tick() -> None:
            while time.monotonic() < until:
                await asyncio.sleep(1)
                progress.update(task, completed=min(duration, time.monotonic() - started))

        ticker = asyncio.create_task(tick())
        await asyncio.gather(
            *(
                officer(clients[name], mine, until=until, tally=tally, seed=seed, think=think)
                for seed, (name, mine) in enumerate(officers.items())
            )
        )
        ticker.cancel()
    sampler.cancel()
    return tally, time.monotonic() - started, loads


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``, in milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary(tally: Tally, seconds: float) -> dict[str, Any]:
    """p50/p95/p99 (ms), count and requests/s of each kind."""
    return {
        kind: {
            "requests": len(values),
            "per_s": round(len(values) / seconds, 1),
            "p50_ms": round(quantile(values, 0.50), 1),
            "p95_ms": round(quantile(values, 0.95), 1),
            "p99_ms": round(quantile(values, 0.99), 1),
            "max_ms": round(1000 * max(values, default=float("nan")), 1),
        }
        for kind, values in tally.latencies.items()
    }


def print_table(result: dict[str, Any]) -> None:
    """The result as a rich table on stdout."""
    table = Table(
        title=f"review service: {result['officers']} officers, {result['leads']:,} leads, "
        f"{result['seconds']:.0f} s, think {result['think_s']:g} s, "
        f"load avg {result['load_avg']['mean']:.1f}"
    )
    for column in ("request", "count", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right" if column != "request" else "left")
    for kind, label in (("search", "search API"), ("page", "lead page")):
        row = result["latency"][kind]
        table.add_row(
            label,
            f"{row['requests']:,}",
            f"{row['per_s']:.1f}",
            *(f"{row[k]:.1f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
        )
    table.caption = f"errors: {sum(result['errors'].values())} {result['errors'] or ''}"
    Console().print(table)


def write_result(result: dict[str, Any]) -> None:
    """Merge this run into ``bench/results/review_load.json`` (key: lead count, fresh or reused)."""
    runs: dict[str, Any] = {}
    if OUT.exists():
        runs = orjson.loads(OUT.read_bytes()).get("runs", {})
    think = f" think {result['think_s']:g}s" if result["think_s"] else ""
    runs[f"{result['leads']} {result['index']}{think}"] = result
    body = {"benchmark": "review_load", "environment": environment(), "runs": runs}
    OUT.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def drop_private(es: Elasticsearch, names: Names, *, leads: bool) -> None:
    """Drop the private users and audit indices, the events index, the topic (and leads)."""
    quiet = es.options(ignore_status=404)
    for index in (names.users, names.audit, f"{names.events}-bench"):
        quiet.indices.delete(index=index)
    if leads:
        drop_lead_index(es, names.alias)
    from connectors.topics import drop_topics
    from tracer.settings import load_settings

    settings = load_settings()
    drop_topics(settings, [f"{names.topic_prefix}audit"], group=f"{names.topic_prefix}none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--districts", type=int, default=20)
    parser.add_argument("--officers", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean pause (s) between an officer's requests; 0: back to back (saturation)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the private lead indices")
    args = parser.parse_args()
    if not 1 <= args.leads <= 10_000_000 or not 1 <= args.officers <= 200:
        parser.error("--leads must be 1..10,000,000 and --officers 1..200")
    if not 0 <= args.think <= 600:
        parser.error("--think must be 0..600 s")
    if not 1 <= args.duration <= 3600 or not 1 <= args.districts <= 200:
        parser.error("--duration must be 1..3600 s and --districts 1..200")
    run = uuid.uuid4().hex[:6]
    names = Names(
        alias=f"bench-review-leads-{args.leads}",
        users=f"bench-review-users-{run}",
        audit=f"bench-review-audit-{run}",
        events=f"bench-review-events-{run}",
        topic_prefix=f"bench-review-{run}-",
    )
    es = elasticsearch_client(TracerSettings(elasticsearch_url=URL), request_timeout=120)
    districts = districts_of(args.districts)
    try:
        load_s = load_leads(es, names.alias, args.leads, districts)
        es.indices.create(index=f"{names.events}-bench", aliases={names.events: {}})
        officers = make_officers(es, names.users, args.officers, districts)
        with review_service(names, _free_port()) as base:
            tally, seconds, loads = asyncio.run(
                run_officers(base, officers, args.duration, args.think)
            )
        result = {
            "leads": args.leads,
            "districts": args.districts,
            "officers": args.officers,
            "think_s": args.think,
            "seconds": round(seconds, 1),
            "load_seconds": round(load_s, 1),
            # Right after a bulk load Elasticsearch is still merging segments: say which.
            "index": "reused" if load_s == 0 else "just loaded",
            "latency": summary(tally, seconds),
            "errors": tally.errors,
            "slowest": [  # (ms, seconds into the run): a cold start shows as small seconds
                [round(1000 * latency, 1), round(at, 1)]
                for latency, at in sorted(tally.timeline, reverse=True)[:10]
            ],
            "load_avg": {
                "mean": round(sum(loads) / max(1, len(loads)), 2),
                "max": round(max(loads, default=0.0), 2),
            },
            "cpus": os.cpu_count(),
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join(["python -m bench.review_load", *sys.argv[1:]]),
        }
        print_table(result)
        write_result(result)
        if tally.errors:
            raise SystemExit(f"review_load: {sum(tally.errors.values())} errors: {tally.errors}")
    finally:
        drop_private(es, names, leads=not args.keep)


if __name__ == "__main__":
    main()
