"""A tiny stand-in for matchers.watchlist.matcher.Matcher: same shapes, trivial matching by name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord


@dataclass(frozen=True)
class Change:
    person_id: str | None
    action: str
    status: str | None
    flags: tuple[str, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class Outcome:
    event_id: str
    leads: tuple[dict[str, Any], ...]
    flags: tuple[str, ...] = ()
    candidates_considered: int = 0


class FakeMatcher:
    def __init__(self) -> None:
        self.people: dict[str, Mapping[str, Any]] = {}
        self.explode_on: set[str] = set()
        self.frozen = 0

    def apply_roster(self, raw: Mapping[str, Any]) -> Change:
        person_id, status = raw.get("person_id"), raw.get("status")
        if not person_id or status not in ("active", "dropped_out", "located", "closed"):
            return Change(person_id, "invalid", None, (), "status: invalid")
        if status == "dropped_out":
            self.people[person_id] = raw
            return Change(person_id, "upsert", status)
        self.people.pop(person_id, None)
        return Change(person_id, "remove", status)

    def freeze(self) -> None:
        self.frozen += 1

    def match(self, raw: Mapping[str, Any], *, not_after: object = None) -> Outcome:
        if raw["event_id"] in self.explode_on:
            raise RuntimeError("boom")
        leads = tuple(
            {
                "lead_id": f"{pid}:{raw['event_id']}",
                "person_id": pid,
                "event_id": raw["event_id"],
                "source": raw["source"],
                "status": "new",
                "tier": "high",
                "score": 12.5,
            }
            for pid, person in sorted(self.people.items())
            if person.get("name") == raw.get("name")
        )
        return Outcome(raw["event_id"], leads)


def roster(person_id: str, status: str = "dropped_out", name: str = "张伟") -> bytes:
    return orjson.dumps(
        {
            "person_id": person_id,
            "name": name,
            "status": status,
            "status_changed_at": "2026-01-01T00:00:00+08:00",
        }
    )


def event(event_id: str, name: str = "张伟", source: str = "bank") -> bytes:
    return orjson.dumps(
        {
            "event_id": event_id,
            "source": source,
            "name": name,
            "occurred_at": "2026-01-02T10:00:00+08:00",
        }
    )


def record(
    value: bytes | None,
    *,
    topic: str = "feeds.bank",
    partition: int = 1,
    offset: int = 99,
    key: bytes | None = b"e1",
    timestamp: int = 1_700_000_000_000,
) -> ConsumerRecord[bytes, bytes]:
    """A record as aiokafka hands it to the worker."""
    return ConsumerRecord(
        topic, partition, offset, timestamp, 0, key, value, None, len(key or b""), 0, []
    )
