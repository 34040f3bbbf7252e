"""`tracer stack status`, `up` again and `init` against the running stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from kafka.admin import KafkaAdminClient

from connectors.topics import contract_topics
from tests.integration.streaming import Run, drop_run
from tracer.settings import TracerSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

TRACER = str(Path(sys.executable).parent / "tracer")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TRACER, "stack", *args], capture_output=True, text=True, timeout=150, check=False, env=env
    )


def test_status_reports_both_services_running() -> None:
    result = _run("status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {row["service"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"kafka", "elasticsearch"}
    for row in rows.values():
        assert row["state"] == "running"
        assert row["pid"] > 0
        assert row["log"].endswith(".log")
    plain = _run("status")
    assert plain.returncode == 0
    assert plain.stdout.count("running") == 2


def test_up_again_leaves_the_running_stack_alone() -> None:
    before = {row["service"]: row["pid"] for row in json.loads(_run("status", "--json").stdout)}
    result = _run("up")
    assert result.returncode == 0, result.stderr
    after = {row["service"]: row["pid"] for row in json.loads(_run("status", "--json").stdout)}
    assert after == before


def test_init_creates_the_contract_topics_and_the_leads_alias(
    settings: TracerSettings, es: Elasticsearch, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:8]
    mine = settings.model_copy(
        update={"topic_prefix": f"it{tag}.", "leads_alias": f"leads-it{tag}"}
    )
    env = os.environ | {
        "TRACER_TOPIC_PREFIX": mine.topic_prefix,
        "TRACER_LEADS_ALIAS": mine.leads_alias,
    }
    try:
        result = _run("init", "--timeout", "120", env=env)
        assert result.returncode == 0, result.stderr
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            topics = set(admin.list_topics())
        finally:
            admin.close()
        wanted = {spec.name for spec in contract_topics(prefix=mine.topic_prefix)}
        assert wanted <= topics
        assert es.indices.exists_alias(name=mine.leads_alias)
        again = _run("init", "--timeout", "120", env=env)  # a second init changes nothing
        assert again.returncode == 0, again.stderr
    finally:
        drop_run(Run(mine, tmp_path))
