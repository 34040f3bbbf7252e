"""Alert subscriptions end to end on the real Kafka and Elasticsearch, with real workers.

Each subscription must receive exactly the new leads that match it (the oracle is
Elasticsearch's own answer to the equivalent query on the leads alias), once: in the ``alerts``
index, on the ``alerts`` topic and at its webhook (a loopback receiver that verifies every
signature), also when a second worker re-reads every lead. Refusals go through the CLI.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from elasticsearch import Elasticsearch, helpers
from standardwebhooks.webhooks import Webhook

from alerts.secretbox import new_key
from connectors.kafka import consumer_lag
from contract import FEED_TOPICS
from tests.integration.streaming import (
    TRACER,
    Run,
    drained,
    lead_count,
    read_topic,
    reprocess,
    wait_until,
    write_world,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


# These tests count exact publications with the event archive on: a worker of a new consumer
# group retro-matches every dropped-out person of its first roster load, and takes only events
# matched before each drop-out record was applied (streams/retro.py), so nothing is published
# twice by retro-matching.


class Receiver:
    """A loopback webhook receiver: verifies every signature; can answer 503 for a while."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # path -> secret
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.ids: dict[str, list[str]] = {}
        self.down: set[str] = set()
        self.bad = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                path = self.path
                if path in receiver.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                try:
                    payload = Webhook(receiver.secrets[path]).verify(body, dict(self.headers))
                except Exception:
                    receiver.bad += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                receiver.received.setdefault(path, []).append(payload)
                receiver.ids.setdefault(path, []).append(self.headers["webhook-id"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def leads(self, path: str) -> list[str]:
        return [p["data"]["lead_id"] for p in self.received.get(path, [])]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def alert_env(
    run: Run, es: Elasticsearch, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    tag = run.settings.consumer_group.removeprefix("tracer-")
    env = {
        "TRACER_SUBSCRIPTIONS_INDEX": f"subscriptions-{tag}",
        "TRACER_ALERTS_INDEX": f"alerts-{tag}",
        "TRACER_REVIEW_USERS_INDEX": f"review-users-{tag}",
        "TRACER_ALERT_SECRET_KEY": new_key(),
        "TRACER_ALERT_ALLOW_HTTP_WEBHOOKS": "true",
        "TRACER_ALERT_ALLOW_PRIVATE_WEBHOOKS": "true",
        "TRACER_ALERT_RELOAD_SECONDS": "1",
        "TRACER_ALERT_SWEEP_SECONDS": "2",
        "TRACER_ALERT_DELIVERY_DEADLINE_SECONDS": "3",
        # A killed worker's unpublished notifications are relayed 10 s after their claim (the
        # creator publishes its own within 5 s: this loaded machine's Kafka needs the margin).
        "TRACER_ALERT_RELAY_LEASE_SECONDS": "10",
        "TRACER_ALERT_RELAY_SECONDS": "1",
        "TRACER_TOPIC_PREFIX": run.settings.topic_prefix,
        "TRACER_LEADS_ALIAS": run.settings.leads_alias,
        "TRACER_CONSUMER_GROUP": run.settings.consumer_group,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
    quiet = es.options(ignore_status=404)
    for key in ("TRACER_SUBSCRIPTIONS_INDEX", "TRACER_ALERTS_INDEX", "TRACER_REVIEW_USERS_INDEX"):
        quiet.indices.delete(index=env[key])


def _tracer_fails(*args: str) -> str:
    done = subprocess.run([TRACER, *args], capture_output=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _districts(run: Run) -> list[str]:
    roster = [orjson.loads(line) for line in (run.tmp / "roster.jsonl").read_bytes().splitlines()]
    counts: dict[str, int] = {}
    for record in roster:
        if record.get("status") == "dropped_out" and record.get("district"):
            counts[record["district"]] = counts.get(record["district"], 0) + 1
    return sorted(counts, key=lambda d: -counts[d])


def _expected(es: Elasticsearch, run: Run, query: dict[str, Any]) -> set[str]:
    es.indices.refresh(index=run.settings.leads_alias)
    hits = helpers.scan(es, index=run.settings.leads_alias, query={"query": query})
    return {hit["_id"] for hit in hits}


def _alerted(es: Elasticsearch, index: str) -> dict[str, set[str]]:
    es.indices.refresh(index=index)
    found: dict[str, set[str]] = {}
    for hit in helpers.scan(es, index=index, query={"query": {"match_all": {}}}):
        doc = hit["_source"]
        found.setdefault(doc["subscription_id"], set()).add(doc["lead_id"])
    return found


def _unpublished(es: Elasticsearch, index: str) -> int:
    es.indices.refresh(index=index)
    return int(es.count(index=index, query={"term": {"published": False}})["count"])


def _subscriptions(run: Run) -> dict[str, dict[str, Any]]:
    out = run.tracer("subscriptions", "list", "--json")
    docs = [orjson.loads(line) for line in out.splitlines() if line.strip()]
    return {doc["subscription_id"]: doc for doc in docs}


def test_each_subscription_gets_exactly_its_new_leads_once(
    run: Run, es: Elasticsearch, alert_env: dict[str, str], receiver: Receiver
) -> None:
    write_world(run, people=2000, watchlist=200, events=2500, seed=16)
    expected_leads = reprocess(run)
    mine, other = _districts(run)[:2], _districts(run)[2]
    es.index(
        index=alert_env["TRACER_REVIEW_USERS_INDEX"],
        id="officer1",
        document={"username": "officer1", "role": "officer", "districts": mine},
        refresh=True,
    )
    _assert_refusals(run, other)

    def add(*args: str, path: str | None = None) -> str:
        done = subprocess.run(
            [TRACER, "subscriptions", "add", "--owner", "officer1", *args],
            capture_output=True,
            timeout=60,
            check=True,
        )
        if path is not None:  # the secret is shown once, at creation
            receiver.secrets[path] = done.stderr.decode().rsplit(": ", 1)[1].strip()
        return done.stdout.decode().strip()

    first = add("--district", mine[0])
    high = add("--min-tier", "high")
    bank = add("--source", "bank", "--webhook", receiver.url("/bank"), path="/bank")
    query = '{"range": {"score": {"gte": 0}}}'
    down = add("--query", query, "--webhook", receiver.url("/down"), path="/down")
    paused = add()
    run.tracer("subscriptions", "pause", paused)
    assert _subscriptions(run)[paused]["state"] == "paused"
    assert all(s.startswith("whsec_") for s in receiver.secrets.values())
    stored = orjson.dumps(
        es.search(index=alert_env["TRACER_SUBSCRIPTIONS_INDEX"], size=100).body
    ).decode()
    assert not any(secret in stored for secret in receiver.secrets.values())
    receiver.down.add("/down")

    run.tracer(
        "produce",
        "--roster",
        str(run.tmp / "roster.jsonl"),
        "--events",
        str(run.tmp / "events.jsonl"),
    )
    run.start_worker("w1")
    wait_until(lambda: drained(run, len(expected_leads)), timeout=200, what="leads indexed")

    scope = {"terms": {"district": mine}}
    want = {
        first: _expected(es, run, {"term": {"district": mine[0]}}),
        high: _expected(es, run, {"bool": {"filter": [scope, {"term": {"tier": "high"}}]}}),
        bank: _expected(es, run, {"bool": {"filter": [scope, {"term": {"source": "bank"}}]}}),
        down: _expected(es, run, {"bool": {"filter": [scope, {"range": {"score": {"gte": 0}}}]}}),
    }
    assert all(want.values()), {k: len(v) for k, v in want.items()}  # the test means something
    index = alert_env["TRACER_ALERTS_INDEX"]
    wait_until(lambda: _alerted(es, index) == want, timeout=60, what="every notification")
    wait_until(lambda: _unpublished(es, index) == 0, timeout=60, what="published")
    _assert_topic_once(run, sum(len(v) for v in want.values()))

    # The webhook: exactly the bank subscription's leads, each once, every signature valid.
    wait_until(lambda: len(receiver.leads("/bank")) >= len(want[bank]), timeout=60, what="hooks")
    assert sorted(receiver.leads("/bank")) == sorted(want[bank])
    assert receiver.bad == 0

    # The failing receiver: dead-lettered, marked failing; recovered, it gets everything once.
    wait_until(lambda: _subscriptions(run)[down]["failing"], timeout=60, what="failing mark")
    letters = [orjson.loads(m.value) for m in read_topic(run, "deadletter")]
    assert any(x["stage"] == "alert" and x["reason"] == "webhook_failed" for x in letters)
    receiver.down.clear()
    wait_until(
        lambda: len(receiver.leads("/down")) >= len(want[down]), timeout=120, what="recovery"
    )
    wait_until(lambda: not _subscriptions(run)[down]["failing"], timeout=30, what="recovered")
    assert sorted(receiver.leads("/down")) == sorted(want[down])

    # A second worker in another group re-reads every lead: no notification anywhere twice.
    _second_worker_rereads(run)
    assert _alerted(es, index) == want
    _assert_topic_once(run, sum(len(v) for v in want.values()))
    assert sorted(receiver.leads("/bank")) == sorted(want[bank])
    assert sorted(receiver.leads("/down")) == sorted(want[down])
    assert receiver.bad == 0


def _assert_refusals(run: Run, other: str) -> None:
    # Refused at creation, one line each, nothing stored.
    assert "not visible" in _tracer_fails(
        "subscriptions", "add", "--owner", "officer1", "--district", other
    )
    assert "'script' is not allowed" in _tracer_fails(
        "subscriptions", "add", "--owner", "officer1", "--query", '{"script": {"s": 1}}'
    )
    assert "malformed JSON" in _tracer_fails(
        "subscriptions", "add", "--owner", "officer1", "--query", "{nope"
    )
    assert "no such user" in _tracer_fails("subscriptions", "add", "--owner", "nobody")
    assert "webhook_url: must be http or https" in _tracer_fails(
        "subscriptions", "add", "--owner", "officer1", "--webhook", "ftp://x/y"
    )
    assert _subscriptions(run) == {}


def _id(message: Any) -> str:
    """A notification's id: what a consumer of the topic deduplicates by."""
    return str(orjson.loads(message.value)["notification_id"])


def _assert_topic_once(run: Run, total: int) -> None:
    messages = read_topic(run, "alerts")
    ids = [_id(m) for m in messages]
    assert len(ids) == len(set(ids)) == total
    for message in messages:
        note = orjson.loads(message.value)
        assert message.key == note["subscription_id"].encode()  # the contract's key
        assert set(note) >= {"lead_id", "tier", "score", "reason", "link"}


def _second_worker_rereads(run: Run) -> None:
    group = f"{run.settings.consumer_group}-second"
    second = Run(run.settings.model_copy(update={"consumer_group": group}), run.tmp)
    proc = second.start_worker("w2")
    run.workers.append(proc)
    topics = [run.topic(t) for t in (*FEED_TOPICS, "leads")]

    def caught_up() -> bool:
        with contextlib.suppress(Exception):
            return consumer_lag(run.settings, group, topics) == 0
        return False

    wait_until(caught_up, timeout=150, what="the second worker re-read everything")


@pytest.mark.chaos
def test_a_killed_worker_leaves_no_notification_missing_or_twice(
    run: Run, es: Elasticsearch, alert_env: dict[str, str]
) -> None:
    write_world(run, people=3000, watchlist=300, events=6000, seed=17)
    expected_leads = reprocess(run)
    mine = _districts(run)[:3]
    es.index(
        index=alert_env["TRACER_REVIEW_USERS_INDEX"],
        id="officer1",
        document={"username": "officer1", "districts": mine},
        refresh=True,
    )
    everything = run.tracer("subscriptions", "add", "--owner", "officer1").strip()
    bank = run.tracer("subscriptions", "add", "--owner", "officer1", "--source", "bank").strip()
    run.tracer(
        "produce",
        "--roster",
        str(run.tmp / "roster.jsonl"),
        "--events",
        str(run.tmp / "events.jsonl"),
    )
    first = run.start_worker("w1")
    wait_until(lambda: lead_count(run) > 0, timeout=150, what="the first leads")
    first.send_signal(signal.SIGKILL)  # mid-stream: leads written, notifications in flight
    first.wait(timeout=10)
    run.start_worker("w2")
    wait_until(lambda: drained(run, len(expected_leads)), timeout=200, what="leads indexed")

    scope = {"terms": {"district": mine}}
    want = {
        everything: _expected(es, run, scope),
        bank: _expected(es, run, {"bool": {"filter": [scope, {"term": {"source": "bank"}}]}}),
    }
    assert all(want.values())
    index = alert_env["TRACER_ALERTS_INDEX"]
    wait_until(lambda: _alerted(es, index) == want, timeout=60, what="every notification")
    # What the killed worker created and did not publish, the relay publishes after the lease.
    wait_until(lambda: _unpublished(es, index) == 0, timeout=60, what="orphans relayed")
    pairs = {(sub, lead) for sub, leads in want.items() for lead in leads}
    wait_until(
        lambda: len({_id(m) for m in read_topic(run, "alerts")}) >= len(pairs),
        timeout=60,
        what="the topic read to its end",
    )
    messages = read_topic(run, "alerts")
    # The guarantee (alerts/outbox.py): every notification on the topic at least once, under
    # its subscription; a second copy only if the kill fell between Kafka's acknowledgement and
    # the published mark, and then the same bytes (a consumer dedupes by notification_id).
    by_id: dict[str, set[bytes]] = {}
    for message in messages:
        note = orjson.loads(message.value)
        assert message.key == note["subscription_id"].encode()
        by_id.setdefault(note["notification_id"], set()).add(message.value)
    assert all(len(values) == 1 for values in by_id.values())
    notes = [orjson.loads(next(iter(values))) for values in by_id.values()]
    assert {(n["subscription_id"], n["lead_id"]) for n in notes} == pairs
    assert len(notes) == len(pairs)
    copies = len(messages) - len(by_id)
    assert copies <= 2 * 500, copies  # at most the bulk or two in flight at the kill
