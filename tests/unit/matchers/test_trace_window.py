"""The trace window and the event digest: what makes a lead the same in the stream and offline.

A lead needs the event to have occurred at or after the person's trace began; the matcher
reports the pairs it left out for that, and the people it began to trace after it had matched
later events (``RosterChange.late``). Every lead carries the digest of its event.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from matchers.leads import event_digest
from matchers.scoring.modelfile import default_model
from matchers.watchlist.matcher import Matcher
from simulator.population import Identity, IdentityFactory
from tests.unit.matchers.test_matcher import event_record, roster_record


def _person() -> Identity:
    return IdentityFactory(random.Random(5)).people(1)[0]


def _matcher(person: Identity, changed_at: str) -> Matcher:
    matcher = Matcher(default_model())
    change = matcher.apply_roster(roster_record(1, person) | {"status_changed_at": changed_at})
    assert change.action == "upsert"
    return matcher


def test_an_event_before_the_trace_began_makes_no_lead_and_is_counted() -> None:
    person = _person()
    matcher = _matcher(person, "2026-02-01T10:00:00+08:00")
    before = matcher.match(
        event_record("e1", person, "bank", occurred_at="2026-02-01T09:59:59+08:00")
    )
    assert before.leads == () and before.before_trace == 1
    at = matcher.match(event_record("e2", person, "bank", occurred_at="2026-02-01T10:00:00+08:00"))
    assert len(at.leads) == 1 and at.before_trace == 0


def test_the_trace_window_compares_instants_not_strings() -> None:
    person = _person()
    # 10:00 at +08:00 is 02:00 UTC: an event at 01:30 UTC is before it, at 02:30 UTC after.
    matcher = _matcher(person, "2026-02-01T10:00:00+08:00")
    early = event_record("e1", person, "telecom", occurred_at="2026-02-01T01:30:00+00:00")
    late = event_record("e2", person, "telecom", occurred_at="2026-02-01T02:30:00+00:00")
    assert matcher.match(early).before_trace == 1
    assert len(matcher.match(late).leads) == 1


def test_a_person_traced_after_later_events_were_matched_is_reported_late() -> None:
    person, other = IdentityFactory(random.Random(6)).people(2)
    matcher = Matcher(default_model())
    assert not matcher.apply_roster(roster_record(1, person)).late  # nothing matched yet
    matcher.match(event_record("e1", other, "hukou", occurred_at="2026-03-01T00:00:00+08:00"))
    earlier = roster_record(2, other) | {"status_changed_at": "2026-02-28T00:00:00+08:00"}
    change = matcher.apply_roster(earlier)
    assert change.action == "upsert" and change.late
    # Traced already: an update is not a late start; nor is a trace that begins later.
    assert not matcher.apply_roster(earlier | {"phones": []}).late
    later = roster_record(3, person) | {"status_changed_at": "2026-03-02T00:00:00+08:00"}
    assert not matcher.apply_roster(later).late


def test_every_lead_carries_its_event_digest() -> None:
    person = _person()
    matcher = _matcher(person, "2026-01-01T00:00:00+08:00")
    raw = event_record("e1", person, "bank")
    (lead,) = matcher.match(raw).leads
    assert lead["event_digest"] == event_digest(raw)
    assert len(lead["event_digest"]) == 64
    (changed,) = matcher.match(raw | {"bank_code": "BOC"}).leads
    assert changed["lead_id"] == lead["lead_id"]
    assert changed["event_digest"] != lead["event_digest"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(), _JSON, max_size=6))
def test_the_digest_ignores_key_order_at_every_depth(raw: dict[str, Any]) -> None:
    def reverse(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reverse(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse(v) for v in value]
        return value

    assert event_digest(reverse(raw)) == event_digest(raw)
    assert event_digest(raw | {"\x00extra": 1}) != event_digest(raw)


def test_the_newest_event_is_the_latest_instant_whatever_the_offsets() -> None:
    people = IdentityFactory(random.Random(8)).people(3)
    matcher = Matcher(default_model())
    for n, occurred_at in enumerate(["2026-03-01T00:00:00+08:00", "2026-02-28T17:00:00+00:00"]):
        matcher.match(event_record(f"e{n}", people[0], "bank", occurred_at=occurred_at))
    # The newest is 17:00 UTC (written later in the text order of the other one: 16:00 UTC).
    before = roster_record(1, people[1]) | {"status_changed_at": "2026-02-28T16:30:00+00:00"}
    after = roster_record(2, people[2]) | {"status_changed_at": "2026-02-28T17:30:00+00:00"}
    assert matcher.apply_roster(before).late
    assert not matcher.apply_roster(after).late
