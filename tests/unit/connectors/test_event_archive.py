"""The event archive's pure parts: names, documents, the rebuilt event, retention; and its twin."""

from __future__ import annotations

import datetime as dt
import random

from connectors.event_archive import (
    InMemoryEventArchive,
    _seen,
    archive_document,
    archive_mappings,
    archived_keys,
    day_index_name,
    event_archive_template,
    expired_indices,
    key_digest,
    missing_fields,
    rebuild_event,
    roster_marks,
    unseen_by,
)
from matchers.leads import event_digest
from matchers.records import event_from_raw
from matchers.scoring.modelfile import default_model
from matchers.watchlist.blocking import event_block_keys
from matchers.watchlist.matcher import Matcher
from simulator.population import IdentityFactory
from tests.unit.matchers.test_matcher import event_record, roster_record


def _people(n: int, seed: int = 11):  # type: ignore[no-untyped-def]
    return IdentityFactory(random.Random(seed)).people(n)


def test_day_index_is_the_utc_day_of_occurred_at() -> None:
    assert day_index_name("events", "2026-12-07T07:59:59+08:00") == "events-2026.12.06"
    assert day_index_name("events", "2026-12-07T08:00:00+08:00") == "events-2026.12.07"
    assert day_index_name("ev", "2026-01-01T00:00:00+00:00") == "ev-2026.01.01"
    # Offsets of half hours and west of UTC, fractions, "Z", a year crossed either way.
    assert day_index_name("ev", "2026-01-01T05:29:59.9+05:30") == "ev-2025.12.31"
    assert day_index_name("ev", "2026-01-01T05:30:00+05:30") == "ev-2026.01.01"
    assert day_index_name("ev", "2026-12-31T21:00:00-03:00") == "ev-2027.01.01"
    assert day_index_name("ev", "2026-12-31T20:59:59-03:00") == "ev-2026.12.31"
    assert day_index_name("ev", "2028-02-29T23:59:59Z") == "ev-2028.02.29"


def test_a_document_keeps_matching_fields_only_and_hashed_keys() -> None:
    (person,) = _people(1)
    raw = event_record("e1", person, "bank", card_number="6222021234567890123")
    event = event_from_raw(raw)
    doc = archive_document(event, raw, digest=event_digest(raw))
    assert "card_number" not in doc["fields"] and "bank_code" not in doc["fields"]
    assert doc["fields"]["id_number"] == person.id_number  # what matching reads
    keys = event_block_keys(event)
    kept = {k for k in keys if not (k.startswith(("nm:", "nms:", "bd:")) and "|" not in k)}
    assert sorted(doc["block_keys"]) == sorted(key_digest(k) for k in kept)
    assert kept < keys  # a name alone (and a birthday without gender) is not archived
    text = str(doc["block_keys"])
    assert person.id_number[:17] not in text and person.phone[-8:] not in text
    # Only what is searched is indexed: the event id, time, keys and roster marks.
    assert archive_mappings()["_source"] == {"excludes": ["block_keys"]}  # searched, not read
    mapping = archive_mappings()["properties"]
    assert set(mapping) == {
        "event_id",
        "occurred_at",
        "block_keys",
        "roster_seen",
        "event_digest",
        "fields",
    }
    assert mapping["event_digest"]["index"] is False
    assert mapping["fields"] == {"type": "object", "enabled": False}
    assert mapping["block_keys"]["type"] == "keyword"
    # A day index made before a field was added gets that field, and only it.
    older = {k: {"type": "keyword"} for k in mapping if k != "roster_seen"}
    assert missing_fields(older) == {"roster_seen": mapping["roster_seen"]}
    assert missing_fields(mapping) == {}


