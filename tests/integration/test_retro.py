"""Retro-matching on the real stack: a new drop-out gets the leads from their history.

A real ``tracer worker`` archives every event it matches (its own archive alias per test); a
person who was only ``active`` while their events went by drops out; the worker searches the
archive and publishes their leads: those of events inside the trace window (``TRACER_RETRO_DAYS``
before the drop-out, 90 by default) and none from beyond it -- exactly what ``tracer
reprocess`` gives for the same events against the roster after the drop-out. A second drop-out
record for the same person duplicates nothing. Retention deletes whole old day indices only.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import Elasticsearch

from connectors.event_archive import (
    day_index_name,
    delete_older_than,
    drop_event_archive,
    ensure_event_archive,
)
from connectors.kafka import consumer_lag
from simulator.population import IdentityFactory
from tests.integration.streaming import (
    ES_URL,
    Run,
    drained,
    es,
    indexed_leads,
    lag,
    read_topic,
    reprocess,
    wait_until,
    write_world,
)
from tests.unit.matchers.test_matcher import event_record, roster_record
from tracer.settings import TracerSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _ago(now: dt.datetime, days: float) -> str:
    return (now - dt.timedelta(days=days)).isoformat(timespec="seconds")


def _retro_runs(run: Run) -> int:
    return len(re.findall(r"retro: \d+ people searched", run.log("worker")))


def test_a_new_drop_out_gets_the_leads_from_history_within_the_window(run: Run) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    late, traced = IdentityFactory(random.Random(41)).people(2)
    # ``late`` is only active while their events go by; ``traced`` is dropped out all along.
    active = roster_record(1, late, status="active") | {"status_changed_at": _ago(now, 400)}
    watched = roster_record(2, traced) | {"status_changed_at": _ago(now, 10)}
    events = [
        event_record("b-30d", late, "bank", occurred_at=_ago(now, 30)),  # account opened
        event_record("t-2d", late, "telecom", occurred_at=_ago(now, 2)),
        event_record("h-1d", late, "hukou", occurred_at=_ago(now, 1)),
        event_record("b-120d", late, "bank", occurred_at=_ago(now, 120)),  # beyond the window
        event_record("t-5d", traced, "telecom", occurred_at=_ago(now, 5)),
    ]
    run.tracer("produce", "--roster", str(_write(run.tmp / "roster.jsonl", [active, watched])))
    run.start_worker("worker")
    run.tracer("produce", "--events", str(_write(run.tmp / "events.jsonl", events)))
    wait_until(lambda: drained(run, 1), timeout=120, what="the stream's lead")
    assert {d["person_id"] for d in indexed_leads(run)} == {"p00002"}

    # The drop-out: status_changed_at now. Offline, the same events against the new roster.
    dropped = roster_record(1, late) | {"status_changed_at": now.isoformat()}
    final = _write(run.tmp / "final.jsonl", [dropped, watched])
    expected = _reprocess(run, final)
    theirs = {k for k, v in expected.items() if v["person_id"] == "p00001"}
    assert {expected[k]["event_id"] for k in theirs} == {"b-30d", "t-2d", "h-1d"}

    runs = _retro_runs(run)
    run.tracer("produce", "--roster", str(_write(run.tmp / "drop.jsonl", [dropped])))
    wait_until(lambda: drained(run, len(expected)), timeout=60, what="the retro leads")
    got = {doc["lead_id"]: doc for doc in indexed_leads(run)}
    assert set(got) == set(expected)
    for lead_id, doc in got.items():
        assert (doc["score"], doc["event_digest"]) == (
            expected[lead_id]["score"],
            expected[lead_id]["event_digest"],
        )
    wait_until(lambda: _retro_runs(run) > runs, timeout=30, what="the retro log line")

    # Published once each: the retro leads were matched before the drop-out was applied.
    published = [m.key for m in read_topic(run, "leads")]
    assert sorted(published) == sorted(k.encode() for k in got)

    # A second drop-out record for the same person: searched again, nothing duplicated.
    runs = _retro_runs(run)
    again = dropped | {"case_officer": "officer-2"}
    run.tracer("produce", "--roster", str(_write(run.tmp / "again.jsonl", [again])))
    wait_until(lambda: _retro_runs(run) > runs, timeout=60, what="the second search")
    wait_until(lambda: lag(run) == 0, timeout=60, what="the leads indexed")
    assert sorted(doc["lead_id"] for doc in indexed_leads(run)) == sorted(got)
    # Every valid event is in the archive, once, without its raw payload.
    client = es()
    client.indices.refresh(index=run.settings.event_archive_alias)
    archived = client.search(index=run.settings.event_archive_alias, size=50)["hits"]["hits"]
    assert sorted(h["_source"]["event_id"] for h in archived) == sorted(
        e["event_id"] for e in events
    )
    assert all("bank_code" not in h["_source"]["fields"] for h in archived)
    assert {h["_index"] for h in archived} == {
        day_index_name(run.settings.event_archive_alias, e["occurred_at"]) for e in events
    }


def test_a_fresh_group_publishes_each_lead_once_with_the_archive_on(run: Run) -> None:
    """The first roster load's retro-matching and the live path never both publish a lead."""
    write_world(run, people=2000, watchlist=300, events=3000, seed=29)
    expected = reprocess(run)
    run.tracer(
        "produce",
        "--roster",
        str(run.tmp / "roster.jsonl"),
        "--events",
        str(run.tmp / "events.jsonl"),
    )
    run.start_worker("worker")
    wait_until(lambda: drained(run, len(expected)), timeout=200, what="the leads")

    # The roster's offsets move only once its drop-outs were searched: all of them, here.
    roster = [run.topic("supervision.roster")]
    group = run.settings.consumer_group
    wait_until(
        lambda: consumer_lag(run.settings, group, roster) == 0, timeout=120, what="the searches"
    )
    assert "retro: " in run.log("worker")
    wait_until(lambda: lag(run) == 0, timeout=60, what="the leads indexed")
    published = [m.key for m in read_topic(run, "leads")]
    assert len(expected) > 20
    assert sorted(published) == sorted(k.encode() for k in expected)  # each once, none missing


