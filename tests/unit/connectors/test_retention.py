"""Retention planning, by value: which day indices are past their age, which topics get what."""

from __future__ import annotations

import datetime as dt

import pytest

from connectors.retention import day_indices_older_than, topic_retention
from contract import ALL_TOPICS, COMPACTED_TOPICS
from kibana.acls import AUDIT_TOPIC
from tracer.commands.retention import topic_days
from tracer.settings import TracerSettings

TODAY = dt.date(2026, 12, 7)


def test_day_indices_past_their_age() -> None:
    names = [
        "events-2026.11.06",  # 31 days: gone
        "events-2026.11.07",  # 30 days: gone (the day is whole past its age)
        "events-2026.11.08",  # 29 days: kept
        "events-2026.12.07",
        "events-template",
        "events-2026.02.30",  # not a date
        "leads-2020.01.01",  # another prefix
        "events-2026.1.1",
    ]
    old = day_indices_older_than(names, "events-", days=30, today=TODAY)
    assert old == ["events-2026.11.06", "events-2026.11.07"]


def test_a_second_pass_finds_nothing_more() -> None:
    names = ["events-2026.01.01", "events-2026.12.06"]
    old = day_indices_older_than(names, "events-", days=30, today=TODAY)
    left = [name for name in names if name not in old]
    assert day_indices_older_than(left, "events-", days=30, today=TODAY) == []


def test_topic_retention_in_ms_with_prefix() -> None:
    assert topic_retention({"feeds.bank": 7}, prefix="t.") == {"t.feeds.bank": 7 * 86_400_000}
    with pytest.raises(ValueError, match="at least one day"):
        topic_retention({"feeds.bank": 0})


def test_every_delete_policy_topic_has_an_explicit_retention() -> None:
    days = topic_days(TracerSettings(retention_feeds_days=3, retention_audit_days=400))
    deleting = set(ALL_TOPICS) - COMPACTED_TOPICS
    assert set(days) == deleting | {AUDIT_TOPIC}
    assert days["feeds.bank"] == 3 and days[AUDIT_TOPIC] == 400
