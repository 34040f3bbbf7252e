"""``tracer reprocess --elasticsearch`` on the real stack: the lead store behind a batch job.

Each test has its own leads alias (the ``run`` fixture). A simulated day is reprocessed into
Elasticsearch and the index compared with the job's JSONL: the same leads; a rerun changes
nothing (every count ``unchanged``, every ``_seq_no`` the same); a rerun under another model
refreshes the untouched leads, leaves confirmed and rejected ones as they were and marks (never
deletes) the leads it no longer finds; a job SIGKILLed after a checkpoint and resumed leaves the
index as an uninterrupted run does.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import AsyncElasticsearch, Elasticsearch, helpers

from connectors.lead_index import drop_lead_index
from connectors.lead_store import LeadStore
from matchers.scoring.modelfile import default_model
from tests.integration.streaming import TRACER, Run, write_world

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

#: Written by the run itself (its id and the time): the rest of a lead is what is compared.
_BOOKKEEPING = {"run_id", "machine_updated_at"}


def _reprocess(run: Run, out: Path, *args: str, alias: str | None = None) -> dict[str, int]:
    """Run the job into Elasticsearch; return the summary's Elasticsearch counts."""
    env = run.env | ({"TRACER_LEADS_ALIAS": alias} if alias else {})
    command = [TRACER, "reprocess", "--roster", str(run.tmp / "roster.jsonl"),
               "--events", str(run.tmp / "events.jsonl"), "--out", str(out),
               "--elasticsearch", "--workers", "2", *args]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return _counts(done.stdout.decode())


def _counts(summary: str) -> dict[str, int]:
    line = next(x for x in summary.splitlines() if x.strip().startswith("elasticsearch:"))
    return {name: int(n) for n, name in re.findall(r"(\d+) (\w+)", line)}


def _jsonl(path: Path) -> dict[str, dict[str, Any]]:
    leads = (orjson.loads(line) for line in path.read_bytes().splitlines())
    return {lead["lead_id"]: lead for lead in leads}


def _indexed(es: Elasticsearch, alias: str) -> dict[str, dict[str, Any]]:
    """Every lead behind the alias: its source, ``_seq_no`` and index."""
    es.indices.refresh(index=alias)
    hits = helpers.scan(es, index=alias, query={"query": {"match_all": {}}},
                        seq_no_primary_term=True)  # fmt: skip
    return {h["_id"]: h["_source"] | {"_seq_no": h["_seq_no"], "_index": h["_index"]} for h in hits}


def _machine(lead: dict[str, Any]) -> dict[str, Any]:
    review = {"status", "review", "qualifies", "_seq_no", "_index", *_BOOKKEEPING}
    return {k: v for k, v in lead.items() if k not in review}


def _set_review(run: Run, lead: dict[str, Any], status: str) -> None:
    async def write() -> None:
        client = AsyncElasticsearch(run.settings.elasticsearch_url, request_timeout=30)
        store = LeadStore(client, run.settings.leads_alias)
        try:
            found = await store.get(lead["lead_id"], lead["district"])
            await store.set_review(
                lead["lead_id"],
                lead["district"],
                {"status": status, "review": {"decided_by": "officer-1", "note": "checked"}},
                if_seq_no=found.version.seq_no,
                if_primary_term=found.version.primary_term,
            )
        finally:
            await store.close()

    asyncio.run(write())