def _reprocess(run: Run, roster: Path) -> dict[str, dict[str, Any]]:
    from tracer.commands.reprocess import reprocess as offline

    out = run.tmp / "offline.jsonl"
    offline(roster=roster, events=run.tmp / "events.jsonl", out=out, model=None)
    leads = [orjson.loads(line) for line in out.read_bytes().splitlines() if line.strip()]
    return {lead["lead_id"]: lead for lead in leads}


def test_retention_deletes_whole_old_day_indices_only(es: Elasticsearch, unique_name: str) -> None:
    alias = f"events-{unique_name}"
    now = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
    try:
        ensure_event_archive(es, alias)
        for days in (0, 30, 90, 91, 200):
            occurred = _ago(now, days)
            es.index(
                index=day_index_name(alias, occurred),
                document={"event_id": f"e{days}", "source": "bank", "occurred_at": occurred},
            )
        es.indices.refresh(index=alias)
        assert es.count(index=alias)["count"] == 5  # every day index joined the alias
        gone = delete_older_than(es, alias, 90, now=now)
        assert gone == [day_index_name(alias, _ago(now, d)) for d in (200, 91)]
        es.indices.refresh(index=alias)
        left = es.search(index=alias, size=10)["hits"]["hits"]
        assert sorted(h["_source"]["event_id"] for h in left) == ["e0", "e30", "e90"]
        assert delete_older_than(es, alias, 90, now=now) == []  # safe to run twice
    finally:
        drop_event_archive(es, alias)


