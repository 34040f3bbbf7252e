"""``tracer demo --out DIR`` (what ``make run`` does): a synthetic day through the whole pipeline.

Starts the local stack, simulates a day of roster and feeds into ``DIR``, starts one worker
(``DIR/worker.log``), publishes the files, waits until the leads in Elasticsearch stop changing
and the worker's consumer lag is zero, prints a summary and where to search, stops the worker
and leaves the stack running. Then (unless ``--no-serve``) it runs the review service
(``tracer serve``) with a demo officer of the district with the most leads, prints the address
and the login, and serves until Ctrl-C.
"""

from __future__ import annotations

import datetime as dt
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from elasticsearch import Elasticsearch
from rich.console import Console

from connectors.clients import elasticsearch_client
from connectors.deadletter import decode_dead_letter
from connectors.errors import ServiceUnavailable
from connectors.feed_history import FeedHistory
from connectors.indices import ensure_index
from connectors.kafka import consumer_lag
from contract import FEED_TOPICS, TopicKey, topic_name
from review.security import hash_password
from review.users import users_mappings
from tracer.commands import stack
from tracer.commands.produce import produce_files
from tracer.commands.simulate import simulate
from tracer.settings import TracerSettings, load_settings

__all__ = ["count_own_dead_letters", "demo", "partition_ends"]

#: Where each partition of some topics ended, by (topic, partition).
PartitionEnds = dict[tuple[str, int], int]

_out = Console(stderr=True, highlight=False)


def _free_port() -> int:
    # The default web port may be taken by a worker already running on this machine.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_worker(out: Path, port: int) -> subprocess.Popen[bytes]:
    tracer = Path(sys.executable).parent / "tracer"
    command = [str(tracer)] if tracer.exists() else [sys.executable, "-m", "tracer.cli"]
    with (out / "worker.log").open("ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [*command, "worker", "--web-port", str(port)], stdout=log, stderr=subprocess.STDOUT
        )


def _topics(settings: TracerSettings, keys: tuple[TopicKey, ...]) -> list[str]:
    return [topic_name(key, prefix=settings.topic_prefix) for key in keys]


def _lead_count(client: Elasticsearch, alias: str) -> int:
    client.indices.refresh(index=alias)
    return int(client.count(index=alias)["count"])


def _wait_settled(
    settings: TracerSettings,
    client: Elasticsearch,
    worker: subprocess.Popen[bytes],
    *,
    timeout: float,
) -> None:
    """Wait for zero lag on feeds and leads and a lead count unchanged over three looks."""
    topics = _topics(settings, (*FEED_TOPICS, "leads"))
    deadline = time.monotonic() + timeout
    last, stable = -1, 0
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise ServiceUnavailable("the worker stopped; see worker.log")
        try:
            lag = consumer_lag(settings, settings.consumer_group, topics)
            count = _lead_count(client, settings.leads_alias)
        except (ServiceUnavailable, OSError):
            lag, count = -1, -1
        stable = stable + 1 if (lag == 0 and count == last) else 0
        if count != last or stable == 1:
            _out.print(f"  consumer lag {lag}, leads indexed {count}")
        if stable >= 3:
            return
        last = count
        time.sleep(2.0)
    raise ServiceUnavailable(f"the pipeline did not settle within {timeout:.0f}s")


def _aggregate(client: Elasticsearch, alias: str) -> dict[str, dict[str, int]]:
    response = client.search(
        index=alias,
        size=0,
        aggs={f: {"terms": {"field": f, "size": 20}} for f in ("tier", "source", "status")},
    )
    return {
        name: {b["key"]: b["doc_count"] for b in agg["buckets"]}
        for name, agg in response["aggregations"].items()
    }


def partition_ends(history: FeedHistory, topics: list[str]) -> PartitionEnds:
    """Where each partition of ``topics`` ends now (the next offset to be written)."""
    ranges = history.ranges(topics, since_ms=None, until_ms=None)
    return {(part.topic, part.partition): part.end for part in ranges}


def count_own_dead_letters(history: FeedHistory, dead_topic: str, before: PartitionEnds) -> int:
    """Count the dead letters written since ``before`` whose origin is this run's own input.

    A worker starting on a group with a backlog (an interrupted earlier demo) dead-letters that
    backlog too; those letters name an origin offset before where the input topics stood at the
    start, so they are not this run's. ``before`` holds the input topics' and the dead-letter
    topic's partition ends taken before anything was published.
    """
    own = 0
    for part in history.ranges([dead_topic], since_ms=None, until_ms=None):
        start = before.get((part.topic, part.partition), 0)
        for batch in history.read(part, start=start):
            own += sum(_is_own(record.value, before) for record in batch)
    return own


def _is_own(value: bytes | None, before: PartitionEnds) -> bool:
    if value is None:
        return False
    try:
        letter = decode_dead_letter(value)
    except ValueError:
        return False  # not a dead letter: not ours to count
    topic, partition, offset = letter.get("topic"), letter.get("partition"), letter.get("offset")
    if not (isinstance(topic, str) and isinstance(partition, int) and isinstance(offset, int)):
        return False
    mark = before.get((topic, partition))
    return mark is not None and offset >= mark


