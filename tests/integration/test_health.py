"""The worker's /health and /metrics on a real ``tracer worker`` against the local stack."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contract import FEED_TOPICS
from tests.integration.streaming import (
    Run,
    drained,
    es_proxy,
    indexed_leads,
    lag,
    lead_count,
    reprocess,
    wait_until,
    write_world,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def web_port(run: Run, name: str) -> int:
    """The port ``start_worker`` chose, as the worker prints it when it starts."""
    found: list[int] = []

    def printed() -> bool:
        match = re.search(r"web 127\.0\.0\.1:(\d+)", run.log(name))
        found.extend([int(match.group(1))] if match else [])
        return bool(found)

    wait_until(printed, timeout=60, what="the worker's web address")
    return found[0]


def get(port: int, path: str) -> tuple[int, bytes]:
    """Status and body of ``GET path`` (0: not answering yet)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())
    except (urllib.error.URLError, OSError):
        return 0, b""


def health(port: int) -> tuple[int, dict[str, Any]]:
    status, body = get(port, "/health")
    return status, (orjson.loads(body) if status else {})


def metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = get(port, "/metrics")
    assert status == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def states_until(
    port: int, wanted: str, *, timeout: float, log: Callable[[], str] = str
) -> list[tuple[float, int, str]]:
    """Poll /health until its state is ``wanted``; return each (time, status, state) change."""
    seen: list[tuple[float, int, str]] = []
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status, body = health(port)
        state = body.get("state", "")
        if status and (not seen or seen[-1][2] != state):
            seen.append((time.monotonic() - started, status, state))
        if state == wanted:
            return seen
        time.sleep(0.1)
    tail = "\n".join([line for line in log().splitlines() if line.startswith("[")][-15:])
    raise AssertionError(f"/health never said {wanted!r} in {timeout:.0f}s: {seen}\n{tail}")


def test_health_goes_starting_to_ready_and_metrics_count_the_work(run: Run) -> None:
    # A roster of 15,000 people takes a few seconds to load: /health answers meanwhile.
    write_world(run, people=20_000, watchlist=15_000, events=2000, seed=21)
    expected = reprocess(run)
    run.produce_world(events=False)
    run.start_worker("worker")
    port = web_port(run, "worker")
    seen = states_until(port, "ready", timeout=120, log=lambda: run.log("worker"))
    assert seen[0][1:] == (200, "starting"), seen
    assert seen[-1][1:] == (200, "ready"), seen
    status, body = health(port)
    assert (status, body["roster_loaded"], body["roster_size"]) == (200, True, 15_000)

    run.produce_world(roster=False)
    wait_until(lambda: drained(run, len(expected)), timeout=120, what="every lead indexed")
    wait_until(
        lambda: health(port)[1]["leads_created"] == len(expected), timeout=30, what="the counts"
    )
    status, body = health(port)
    assert (status, body["state"], body["reasons"]) == (200, "ready", [])
    assert body["events"] == 2000 and body["lag"] == 0
    got = metrics(port)
    assert got[("tracer_events_total", ())] == 2000
    assert got[("tracer_leads_emitted_total", ())] == len(expected)
    assert got[("tracer_leads_created_total", ())] == len(expected)
    assert got[("tracer_roster_size", ())] == 15_000
    assert got[("tracer_health_state", (("state", "ready"),))] == 1
    dead = sum(v for (name, _), v in got.items() if name == "tracer_dead_letters_total")
    assert dead == body["dead_letters"]
    lags = {labels: v for (name, labels), v in got.items() if name == "tracer_consumer_lag"}
    # Every partition with a committed offset: feeds and leads only (not the roster).
    watched = {run.topic(t) for t in (*FEED_TOPICS, "leads")}
    topics = {dict(labels)["topic"] for labels in lags}
    assert run.topic("leads") in topics and len(topics) > 1 and topics <= watched
    assert all(v == 0 for v in lags.values())
    assert "health: degraded" not in run.log("worker")


def test_elasticsearch_away_is_reported_degraded_within_30_s_and_loses_nothing(run: Run) -> None:
    # One outage for two promises: /health says so within 30 s, and the pipeline holds its
    # offsets until the leads are written, then writes exactly the leads of reprocess.
    write_world(run, people=2000, watchlist=200, events=2000, seed=13)
    expected = reprocess(run)
    # The worker reaches Elasticsearch through a proxy the test cuts: the index and topics
    # exist first (the worker makes sure of them when it starts), then Elasticsearch goes away.
    proxy = es_proxy()
    proxy.start()
    run.through(proxy)
    run.produce_world(events=False)
    try:
        run.start_worker("worker")
        port = web_port(run, "worker")
        states_until(port, "ready", timeout=120, log=lambda: run.log("worker"))
        fault = time.monotonic()
        proxy.stop()
        run.produce_world(roster=False)
        states_until(
            port, "degraded", timeout=30 - (time.monotonic() - fault), log=lambda: run.log("worker")
        )
        took = time.monotonic() - fault
        status, body = health(port)
        assert status == 503
        assert body["reasons"] == ["elasticsearch_unavailable"]
        assert "TRACER_ELASTICSEARCH_URL" in body["fixes"]["elasticsearch_unavailable"]
        # Whichever call meets the outage first: a bulk of leads (or of archived events), the
        # closer's search, or the alerts' reload of subscriptions.
        failing = body["failing_s"]
        assert failing.keys() <= {"index", "close", "alert"} and max(failing.values()) >= 10
        assert sum(body["retries"].values()) >= 1
        log = run.log("worker")
        assert len(re.findall(r"WARNING.*health: degraded: elasticsearch_unavailable", log)) == 1
        got = metrics(port)
        assert got[("tracer_health_state", (("state", "degraded"),))] == 1
        assert got[("tracer_health_degraded_reason", (("reason", "elasticsearch_unavailable"),))]
        assert sum(v for (name, _), v in got.items() if name == "tracer_retries_total") >= 1
        print(f"degraded reported {took:.1f}s after the fault")
        assert lead_count(run) == 0  # nothing reached Elasticsearch...
        assert lag(run) > 0  # ...so the lead offsets did not move
        # Whichever write meets the outage (a bulk create, or the search that closes leads
        # written for people no longer traced) retries it with backoff and says so.
        assert re.search(r"(index|close) failed \(Elasticsearch: ", log)

        proxy.start()
        states_until(port, "ready", timeout=90, log=lambda: run.log("worker"))
        wait_until(lambda: drained(run, len(expected)), timeout=90, what="leads after recovery")
    finally:
        proxy.stop()
    assert re.search(r"INFO.*health: recovered, now ready", run.log("worker"))
    docs = indexed_leads(run)
    assert len(docs) == len(expected)
    assert {d["lead_id"]: d["score"] for d in docs} == {k: v["score"] for k, v in expected.items()}
