"""Browser tests: Playwright's Python package driving Debian's chromium against a live service.

The service runs in a thread (uvicorn) on a free loopback port over a private world of indices
on the real local Elasticsearch (``tests/integration/test_review_support.py``). Skipped, with
the reason, only when chromium is absent (``make browser`` installs it).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from elasticsearch import Elasticsearch

from review.app import build_app
from tests.integration.streaming import free_port
from tests.integration.test_review_support import World, private_world, review_service
from tracer.settings import TracerSettings

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


@pytest.fixture(scope="module")
def world(es: Elasticsearch) -> Iterator[World]:
    with private_world(es, "it-review-browser") as made:
        yield made


@pytest.fixture(scope="module")
def base_url(settings: TracerSettings, world: World) -> Iterator[str]:
    app = build_app(review_service(settings, world))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
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
