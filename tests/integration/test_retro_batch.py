"""Drop-outs arriving together on the real stack: one search, each person exactly their leads.

A real ``tracer worker`` archives the events of people who are only ``active``; then they all
drop out in one roster produce. The worker searches the archive for them in batches (one
request per batch: each hit names the people it answers) and publishes each person's leads
once: exactly what ``tracer reprocess`` gives against the roster after the drop-outs. The
adapter's batch search is checked alone too, on the real service, against one search per
person.
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
    ElasticsearchEventArchive,
    PersonQuery,
    archive_document,
    drop_event_archive,
    ensure_event_archive,
    roster_marks,
)
from matchers.leads import event_digest
from matchers.records import event_from_raw
from simulator.population import IdentityFactory
from tests.integration.streaming import (
    ES_URL,
    Run,
    drained,
    indexed_leads,
    lag,
    read_topic,
    wait_until,
)
from tests.integration.test_retro import _ago, _write
from tests.unit.matchers.test_matcher import event_record, roster_record
from tracer.settings import TracerSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_drop_outs_together_each_get_exactly_their_leads_once(run: Run) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    people = IdentityFactory(random.Random(47)).people(5)
    long_ago = _ago(now, 400)
    active = [
        roster_record(n, p, status="active") | {"status_changed_at": long_ago}
        for n, p in enumerate(people, start=1)
    ]
    events = [
        event_record(f"{source[0]}-{n}-{days}", person, source, occurred_at=_ago(now, days))
        for n, person in enumerate(people, start=1)
        for source, days in (("bank", 20 + n), ("telecom", 3 + n), ("hukou", 120))
    ]
    run.tracer("produce", "--roster", str(_write(run.tmp / "roster.jsonl", active)))
    run.start_worker("worker")
    run.tracer("produce", "--events", str(_write(run.tmp / "events.jsonl", events)))
    wait_until(lambda: lag(run) == 0, timeout=120, what="the events matched")
    assert indexed_leads(run) == []  # nobody traced yet

    # All five drop out in one produce (the fifth twice); offline, the same against them.
    dropped = [r | {"status": "dropped_out", "status_changed_at": now.isoformat()} for r in active]
    again = dropped[4] | {"case_officer": "officer-2"}
    final = _write(run.tmp / "final.jsonl", dropped)
    expected = _reprocess(run, final)
    assert {lead["person_id"] for lead in expected.values()} == {r["person_id"] for r in active}
    assert len(expected) == 10  # two each: the 120-day-old event is beyond the window
    run.tracer("produce", "--roster", str(_write(run.tmp / "drop.jsonl", [*dropped, again])))
    wait_until(lambda: drained(run, len(expected)), timeout=90, what="the retro leads")
    wait_until(lambda: lag(run) == 0, timeout=60, what="the leads indexed")
    got = {doc["lead_id"]: doc for doc in indexed_leads(run)}
    assert set(got) == set(expected)
    for lead_id, doc in got.items():  # each person's own leads, as reprocess scores them
        assert (doc["person_id"], doc["score"]) == (
            expected[lead_id]["person_id"],
            expected[lead_id]["score"],
        )
    published = [m.key for m in read_topic(run, "leads")]
    assert sorted(published) == sorted(k.encode() for k in got)  # each once
    batches = [int(n) for n in re.findall(r"retro batch: people=(\d+)", run.log("worker"))]
    assert sum(batches) >= 5 and max(batches) > 1  # searched together, not one by one


def _reprocess(run: Run, roster: Path) -> dict[str, dict[str, Any]]:
    from tracer.commands.reprocess import reprocess as offline

    out = run.tmp / "offline.jsonl"
    offline(roster=roster, events=run.tmp / "events.jsonl", out=out, model=None)
    leads = [orjson.loads(line) for line in out.read_bytes().splitlines() if line.strip()]
    return {lead["lead_id"]: lead for lead in leads}


async def test_the_adapter_answers_a_batch_as_one_search_per_person(
    es: Elasticsearch, unique_name: str
) -> None:
    alias = f"events-{unique_name}"
    now = dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)
    one, two = IdentityFactory(random.Random(53)).people(2)
    docs = []
    for n, days in enumerate((1, 2, 5, 40, 100)):
        for person, tag in ((one, "a"), (two, "b")):
            raw = event_record(f"{tag}{n}", person, "bank", occurred_at=_ago(now, days))
            doc = archive_document(event_from_raw(raw), raw, digest=event_digest(raw))
            docs.append(doc | {"roster_seen": roster_marks({0: n})})
    # A shared event: both people's keys (one's id, two's phone).
    shared = event_record("ab", one, "bank", occurred_at=_ago(now, 3), phone=two.phone)
    docs.append(archive_document(event_from_raw(shared), shared, digest=event_digest(shared)))
    keys = {
        "one": tuple(docs[0]["block_keys"]),
        "two": tuple(docs[1]["block_keys"]),
    }
    queries = [
        PersonQuery("one", keys["one"], _ago(now, 90)),
        PersonQuery("two", keys["two"], _ago(now, 30), unseen=(0, 1)),  # matched before 2
    ]
    ensure_event_archive(es, alias)
    archive = ElasticsearchEventArchive.connect(TracerSettings(elasticsearch_url=ES_URL), alias)
    try:
        await archive.write(docs)
        await archive.refresh()
        for page_size in (100, 3):  # one plain search; pages under a point in time
            together: dict[str, list[str]] = {"one": [], "two": []}
            async for page in archive.search_people(queries, page_size=page_size):
                for doc, names in page:
                    for name in names:
                        together[name].append(doc["event_id"])
            alone = {}
            for q in queries:
                pages = archive.search(q.keys, since=q.since, unseen=q.unseen)
                alone[q.name] = [d["event_id"] async for page in pages for d in page]
            assert together == alone
        assert alone == {"one": ["a3", "a2", "ab", "a1", "a0"], "two": ["ab", "b1", "b0"]}
        # A write since the last refresh holds none of two's keys: two's search skips the
        # refresh (it cannot change the answer); one's refreshes, and finds it at once.
        late = event_record("a-late", one, "bank", occurred_at=_ago(now, 1))
        await archive.write([archive_document(event_from_raw(late), late, digest="x")])
        refreshes = archive.refreshes
        assert await archive.refresh(keys["two"]) is False
        assert archive.refreshes == refreshes
        assert await archive.refresh(keys["one"]) is True
        assert archive.refreshes == refreshes + 1
        (page,) = [p async for p in archive.search_people(queries[:1], page_size=100)]
        assert page[-1][0]["event_id"] == "a-late"
    finally:
        await archive.close()
        drop_event_archive(es, alias)
