"""Typed records of the contract: valid messages round-trip, unknown fields are tolerated."""

import orjson
import pytest

from matchers.records import parse_event_bytes
from streams.records import BankEvent, HukouEvent, RosterRecord, TelecomEvent, feed_record


@pytest.mark.parametrize(
    ("record", "kind"),
    [
        (
            HukouEvent(
                event_id="h1",
                source="hukou",
                occurred_at="2026-11-29T08:00:00+08:00",
                change_type="move_in",
            ),
            HukouEvent,
        ),
        (
            BankEvent(
                event_id="b1",
                source="bank",
                occurred_at="2026-11-29T08:00:00+08:00",
                event_type="account_opened",
            ),
            BankEvent,
        ),
        (
            TelecomEvent(
                event_id="t1",
                source="telecom",
                occurred_at="2026-11-29T08:00:00+08:00",
                carrier="cm",
            ),
            TelecomEvent,
        ),
    ],
)
def test_feed_records_make_valid_messages_and_come_back(record, kind) -> None:
    data = record.dumps()
    parsed = parse_event_bytes(data, max_bytes=4096)  # what the feed agent accepts
    assert "__faust" not in parsed
    again = feed_record(parsed)
    assert isinstance(again, kind) and again == record


def test_unknown_fields_are_tolerated_and_unknown_sources_refused() -> None:
    event = feed_record({"event_id": "b", "source": "bank", "occurred_at": "x", "extra": 1})
    assert event.event_id == "b"
    with pytest.raises(KeyError):
        feed_record({"event_id": "f", "source": "fax", "occurred_at": "x"})


def test_roster_record_carries_the_contract_fields() -> None:
    record = RosterRecord(
        person_id="p1",
        name="张伟",
        status="dropped_out",
        status_changed_at="2026-11-01T00:00:00+08:00",
        phones=["13800000000"],
    )
    data = orjson.loads(record.dumps())
    assert data["person_id"] == "p1" and data["id_type"] == "cn_resident"
    assert RosterRecord.loads(record.dumps()) == record