def test_a_rebuilt_event_scores_as_the_live_one_flags_and_cleaned_text_included() -> None:
    person, other = _people(2)
    matcher = Matcher(default_model())
    matcher.apply_roster(roster_record(1, person))
    # A control character in the name and a card that fails its checksum: flags not rebuilt
    # from the fields must come back from the document.
    raw = event_record("e1", person, "bank", name=person.name + "\u202e", card_number="1234")
    live = matcher.match(raw)
    assert live.leads and "text_control_chars_removed" in live.flags
    doc = archive_document(event_from_raw(raw), raw, digest=event_digest(raw))
    again = matcher.rematch(rebuild_event(doc), digest=doc["event_digest"])
    assert again.leads == live.leads
    assert again.flags == live.flags
    assert rebuild_event(doc).flags == event_from_raw(raw).flags
    # An event about someone else rebuilds to no lead either.
    raw2 = event_record("e2", other, "telecom")
    doc2 = archive_document(event_from_raw(raw2), raw2, digest=event_digest(raw2))
    assert matcher.rematch(rebuild_event(doc2), digest="x").leads == matcher.match(raw2).leads


def test_expired_indices_are_whole_days_older_than_the_retention() -> None:
    now = dt.datetime(2026, 12, 7, 3, 0, tzinfo=dt.UTC)
    names = [
        "events-2026.09.07",  # 91 days ago: out
        "events-2026.09.08",  # exactly 90 days ago: kept
        "events-2026.12.07",
        "events-2025.01.01",
        "events-archive-template",  # not a day index: never chosen
        "eventsx-2020.01.01",  # another alias
        "events-2026.13.01",  # not a date
    ]
    assert expired_indices(names, "events", 90, now=now) == [
        "events-2025.01.01",
        "events-2026.09.07",
    ]
    assert expired_indices(names, "events", 1000, now=now) == []


def test_the_template_matches_day_indices_and_joins_the_alias() -> None:
    body = event_archive_template("events")
    assert body["template"]["aliases"] == {"events": {}}
    assert all(p.startswith("events-") for p in body["index_patterns"])


async def test_the_twin_writes_once_and_searches_by_key_and_window() -> None:
    person, other = _people(2)
    docs = []
    for i, (who, when) in enumerate(
        [
            (person, "2026-11-01T10:00:00+08:00"),
            (person, "2026-06-01T10:00:00+08:00"),
            (other, "2026-11-02T10:00:00+08:00"),
        ]
    ):
        raw = event_record(f"e{i}", who, "bank", occurred_at=when)
        docs.append(archive_document(event_from_raw(raw), raw, digest=event_digest(raw)))
    archive = InMemoryEventArchive()
    first = await archive.write(docs)
    again = await archive.write(docs)
    assert (first.created, first.present) == (3, 0)
    assert (again.created, again.present) == (0, 3)
    pages = [
        page
        async for page in archive.search(
            docs[0]["block_keys"], since="2026-10-01T00:00:00+00:00", page_size=10, max_events=99
        )
    ]
    assert [d["event_id"] for page in pages for d in page] == ["e0"]
    gone = await archive.delete_older_than(90, now=dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
    assert gone == ["events-2026.06.01"]
    assert await archive.delete_older_than(90, now=dt.datetime(2026, 12, 7, tzinfo=dt.UTC)) == []


def test_a_damaged_id_is_archived_under_its_first_and_last_four_digits() -> None:
    (person,) = _people(1, seed=12)
    good = person.id_number
    slipped = good[:8] + str((int(good[8]) + 1) % 10) + good[9:]  # one digit of the body
    event = event_from_raw(event_record("e1", person, "bank", id_number=slipped))
    keys = archived_keys(event, event_block_keys(event))
    assert f"idm4-4:{good[:4]}|{good[14:]}" in keys
    intact = event_from_raw(event_record("e2", person, "bank"))
    assert not any(k.startswith("idm") for k in archived_keys(intact, event_block_keys(intact)))


def test_roster_marks_tell_events_matched_before_a_record_from_those_after() -> None:
    # Matched with partition 1 read up to offset 7 (next: 7): record 7 not applied yet.
    before = roster_marks({0: 100, 1: 7})
    after = roster_marks({0: 100, 1: 8})
    assert not _seen(before, 1, 7) and _seen(after, 1, 7)
    assert not _seen(after, 2, 0)  # nothing read of partition 2: matched before, kept
    assert not _seen([], 1, 7)  # no stamp (bulk-loaded history): kept
    clause = unseen_by(1, 7)["bool"]["must_not"][0]["range"]["roster_seen"]
    assert clause["gt"] == (1 << 40) | 7 and clause["lt"] == 2 << 40
