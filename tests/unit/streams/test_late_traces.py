"""A person traced after this worker matched later events is counted and logged, never silent."""

from __future__ import annotations

import logging
import random

import orjson
import pytest

from connectors.kafka import RosterMessage
from matchers.records import parse_event_bytes
from matchers.scoring.modelfile import default_model
from matchers.watchlist.matcher import Matcher
from simulator.population import IdentityFactory
from streams.pipeline import EventHandler
from streams.roster import Watchlist
from tests.unit.matchers.test_matcher import event_record, roster_record
from tests.unit.streams.fakes import record


async def test_late_trace_is_counted_and_early_events_are_counted_not_matched(
    caplog: pytest.LogCaptureFixture,
) -> None:
    person, other = IdentityFactory(random.Random(11)).people(2)
    matcher = Matcher(default_model())
    watchlist = Watchlist(matcher)
    handle = EventHandler(matcher, parse_event_bytes, max_bytes=65536)
    noon = "2026-03-01T12:00:00+08:00"
    await watchlist.on_roster(
        [
            RosterMessage(
                b"p1",
                orjson.dumps(roster_record(1, person) | {"status_changed_at": noon}),
                0,
                0,
                None,
            )
        ]
    )
    early = event_record("e1", person, "bank", occurred_at="2026-03-01T11:00:00+08:00")
    result = handle(record(orjson.dumps(early)))
    assert result.leads == () and handle.stats.matches_before_trace == 1
    watchlist.ready.set()
    late = roster_record(2, other) | {"status_changed_at": "2026-03-01T10:00:00+08:00"}
    with caplog.at_level(logging.INFO):
        await watchlist.on_roster([RosterMessage(b"p2", orjson.dumps(late), 0, 1, None)])
    assert watchlist.stats.late_traces == 1
    assert "need retro-matching (1 people so far)" in caplog.text
    assert "roster: 1 records applied" in caplog.text
    assert "p00002" not in caplog.text  # no person id in the log
