"""``tracer serve`` as ``make run`` starts it: a subprocess on the real stack, the demo officer
finding their district's leads in its own index behind its district alias (as the worker's
writer makes them)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from elasticsearch import Elasticsearch

from connectors.lead_index import (
    district_alias,
    drop_lead_index,
    ensure_district_index,
    ensure_lead_index,
)
from connectors.topics import drop_topics
from tests.integration.test_review_support import drop_world, make_lead
from tracer.commands.demo import _busiest_district, _demo_officer
from tracer.settings import TracerSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix(es: Elasticsearch, settings: TracerSettings) -> Iterator[str]:
    name = f"it-review-serve-{uuid.uuid4().hex[:8]}"
    try:
        yield name
    finally:
        drop_lead_index(es, f"{name}-leads")
        drop_world(es, name)
        drop_topics(settings, [f"{name}.audit"], group=f"{name}-none")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_runs_and_the_demo_officer_sees_their_district(
    es: Elasticsearch, settings: TracerSettings, prefix: str, tmp_path: Path
) -> None:
    alias = f"{prefix}-leads"
    ensure_lead_index(es, alias)
    for district in ("美兰区", "美兰区", "龙华区"):
        lead = make_lead(district=district)
        ensure_district_index(es, alias, district)
        scoped = district_alias(alias, district)
        es.index(index=scoped, id=lead["lead_id"], document=lead, refresh="wait_for")
    env_settings = settings.model_copy(update={"review_users_index": f"{prefix}-users"})
    assert _busiest_district(es, alias) == "美兰区"
    assert es.count(index=district_alias(alias, "龙华区"))["count"] == 1
    password = _demo_officer(es, env_settings, "美兰区")
    port = _free_port()
    env = {
        **os.environ,
        "TRACER_LEADS_ALIAS": alias,
        "TRACER_REVIEW_USERS_INDEX": f"{prefix}-users",
        "TRACER_AUDIT_INDEX": f"{prefix}-audit",
        "TRACER_TOPIC_PREFIX": f"{prefix}.",
    }
    log = (tmp_path / "serve.log").open("wb")
    serve = subprocess.Popen(
        [sys.executable, "-m", "tracer.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        with httpx.Client(base_url=base) as client:
            while True:
                try:
                    login = client.post(
                        "/api/login", json={"username": "demo.officer", "password": password}
                    )
                    break
                except httpx.TransportError:
                    assert serve.poll() is None, (tmp_path / "serve.log").read_text()
                    assert time.monotonic() < deadline, "tracer serve did not answer"
                    time.sleep(0.3)
            assert login.status_code == 200
            found = client.get("/api/leads").json()
            assert found["total"] == 2
            assert {lead["district"] for lead in found["leads"]} == {"美兰区"}
    finally:
        serve.send_signal(signal.SIGINT)
        code = serve.wait(timeout=30)
        log.close()
    logged = (tmp_path / "serve.log").read_text()
    assert code in (0, 130), logged  # 130: uvicorn re-raises the SIGINT after a clean stop
    assert "Application shutdown complete" in logged and "not mirrored" not in logged
    es.indices.refresh(index=f"{prefix}-audit")
    assert es.count(index=f"{prefix}-audit")["count"] >= 2  # the login and the search
