"""Browser tests: Playwright's Python package driving Debian's chromium against a live service.

The service runs in a thread (uvicorn) on a free loopback port over a private world of indices
on the real local Elasticsearch (``tests/integration/test_review_support.py``). Skipped, with
the reason, only when chromium is absent (``make browser`` installs it).
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from elasticsearch import AsyncElasticsearch, Elasticsearch

from review.app import build_app
from review.audit import AuditTrail
from review.security import SessionCodec
from review.service import ReviewConfig, ReviewService
from tests.integration.test_review_support import SECRET, World, build_world, drop_world
from tracer.settings import TracerSettings, load_settings

# The real binary: /usr/bin/chromium is a shell launcher Playwright cannot drive.
CHROMIUM = Path("/usr/lib/chromium/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "out" / "review"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    hint = "chromium is not installed: run `make browser` (apt-get install chromium)"
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.skip(reason=hint))


@pytest.fixture(scope="session")
def settings() -> TracerSettings:
    return load_settings()


@pytest.fixture(scope="session")
def es(settings: TracerSettings) -> Iterator[Elasticsearch]:
    with Elasticsearch(settings.elasticsearch_url, request_timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def world(es: Elasticsearch) -> Iterator[World]:
    prefix = f"it-review-browser-{uuid.uuid4().hex[:8]}"
    try:
        yield build_world(es, prefix)
    finally:
        drop_world(es, prefix)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(settings: TracerSettings, world: World) -> Iterator[str]:
    client = AsyncElasticsearch(settings.elasticsearch_url, request_timeout=30)
    config = ReviewConfig(
        leads_alias=world.alias,
        users_index=world.users,
        audit_index=world.audit,
        events_alias=world.events,
        audit_topic=None,
    )
    service = ReviewService(
        client, config, SessionCodec(SECRET, lifetime_s=600), AuditTrail(client, world.audit)
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(service), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the review service did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    if not shutil.which("chromium") and not CHROMIUM.exists():
        pytest.skip("chromium is not installed: run `make browser`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()