def _new_model(path: Path, scores: list[float]) -> Path:
    """The shipped model with another version, other weights and a stricter ``low`` tier.

    The lowest lead threshold moves up to the old leads' median score: about half of them
    no longer qualify.
    """
    data = json.loads(json.dumps(default_model().to_dict()))  # a deep copy
    data["version"] = "it-model-2"
    data["fields"]["name"]["exact"]["m"] *= 0.8  # every lead agreeing on the name rescored
    thresholds = data["thresholds"]
    low = min(sorted(scores)[len(scores) // 2], thresholds["high"] - 0.2)
    thresholds["low"] = low
    thresholds["medium"] = max(thresholds["medium"], low + 0.1)
    path.write_text(json.dumps(data))
    return path


def test_a_reprocess_into_elasticsearch_has_the_jsonl_leads_and_a_rerun_changes_nothing(
    run: Run, es: Elasticsearch
) -> None:
    write_world(run, people=20_000, watchlist=400, events=4000, seed=41)
    alias = run.settings.leads_alias
    first = _reprocess(run, run.tmp / "a.jsonl", "--run-id", "r1")
    written = _jsonl(run.tmp / "a.jsonl")
    assert written, "the simulated day has leads"
    indexed = _indexed(es, alias)
    assert set(indexed) == set(written)
    for lead_id, lead in written.items():
        doc = indexed[lead_id]
        assert _machine(doc) == _machine(lead)
        assert (doc["status"], doc["qualifies"], doc["run_id"]) == ("new", True, "r1")
    assert first["created"] == len(written)
    assert first["refreshed"] == first["unchanged"] == first["superseded"] == 0

    again = _reprocess(run, run.tmp / "b.jsonl", "--run-id", "r2")
    assert again["unchanged"] == len(written)
    assert again["created"] == again["refreshed"] == again["superseded"] == 0
    after = _indexed(es, alias)
    assert {k: v["_seq_no"] for k, v in after.items()} == {
        k: v["_seq_no"] for k, v in indexed.items()
    }
    assert after == indexed  # run_id r1 kept: an unchanged lead is not written at all


def test_a_rerun_under_a_new_model_refreshes_untouched_leads_and_keeps_decided_ones(
    run: Run, es: Elasticsearch
) -> None:
    write_world(run, people=20_000, watchlist=400, events=4000, seed=47)
    alias = run.settings.leads_alias
    _reprocess(run, run.tmp / "old.jsonl", "--run-id", "r1")
    old = _jsonl(run.tmp / "old.jsonl")
    model = _new_model(run.tmp / "model.json", [lead["score"] for lead in old.values()])
    # What the new model finds, written to a file only: to choose the leads officers decide.
    run.tracer("reprocess", "--roster", str(run.tmp / "roster.jsonl"), "--events",
               str(run.tmp / "events.jsonl"), "--out", str(run.tmp / "probe.jsonl"),
               "--model", str(model))  # fmt: skip
    new_ids = set(_jsonl(run.tmp / "probe.jsonl"))
    kept, dropped = sorted(new_ids & set(old)), sorted(set(old) - new_ids)
    assert len(kept) >= 2 and len(dropped) >= 2, "the new model keeps some leads, drops others"
    decided = {kept[0]: "confirmed", dropped[0]: "rejected"}
    for lead_id, status in decided.items():
        _set_review(run, old[lead_id], status)
    before = _indexed(es, alias)

    counts = _reprocess(run, run.tmp / "new.jsonl", "--run-id", "r2", "--model", str(model))
    new = _jsonl(run.tmp / "new.jsonl")
    assert set(new) == new_ids
    after = _indexed(es, alias)
    assert set(after) == set(old) | set(new)  # nothing deleted
    for lead_id, doc in after.items():
        if lead_id in decided:  # neither rescored nor marked, its decision intact
            assert doc == before[lead_id]
            assert doc["status"] == decided[lead_id]
        elif lead_id in new:
            assert _machine(doc) == _machine(new[lead_id])
            assert (doc["model_version"], doc["qualifies"]) == ("it-model-2", True)
        else:  # the new model no longer finds it: marked, kept, machine fields as they were
            assert (doc["qualifies"], doc["run_id"], doc["status"]) == (False, "r2", "new")
            assert _machine(doc) == _machine(old[lead_id])
    untouched = set(new) & set(old) - set(decided)
    assert counts["created"] == len(set(new) - set(old))
    assert counts["kept_reviewed"] == 1
    assert counts["refreshed"] + counts["unchanged"] == len(untouched)
    assert counts["refreshed"] > 0
    assert counts["superseded"] == len(dropped) - 1
    assert sum(1 for d in after.values() if d["model_version"] == "it-model-2") == len(new) - 1


@pytest.mark.chaos
def test_a_sigkilled_job_resumed_leaves_the_index_as_an_uninterrupted_one(
    run: Run, es: Elasticsearch
) -> None:
    write_world(run, people=20_000, watchlist=400, events=6000, seed=43)
    args = ["--run-id", "r", "--chunk-lines", "100", "--checkpoint-every", "300"]
    whole = _reprocess(run, run.tmp / "whole.jsonl", *args)
    other = f"cut-{run.settings.leads_alias}"  # no template of the run's alias matches it
    cut = run.tmp / "cut.jsonl"
    try:
        command = [TRACER, "reprocess", "--roster", str(run.tmp / "roster.jsonl"),
                   "--events", str(run.tmp / "events.jsonl"), "--out", str(cut),
                   "--elasticsearch", "--workers", "1", *args]  # fmt: skip
        checkpoint = Path(f"{cut}.checkpoint.json")
        proc = subprocess.Popen(command, env=run.env | {"TRACER_LEADS_ALIAS": other},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if checkpoint.exists() and orjson.loads(checkpoint.read_bytes())["sinks"].get(
                "elasticsearch", {}
            ).get("created"):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the job ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        resumed = _reprocess(run, cut, *args, "--resume", alias=other)
        assert cut.read_bytes() == (run.tmp / "whole.jsonl").read_bytes()
        strip = {"machine_updated_at", "_seq_no", "_index"}
        mine = {k: {f: v for f, v in d.items() if f not in strip}
                for k, d in _indexed(es, other).items()}  # fmt: skip
        theirs = {k: {f: v for f, v in d.items() if f not in strip}
                  for k, d in _indexed(es, run.settings.leads_alias).items()}  # fmt: skip
        assert mine == theirs
        # Counted once each: the leads the killed run wrote after its checkpoint are met again
        # by the resume (unchanged), never counted twice nor lost.
        assert resumed["created"] + resumed["unchanged"] == whole["created"] == len(theirs)
        assert resumed["created"] > 0 and resumed["superseded"] == 0
        assert not Path(f"{cut}.scope.jsonl").exists()
    finally:
        drop_lead_index(es, other)