def _summary(
    settings: TracerSettings, client: Elasticsearch, read: int, dead: int, leads_before: int
) -> None:
    aggs = _aggregate(client, settings.leads_alias)
    total = _lead_count(client, settings.leads_alias)
    url, alias = settings.elasticsearch_url, settings.leads_alias
    _out.print("\n[bold]tracer demo: done[/bold]")
    _out.print(f"  events read:   {read}")
    _out.print(
        f"  dead letters:  {dead}  (topic {topic_name('deadletter', prefix=settings.topic_prefix)})"
    )
    _out.print(f"  leads indexed: {total}  (alias {alias!r}; {total - leads_before} by this run)")
    for name in ("tier", "source", "status"):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(aggs[name].items()))
        _out.print(f"    by {name}: {parts}")
    _out.print("\n[bold]where to search[/bold]")
    _out.print(f"  Elasticsearch: {url}/{alias}/_search")
    _out.print(
        f"  curl -s '{url}/{alias}/_search?pretty' -H 'Content-Type: application/json' "
        '-d \'{"query": {"bool": {"filter": [{"term": {"tier": "high"}}, '
        '{"term": {"status": "new"}}]}}, "sort": [{"score": "desc"}], "size": 5}\'',
        soft_wrap=True,
        markup=False,
    )
    _out.print(
        "  Kibana: not in the local stack (no Docker here). With Docker: `cp .env.example .env "
        "&& docker compose up -d` runs Kafka, Elasticsearch and Kibana at http://127.0.0.1:5601 "
        f"with a data view on the {alias!r} alias.",
        soft_wrap=True,
    )
    _out.print("  The stack keeps running: `tracer stack down` stops it.")


_DEMO_OFFICER = "demo.officer"


def _busiest_district(client: Elasticsearch, alias: str) -> str:
    """Return the district with the most leads (``""`` when there are none).

    Each district's leads are in their own index behind its district alias (the worker's
    writer makes them), which is all the review service reads: nothing to add here.
    """
    buckets = client.search(
        index=alias, size=0, aggs={"d": {"terms": {"field": "district", "size": 1}}}
    )["aggregations"]["d"]["buckets"]
    return str(buckets[0]["key"]) if buckets else ""


def _demo_officer(client: Elasticsearch, settings: TracerSettings, district: str) -> str:
    """(Re)create the demo officer of ``district`` with a fresh password; return it."""
    password = secrets.token_urlsafe(9)
    index = settings.review_users_index
    ensure_index(client, index, mappings=users_mappings())
    doc = {
        "username": _DEMO_OFFICER,
        "role": "officer",
        "districts": [district],
        "password_hash": hash_password(password),
        "disabled": False,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    client.index(index=index, id=_DEMO_OFFICER, document=doc, refresh="wait_for")
    return password


def _serve_review(settings: TracerSettings, client: Elasticsearch, out: Path) -> None:
    """Start ``tracer serve``, print its address and the demo officer's login, wait for Ctrl-C."""
    district = _busiest_district(client, settings.leads_alias)
    password = _demo_officer(client, settings, district)
    port = settings.review_port if _port_free(settings.review_port) else _free_port()
    tracer = Path(sys.executable).parent / "tracer"
    command = [str(tracer)] if tracer.exists() else [sys.executable, "-m", "tracer.cli"]
    with (out / "review.log").open("ab") as log:
        review = subprocess.Popen(
            [*command, "serve", "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    _out.print("\n[bold]review service[/bold]")
    _out.print(f"  http://127.0.0.1:{port}/  (log {out / 'review.log'})")
    _out.print(f"  demo officer of {district}: {_DEMO_OFFICER} / {password}", markup=False)
    _out.print("  Ctrl-C stops the review service; the stack keeps running.")
    try:
        review.wait()
    except KeyboardInterrupt:
        pass
    finally:
        review.send_signal(signal.SIGINT)
        try:
            review.wait(timeout=15)
        except subprocess.TimeoutExpired:
            review.kill()


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def demo(
    *,
    out: Annotated[Path, typer.Option(help="Directory for the day's files and worker.log.")] = Path(
        "out/run"
    ),
    people: Annotated[int, typer.Option(help="Population size.")] = 50_000,
    watchlist: Annotated[int, typer.Option(help="Roster size.")] = 2_000,
    events: Annotated[int, typer.Option(help="Feed events in the day.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the pipeline.")] = 900.0,
    serve: Annotated[
        bool, typer.Option(help="Then run the review service with a demo officer until Ctrl-C.")
    ] = True,
) -> None:
    """Run a synthetic day end to end: stack, simulate, worker, produce, summary."""
    settings = load_settings()
    stack.up()
    simulate(out, people=people, watchlist=watchlist, events=events, seed=seed)
    feeds, roster = _topics(settings, FEED_TOPICS), _topics(settings, ("supervision.roster",))
    dead_topic = topic_name("deadletter", prefix=settings.topic_prefix)
    history = FeedHistory(settings, client_id="tracer-demo")
    before = partition_ends(history, [*feeds, *roster, dead_topic])
    client = elasticsearch_client(settings, request_timeout=30)
    leads_before = _lead_count(client, settings.leads_alias)
    port = _free_port()
    worker = _start_worker(out, port)
    try:
        _out.print(
            f"worker started (pid {worker.pid}, web http://127.0.0.1:{port}/, "
            f"log {out / 'worker.log'}); publishing ..."
        )
        report = produce_files(settings, roster=out / "roster.jsonl", events=out / "events.jsonl")
        _out.print(f"published {report.total} messages in {report.seconds:.1f}s")
        _wait_settled(settings, client, worker, timeout=timeout)
        after = partition_ends(history, feeds)
        read = sum(end - before.get(part, 0) for part, end in after.items())
        dead = count_own_dead_letters(history, dead_topic, before)
        _summary(settings, client, read, dead, leads_before)
    except BaseException:
        client.close()
        raise
    finally:
        history.close()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
    try:
        if serve:
            _serve_review(settings, client, out)
    finally:
        client.close()
