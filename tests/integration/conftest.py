"""Fixtures for tests against the real local Kafka and Elasticsearch.

Integration tests never skip: when the stack does not answer, every one of them fails with the
same message telling how to start it (CI starts it with ``make test``).
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
import uuid

import pytest

from tests.integration.streaming import run  # noqa: F401  (the per-test stack slice)
from tracer.settings import TracerSettings

START_HINT = "run `.venv/bin/tracer stack up` (or `make stack-up`) first"


def _kafka_answers(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",", maxsplit=1)[0].strip().rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=2.0):
            return True
    except OSError:
        return False


def _elasticsearch_answers(url: str) -> bool:
    try:
        health = f"{url.rstrip('/')}/_cluster/health?wait_for_status=yellow&timeout=5s"
        with urllib.request.urlopen(health, timeout=10.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


@pytest.fixture(scope="session", autouse=True)
def live_stack(settings: TracerSettings) -> TracerSettings:
    """Fail (never skip) every integration test when Kafka or Elasticsearch does not answer."""
    missing = []
    if not _kafka_answers(settings.kafka_bootstrap):
        missing.append(f"Kafka at {settings.kafka_bootstrap}")
    if not _elasticsearch_answers(settings.elasticsearch_url):
        missing.append(f"Elasticsearch at {settings.elasticsearch_url}")
    if missing:
        pytest.fail(f"{' and '.join(missing)} not reachable: {START_HINT}", pytrace=False)
    return settings


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A lower-case name no other test (or run) uses: for topics, indices, aliases, groups."""
    stem = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:30]
    return f"it-{stem.strip('-')}-{uuid.uuid4().hex[:8]}"
