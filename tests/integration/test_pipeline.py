"""The streaming pipeline end to end on the real local Kafka and Elasticsearch.

Each test gets its own topic prefix, consumer group and leads alias, runs real ``tracer worker``
subprocesses and publishes with ``tracer produce``, then compares what Elasticsearch holds with
what ``tracer reprocess`` computes offline from the same files.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

with warnings.catch_warnings():  # kafka-python warns once on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import KafkaAdminClient

import contextlib

from elasticsearch import Elasticsearch, helpers

from connectors.deadletter import original_value
from connectors.kafka import consumer_lag
from connectors.topics import ALL_TOPICS, FEED_TOPICS, topic_name
from matchers.synthetic import SimulationConfig, build_world
from tracer.settings import TracerSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

BIN = Path(sys.executable).parent
TRACER = str(BIN / "tracer")


@dataclass
class Run:
    """One test's isolated slice of the stack and its files."""

    settings: TracerSettings
    tmp: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        s = self.settings
        return os.environ | {
            "TRACER_TOPIC_PREFIX": s.topic_prefix,
            "TRACER_LEADS_ALIAS": s.leads_alias,
            "TRACER_CONSUMER_GROUP": s.consumer_group,
            "TRACER_FEED_PARTITIONS": str(s.feed_partitions),
            "TRACER_BULK_FLUSH_SECONDS": "0.3",
            "TRACER_ELASTICSEARCH_URL": s.elasticsearch_url,
        }

    def topic(self, key: Any) -> str:
        return topic_name(key, prefix=self.settings.topic_prefix)

    def tracer(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [TRACER, *args], env=self.env, capture_output=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        return done.stdout.decode()

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        port = free_port()  # concurrent runs of this suite must not collide
        with (self.tmp / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [TRACER, "worker", "--web-port", str(port), "--loglevel", "info"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.workers.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


# The real cluster as configured, whatever proxy a test puts between the worker and it.
ES_URL = TracerSettings().elasticsearch_url


def es() -> Elasticsearch:
    return Elasticsearch(ES_URL, request_timeout=30)


def indexed_leads(run: Run) -> list[dict[str, Any]]:
    client = es()
    client.indices.refresh(index=run.settings.leads_alias)
    hits = helpers.scan(client, index=run.settings.leads_alias, query={"query": {"match_all": {}}})
    return [hit["_source"] | {"_id": hit["_id"]} for hit in hits]


def lead_count(run: Run) -> int:
    client = es()
    client.indices.refresh(index=run.settings.leads_alias)
    return int(client.count(index=run.settings.leads_alias)["count"])


def lag(run: Run) -> int:
    topics = [run.topic(t) for t in (*FEED_TOPICS, "leads")]
    return consumer_lag(run.settings.kafka_bootstrap, run.settings.consumer_group, topics)


def drained(run: Run, expected: int) -> bool:
    try:
        return lead_count(run) >= expected and lag(run) == 0
    except Exception:
        return False


def write_world(run: Run, *, people: int, watchlist: int, events: int, seed: int) -> None:
    world = build_world(
        SimulationConfig(people=people, watchlist=watchlist, events=events, seed=seed)
    )
    with (run.tmp / "roster.jsonl").open("wb") as out:
        for record in world.roster:
            out.write(orjson.dumps(record) + b"\n")
    with (run.tmp / "events.jsonl").open("wb") as out:
        for event in world.events:
            payload = event.payload
            line = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
            out.write(line + b"\n")


def reprocess(run: Run) -> dict[str, dict[str, Any]]:
    """Leads of ``tracer reprocess`` (the offline Matcher) for the run's files."""
    from tracer.commands.reprocess import reprocess as offline

    out = run.tmp / "reprocess.jsonl"
    offline(roster=run.tmp / "roster.jsonl", events=run.tmp / "events.jsonl", out=out, model=None)
    leads = [orjson.loads(line) for line in out.read_bytes().splitlines() if line.strip()]
    return {lead["lead_id"]: lead for lead in leads}


def read_topic(run: Run, key: Any) -> list[Any]:
    consumer = KafkaConsumer(
        run.topic(key),
        bootstrap_servers=run.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    tag = uuid.uuid4().hex[:8]
    settings = TracerSettings(
        topic_prefix=f"it{tag}.",
        leads_alias=f"leads-it{tag}",
        consumer_group=f"tracer-it{tag}",
        feed_partitions=4,
    )
    the_run = Run(settings, tmp_path)
    the_run.tracer("stack", "init")
    yield the_run
    for proc in the_run.workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in the_run.workers:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    _drop(the_run)


def _drop(run: Run) -> None:
    client = es()
    alias = run.settings.leads_alias
    indices = client.options(ignore_status=404).indices.get_alias(name=alias).body
    for index in indices if isinstance(indices, dict) and "error" not in indices else ():
        client.options(ignore_status=404).indices.delete(index=index)
    client.options(ignore_status=404).indices.delete_index_template(
        name=f"{run.settings.leads_alias}-template"
    )
    admin = KafkaAdminClient(bootstrap_servers=run.settings.kafka_bootstrap)
    try:
        admin.delete_topics([run.topic(t) for t in ALL_TOPICS], raise_errors=False)
        admin.delete_groups([run.settings.consumer_group])
    except Exception:
        pass
    finally:
        admin.close()


def publish(run: Run, key: Any, value: bytes, msg_key: bytes | None) -> None:
    producer = KafkaProducer(bootstrap_servers=run.settings.kafka_bootstrap, acks="all")
    producer.send(run.topic(key), key=msg_key, value=value)
    producer.flush()
    producer.close()


def test_stream_equals_reprocess_dead_letters_and_closing(run: Run) -> None:
    write_world(run, people=3000, watchlist=300, events=3000, seed=11)
    expected = reprocess(run)
    bad_lines = (run.tmp / "reprocess.jsonl.deadletter.jsonl").read_bytes().splitlines()
    run.tracer(
        "produce",
        "--roster",
        str(run.tmp / "roster.jsonl"),
        "--events",
        str(run.tmp / "events.jsonl"),
    )
    extra = {
        b"\xff\xfe not utf-8": "not UTF-8",
        b'{"event_id": "big", "source": "bank", "pad": "' + b"x" * 70_000 + b'"}': "oversized",
    }
    for value in extra:
        publish(run, "feeds.bank", value, b"odd")
    # A lead Elasticsearch refuses (a score that is not a number): dead-lettered at indexing.
    unmappable = {"lead_id": "bad-lead", "person_id": "nobody", "event_id": "x", "score": "high!"}
    publish(run, "leads", orjson.dumps(unmappable), b"bad-lead")
    run.start_worker("worker")
    wait_until(lambda: drained(run, len(expected)), timeout=150, what="leads indexed, lag 0")

    got = {doc["lead_id"]: doc for doc in indexed_leads(run)}
    assert set(got) == set(expected)
    assert all(doc["_id"] == lead_id for lead_id, doc in got.items())
    for lead_id, lead in expected.items():
        assert got[lead_id]["score"] == lead["score"]
        assert got[lead_id]["tier"] == lead["tier"]
        assert got[lead_id]["status"] == "new"

    _assert_dead_letters(run, len(bad_lines), extra, unmappable)
    _assert_lifecycle(run, expected)


def _assert_dead_letters(
    run: Run, bad_lines: int, extra: dict[bytes, str], unmappable: dict[str, Any]
) -> None:
    # Bad input: every malformed line is in the dead-letter topic, with reason and origin.
    lines = set((run.tmp / "events.jsonl").read_bytes().splitlines())
    letters = [orjson.loads(m.value) for m in read_topic(run, "deadletter")]
    assert len(letters) == bad_lines + len(extra) + 1 > len(extra) + 1
    for value, reason in extra.items():
        (letter,) = [x for x in letters if original_value(x) == value]
        assert letter["reason"].startswith(reason) and letter["key"] == "odd"
    (refused,) = [x for x in letters if x["stage"] == "index"]
    assert refused["topic"] == run.topic("leads") and refused["detail"] == "400"
    assert orjson.loads(original_value(refused) or b"") == unmappable
    letters = [x for x in letters if original_value(x) not in extra and x["stage"] != "index"]
    feeds = {run.topic(t) for t in FEED_TOPICS}
    for letter in letters:
        assert letter["reason"] and letter["stage"] == "validate"
        assert letter["topic"] in feeds and letter["partition"] >= 0 and letter["offset"] >= 0
        assert original_value(letter) in lines


def _assert_lifecycle(run: Run, expected: dict[str, dict[str, Any]]) -> None:
    lines = set((run.tmp / "events.jsonl").read_bytes().splitlines())
    # A person located: their open leads close, and a new matching event makes no new lead.
    person_id = max(
        {lead["person_id"] for lead in expected.values()},
        key=lambda pid: sum(1 for lead in expected.values() if lead["person_id"] == pid),
    )
    roster = {
        r["person_id"]: r
        for r in map(orjson.loads, (run.tmp / "roster.jsonl").read_bytes().splitlines())
    }
    located = roster[person_id] | {
        "status": "located",
        "status_changed_at": "2026-11-30T09:00:00+08:00",
    }
    publish(run, "supervision.roster", orjson.dumps(located), person_id.encode())

    def closed() -> bool:
        docs = [d for d in indexed_leads(run) if d["person_id"] == person_id]
        return bool(docs) and all(d["status"] == "closed" for d in docs)

    wait_until(closed, timeout=30, what="the located person's leads to close")
    docs = [d for d in indexed_leads(run) if d["person_id"] == person_id]
    assert {d["status_reason"] for d in docs} == {"roster_located"}
    others = [d for d in indexed_leads(run) if d["person_id"] != person_id]
    assert all(d["status"] == "new" for d in others)

    seen_event = next(lead for lead in expected.values() if lead["person_id"] == person_id)
    events = {e.get("event_id"): e for e in map(_maybe_json, lines) if isinstance(e, dict)}
    again = events[seen_event["event_id"]] | {"event_id": "replay-" + uuid.uuid4().hex}
    publish(run, f"feeds.{again['source']}", orjson.dumps(again), again["event_id"].encode())
    wait_until(lambda: drained(run, 0), timeout=30, what="the replayed event")
    time.sleep(1.0)
    assert not [
        d
        for d in indexed_leads(run)
        if d["event_id"] == again["event_id"] and d["person_id"] == person_id
    ]

    # Back to dropped_out: traced again; a new matching event makes a new, open lead.
    back = roster[person_id] | {"status_changed_at": "2026-11-30T10:00:00+08:00"}
    publish(run, "supervision.roster", orjson.dumps(back), person_id.encode())
    # The follower is outside the group: no offset says when it applied the change, so send
    # fresh copies of the event until one is matched (each has its own event_id).
    replays: list[str] = []

    def traced_again() -> bool:
        third = again | {"event_id": "replay-" + uuid.uuid4().hex}
        replays.append(third["event_id"])
        publish(run, f"feeds.{third['source']}", orjson.dumps(third), third["event_id"].encode())
        time.sleep(2.0)
        docs = [d for d in indexed_leads(run) if d["event_id"] in replays]
        return any(d["person_id"] == person_id and d["status"] == "new" for d in docs)

    wait_until(traced_again, timeout=30, what="a new lead for the person traced again")
    old_docs = [d for d in indexed_leads(run) if d["event_id"] == seen_event["event_id"]]
    assert {d["status"] for d in old_docs if d["person_id"] == person_id} == {"closed"}


def _maybe_json(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return None


def test_two_workers_one_killed_mid_stream_lose_and_duplicate_nothing(run: Run) -> None:
    write_world(run, people=6000, watchlist=600, events=24000, seed=12)
    expected = reprocess(run)
    roster_people = {
        orjson.loads(line)["person_id"]
        for line in (run.tmp / "roster.jsonl").read_bytes().splitlines()
    }
    run.tracer(
        "produce",
        "--roster",
        str(run.tmp / "roster.jsonl"),
        "--events",
        str(run.tmp / "events.jsonl"),
    )
    first = run.start_worker("worker-a")
    run.start_worker("worker-b")
    wait_until(lambda: lead_count(run) > len(expected) // 10, timeout=120, what="first leads")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = lead_count(run)
    run.start_worker("worker-a")
    wait_until(lambda: drained(run, len(expected)), timeout=180, what="leads indexed, lag 0")

    assert killed_at < len(expected), "the kill was not mid-stream"
    docs = indexed_leads(run)
    assert len(docs) == len({d["lead_id"] for d in docs}) == len(expected)
    assert {d["lead_id"]: d["score"] for d in docs} == {k: v["score"] for k, v in expected.items()}
    # Each worker holds the whole watchlist, whatever partitions the group gave it.
    for name in ("worker-a", "worker-b"):
        assert f"watchlist ready: {len(roster_people)} people" in run.log(name)


class TcpProxy:
    """A loopback TCP forwarder that can be cut and restored: Elasticsearch going away."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        for sock in [self._listener, *self._sockets]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        self._sockets.clear()
        self._listener = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def test_elasticsearch_away_slows_the_pipeline_and_loses_nothing(run: Run) -> None:
    write_world(run, people=2000, watchlist=200, events=2000, seed=13)
    expected = reprocess(run)
    proxy = TcpProxy(urlsplit(ES_URL).port or 9200)
    proxy.start()
    run.settings = run.settings.model_copy(
        update={"elasticsearch_url": f"http://127.0.0.1:{proxy.port}"}
    )
    run.tracer(
        "produce",
        "--roster",
        str(run.tmp / "roster.jsonl"),
        "--events",
        str(run.tmp / "events.jsonl"),
    )
    try:
        run.start_worker("worker")
        wait_until(lambda: "watchlist ready" in run.log("worker"), timeout=60, what="the worker")
        proxy.stop()
        time.sleep(8.0)
        assert lead_count(run) == 0  # nothing reached Elasticsearch...
        assert lag(run) > 0  # ...so the lead offsets did not move
        # Whichever call meets the outage first (a bulk create, or the search that closes
        # leads written for people no longer traced) retries it with backoff and says so.
        assert re.search(r"elasticsearch: (bulk index|search) failed", run.log("worker"))
        proxy.start()
        wait_until(lambda: drained(run, len(expected)), timeout=90, what="leads after recovery")
    finally:
        proxy.stop()
    docs = indexed_leads(run)
    assert len(docs) == len(expected)
    assert {d["lead_id"]: d["score"] for d in docs} == {k: v["score"] for k, v in expected.items()}
