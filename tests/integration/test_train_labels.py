"""``tracer train --labels es`` on the real Elasticsearch, verdicts set by a simulated truth.

A world is simulated and reprocessed with a model whose prior was raised by 22 bits on purpose
(so look-alikes become leads too); a few dozen of its leads go into per-district indices
behind a private alias, each confirmed or rejected as the world's truth says, beside leads
nobody decided. The verdicts must lower the prior and lift the held-back precision.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import Elasticsearch

from connectors.lead_index import district_alias
from connectors.retry import RetryPolicy
from connectors.verdicts import read_verdicts
from matchers.scoring.model import logit2
from matchers.scoring.modelfile import default_model, load_model
from tests.integration.test_review_support import drop_world, lead_index_mappings
from tracer.commands.serve import async_client
from tracer.settings import TracerSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from tracer.cli import main

pytestmark = pytest.mark.integration

_RAISED_BITS = 22.0
_PER_KIND = 30


@dataclasses.dataclass(frozen=True)
class Verdicts:
    alias: str
    loose_model: Path
    confirmed: int
    rejected: int
    undecided: int


def _simulated_leads(folder: Path) -> tuple[list[dict[str, Any]], set[tuple[str, str]], Path]:
    world = folder / "world"
    sizes = ["--people", "3000", "--watchlist", "300", "--events", "3000"]
    assert main(["simulate", "--out", str(world), *sizes, "--hard-decoys", "--quiet"]) == 0
    current = default_model()
    raised = 1 / (1 + 2 ** -(logit2(current.prior) + _RAISED_BITS))
    loose = folder / "loose.json"
    loose.write_text(dataclasses.replace(current, prior=raised, version="loose").to_json())
    leads = folder / "leads.jsonl"
    roster, events = str(world / "roster.jsonl"), str(world / "events.jsonl")
    argv = ["reprocess", "--roster", roster, "--events", events, "--out", str(leads)]
    assert main([*argv, "--model", str(loose)]) == 0
    truth = {
        (t["person_id"], t["event_id"])
        for t in map(orjson.loads, (world / "truth.jsonl").read_bytes().splitlines())
        if t["kind"] == "match"
    }
    return [orjson.loads(line) for line in leads.read_bytes().splitlines()], truth, loose


def _decided(leads: list[dict[str, Any]], truth: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """A few dozen leads: up to 30 of each verdict by the truth, and 5 nobody decided yet."""
    right = [x for x in leads if (x["person_id"], x["event_id"]) in truth]
    wrong = [x for x in leads if (x["person_id"], x["event_id"]) not in truth]
    out = [{**x, "status": "confirmed"} for x in right[:_PER_KIND]]
    out += [{**x, "status": "rejected"} for x in wrong[:_PER_KIND]]
    out += right[_PER_KIND : _PER_KIND + 5]  # status "new"
    for lead in out:
        if lead["status"] != "new":
            lead["review"] = {"decided_by": "officer1", "decided_at": "2026-12-07T10:00:00Z"}
    return out


def _index(es: Elasticsearch, alias: str, leads: list[dict[str, Any]]) -> None:
    for district in sorted({x["district"] for x in leads}):
        scoped = district_alias(alias, district)
        es.indices.create(
            index=f"{scoped}-v1",
            mappings=lead_index_mappings(),
            aliases={alias: {}, scoped: {}},
        )
    operations: list[dict[str, Any]] = []
    for lead in leads:
        index = f"{district_alias(alias, lead['district'])}-v1"
        operations += [{"index": {"_index": index, "_id": lead["lead_id"]}}, lead]
    assert not es.bulk(operations=operations, refresh="wait_for")["errors"]


@pytest.fixture(scope="module")
def verdicts(es: Elasticsearch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verdicts]:
    prefix = f"it-verdicts-{uuid.uuid4().hex[:8]}"
    leads, truth, loose = _simulated_leads(tmp_path_factory.mktemp("verdicts"))
    chosen = _decided(leads, truth)
    alias = f"{prefix}-leads"
    try:
        _index(es, alias, chosen)
        yield Verdicts(
            alias,
            loose,
            confirmed=sum(x["status"] == "confirmed" for x in chosen),
            rejected=sum(x["status"] == "rejected" for x in chosen),
            undecided=sum(x["status"] == "new" for x in chosen),
        )
    finally:
        drop_world(es, prefix)


def _precision(printed: str, cut: str) -> tuple[float, float]:
    row = next(line for line in printed.splitlines() if line.strip("│ ").startswith(cut))
    cells = [c.strip() for c in row.strip("│").split("│")]
    return float(cells[1].split()[0]), float(cells[3].split()[0])


def test_verdicts_in_elasticsearch_teach_the_model(
    verdicts: Verdicts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert verdicts.rejected >= 20 and verdicts.confirmed == _PER_KIND and verdicts.undecided
    monkeypatch.setenv("TRACER_LEADS_ALIAS", verdicts.alias)
    out = tmp_path / "model.json"
    argv = ["train", "--labels", "es", "--model", str(verdicts.loose_model), "--out", str(out)]
    assert main([*argv, "--strength", "50"]) == 0
    printed = capsys.readouterr().out
    total = verdicts.confirmed + verdicts.rejected
    assert f"train --labels: {total} verdicts" in printed  # the undecided leads are not read
    held_confirmed = round(0.3 * verdicts.confirmed)
    assert f"held-back verdicts: {held_confirmed} confirmed" in printed
    before, after = _precision(printed, "high")
    assert after > before, printed
    new, loose = load_model(out), load_model(verdicts.loose_model)
    assert new.version.startswith("loose+labels-")
    assert logit2(new.prior) < logit2(loose.prior) - 1.0
    assert new.training["labels"]["confirmed"] + new.training["labels"]["rejected"] < total
    assert f"TRACER_MODEL_PATH={out.resolve()}" in printed


def test_verdicts_are_read_in_bounded_pages_of_one_point_in_time(
    verdicts: Verdicts, settings: TracerSettings
) -> None:
    async def read(limit: int) -> list[dict[str, Any]]:
        client = async_client(settings)
        pages: list[int] = []
        try:
            found = await read_verdicts(
                client,
                verdicts.alias,
                page_size=7,
                limit=limit,
                policy=RetryPolicy(deadline_s=10.0),
                on_page=lambda page: pages.append(len(page.leads)),
            )
        finally:
            await client.close()
        assert all(n <= 7 for n in pages) and sum(pages) == len(found)
        return found

    total = verdicts.confirmed + verdicts.rejected
    every = asyncio.run(read(1000))
    assert len(every) == total == len({x["lead_id"] for x in every})
    assert {x["status"] for x in every} == {"confirmed", "rejected"}
    # Only what a label needs is fetched: no names, no notes.
    assert not {"person_name", "event_name", "review"} & set(every[0])
    assert len(asyncio.run(read(25))) == 25


def test_too_few_verdicts_in_elasticsearch_is_one_line(
    verdicts: Verdicts,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TRACER_LEADS_ALIAS", verdicts.alias)
    out = tmp_path / "model.json"
    with pytest.raises(SystemExit) as exited:
        main(["train", "--labels", "es", "--out", str(out), "--min-labels", "100"])
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "too few verdicts to fit" in err and "need at least 100 of each" in err
    assert "\n" not in err and not out.exists()


def test_a_missing_leads_alias_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACER_LEADS_ALIAS", f"it-verdicts-none-{uuid.uuid4().hex[:8]}")
    with pytest.raises(SystemExit) as exited:
        main(["train", "--labels", "es", "--out", str(tmp_path / "m.json")])
    assert exited.value.code == 1
    assert "no leads index or alias" in capsys.readouterr().err
