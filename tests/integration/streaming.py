"""Helpers of the streaming tests: an isolated slice of the stack per test, real workers.

Each test gets its own topic prefix, consumer group and leads alias (the ``run`` fixture, made
available to the tests through ``conftest.py``), runs real ``tracer worker`` subprocesses and
publishes with ``tracer produce`` or a plain producer.
"""

from __future__ import annotations

import contextlib
import os
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

from elasticsearch import Elasticsearch, helpers

from connectors.clients import elasticsearch_client
from connectors.event_archive import drop_event_archive
from connectors.kafka import consumer_lag
from connectors.lead_index import drop_lead_index
from connectors.topics import drop_topics
from contract import ALL_TOPICS, FEED_TOPICS, topic_name
from simulator import SimulationConfig, build_world
from tracer.commands.stack import provision
from tracer.settings import TracerSettings

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
            "TRACER_EVENT_ARCHIVE_ALIAS": s.event_archive_alias,
        }

    def topic(self, key: Any) -> str:
        return topic_name(key, prefix=self.settings.topic_prefix)

    def tracer(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            [TRACER, *args], env=self.env, capture_output=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        return done.stdout.decode()

    def start_worker(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        port = free_port()  # concurrent runs of this suite must not collide
        with (self.tmp / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [TRACER, "worker", "--web-port", str(port), "--loglevel", "info"],
                env=self.env | env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.workers.append(proc)
        return proc

    def start_ready_worker(
        self, name: str, *, timeout: float = 60, **env: str
    ) -> subprocess.Popen[bytes]:
        """Start a worker and wait until it holds the watchlist (it says so in its log)."""
        proc = self.start_worker(name, **env)
        self.wait_ready(name, timeout=timeout)
        return proc

    def wait_ready(self, *names: str, timeout: float = 60) -> None:
        """Wait until every named worker holds the watchlist."""
        wait_until(
            lambda: all("watchlist ready" in self.log(name) for name in names),
            timeout=timeout,
            what=f"{', '.join(names)} ready",
        )

    def produce_world(self, *, roster: bool = True, events: bool = True) -> None:
        """Publish the files of :func:`write_world` with ``tracer produce``."""
        args = ["--roster", str(self.tmp / "roster.jsonl")] if roster else []
        args += ["--events", str(self.tmp / "events.jsonl")] if events else []
        self.tracer("produce", *args)

    def through(self, proxy: TcpProxy) -> None:
        """Send the run's Elasticsearch traffic (workers, ``tracer``) through ``proxy``."""
        url = f"http://127.0.0.1:{proxy.port}"
        self.settings = self.settings.model_copy(update={"elasticsearch_url": url})

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
REAL = TracerSettings()
ES_URL = REAL.elasticsearch_url


def es() -> Elasticsearch:
    return elasticsearch_client(REAL, request_timeout=30)


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
    return consumer_lag(run.settings, run.settings.consumer_group, topics)


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
        event_archive_alias=f"events-it{tag}",
    )
    the_run = Run(settings, tmp_path)
    # What `tracer stack init` does, in this process: a CLI start-up per test cost seconds on a
    # busy 2-core machine (test_stack_cli runs the command itself).
    provision(settings, timeout_s=120, say=lambda _line: None)
    yield the_run
    for proc in the_run.workers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in the_run.workers:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    drop_run(the_run)


def drop_run(run: Run) -> None:
    drop_lead_index(es(), run.settings.leads_alias)
    drop_event_archive(es(), run.settings.event_archive_alias)
    drop_topics(
        run.settings,
        [run.topic(t) for t in ALL_TOPICS],
        group=run.settings.consumer_group,
    )


def publish(run: Run, key: Any, value: bytes, msg_key: bytes | None) -> None:
    producer = KafkaProducer(bootstrap_servers=run.settings.kafka_bootstrap, acks="all")
    producer.send(run.topic(key), key=msg_key, value=value)
    producer.flush()
    producer.close()


def es_proxy(*, slow_bulk_s: float = 0.0) -> TcpProxy:
    """A :class:`TcpProxy` to the real Elasticsearch (not yet started)."""
    return TcpProxy(urlsplit(ES_URL).port or 9200, slow_bulk_s=slow_bulk_s)


class TcpProxy:
    """A loopback TCP forwarder that can be cut and restored: Elasticsearch going away.

    With ``slow_bulk_s``, every bulk of ``create`` actions waits that long before it goes on
    (searches and updates do not): a slow write that a concurrent search would overtake.
    The cut also drops a connection accepted while it was being made: without the lock, a
    connection accepted just before ``stop`` and registered just after it outlives the cut, and
    Elasticsearch stays reachable through it.
    """

    def __init__(self, target_port: int, *, slow_bulk_s: float = 0.0) -> None:
        self.target_port = target_port
        self.slow_bulk_s = slow_bulk_s
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._cut = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        with self._cut:
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
            with self._cut:
                if self._listener is not listener:
                    client.close()
                    return
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
                self._sockets += [client, upstream]
            for a, b, slow in ((client, upstream, self.slow_bulk_s), (upstream, client, 0.0)):
                threading.Thread(target=self._pump, args=(a, b, slow), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, slow_bulk_s: float) -> None:
        try:
            while data := src.recv(65536):
                if slow_bulk_s and b'{"create":' in data[:2048]:
                    time.sleep(slow_bulk_s)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