async def test_the_archive_adapter_pages_and_writes_once(
    es: Elasticsearch, unique_name: str
) -> None:
    from connectors.event_archive import (
        ElasticsearchEventArchive,
        archive_document,
        roster_marks,
    )
    from matchers.leads import event_digest
    from matchers.records import event_from_raw

    alias = f"events-{unique_name}"
    now = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
    (person,) = IdentityFactory(random.Random(43)).people(1)
    docs = []
    for n, days in enumerate((1, 2, 3, 40, 41, 100)):
        raw = event_record(f"e{n}", person, "bank", occurred_at=_ago(now, days))
        docs.append(archive_document(event_from_raw(raw), raw, digest=event_digest(raw)))
    ensure_event_archive(es, alias)
    archive = ElasticsearchEventArchive.connect(TracerSettings(elasticsearch_url=ES_URL), alias)
    try:
        empty = [p async for p in archive.search(["x"], since=_ago(now, 90), page_size=2)]
        assert empty == []  # no day index yet: nothing, no error
        first = await archive.write(docs)
        again = await archive.write(docs)
        assert (first.created, again.created, again.present) == (6, 0, 6)
        await archive.refresh()
        keys = docs[0]["block_keys"]

        async def ids(**kw: Any) -> list[list[str]]:
            pages = archive.search(keys, since=_ago(now, 90), **kw)
            return [[d["event_id"] for d in page] async for page in pages]

        # Oldest first; within the window only; one page, or pages under a point in time.
        assert await ids(page_size=10) == [["e4", "e3", "e2", "e1", "e0"]]
        assert await ids(page_size=2) == [["e4", "e3"], ["e2", "e1"], ["e0"]]
        assert await ids(page_size=2, max_events=3) == [["e4", "e3"], ["e2"]]
        # The keys are searched, not stored; the roster marks filter on the real service.
        stored = es.search(index=alias, size=1)["hits"]["hits"][0]["_source"]
        assert "block_keys" not in stored and stored["fields"]
        marked = [
            d | {"event_id": f"m{d['event_id']}", "roster_seen": roster_marks({0: 9, 3: n})}
            for n, d in enumerate(docs)
        ]
        await archive.write(marked)
        await archive.refresh()
        # Record 2 of partition 3: events matched with it applied (next offset 3+) are out.
        (page,) = await ids(page_size=10, unseen=(3, 2))
        assert sorted(page) == sorted(["e0", "e1", "e2", "e3", "e4", "me0", "me1", "me2"])
        (page,) = await ids(page_size=10, unseen=(5, 0))  # nothing read of partition 5
        assert len(page) == 10
    finally:
        await archive.close()
        drop_event_archive(es, alias)


async def test_day_indices_made_before_a_field_was_mapped_get_it(
    es: Elasticsearch, unique_name: str
) -> None:
    """A day index made by an older template (no ``roster_seen``) filters on it once ensured.

    Without it a drop-out's search left no event out, and retro-matching published again every
    lead the live path had published (bench.alerts on the shared ``events`` alias: 905 of 909).
    """
    from connectors.event_archive import (
        ElasticsearchEventArchive,
        archive_document,
        archive_mappings,
        roster_marks,
    )
    from matchers.leads import event_digest
    from matchers.records import event_from_raw

    alias = f"events-{unique_name}"
    day = _ago(dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC), 1)
    (person,) = IdentityFactory(random.Random(47)).people(1)
    older = archive_mappings()
    del older["properties"]["roster_seen"]
    es.indices.create(index=day_index_name(alias, day), mappings=older, aliases={alias: {}})
    archive = ElasticsearchEventArchive.connect(TracerSettings(elasticsearch_url=ES_URL), alias)
    try:
        ensure_event_archive(es, alias)
        ensure_event_archive(es, alias)  # nothing left to add: no error
        # "before" was matched with roster partition 0 read up to offset 5, "after" up to 6.
        docs = []
        for n, name in enumerate(("before", "after")):
            raw = event_record(name, person, "bank", occurred_at=day)
            doc = archive_document(event_from_raw(raw), raw, digest=event_digest(raw))
            docs.append(doc | {"roster_seen": roster_marks({0: 5 + n})})
        await archive.write(docs)
        await archive.refresh()
        # The drop-out record at offset 5: only the event matched before it was applied.
        pages = archive.search(docs[0]["block_keys"], since=day, page_size=10, unseen=(0, 5))
        assert [[d["event_id"] for d in page] async for page in pages] == [["before"]]
    finally:
        await archive.close()
        drop_event_archive(es, alias)
