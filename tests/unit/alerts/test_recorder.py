"""One notification per (subscription, lead): the index decides, the topic follows."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import pytest

from alerts.notifications import build_notification, notification_id, one_line_reason
from alerts.recorder import AlertRecorder, InMemoryAlertLog
from connectors.errors import ServiceUnavailable
from connectors.retry import Retrier, RetryPolicy
from tests.unit.alerts.helpers import NOW, lead, subscription


class Topic:
    def __init__(self, failures: int = 0) -> None:
        self.messages: list[tuple[bytes, bytes]] = []
        self.failures = failures

    async def publish(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        if self.failures:
            self.failures -= 1
            raise ServiceUnavailable("broker away")
        self.messages += messages


async def _no_sleep(_s: float) -> None:
    return None


RETRIER = Retrier(RetryPolicy(base_s=0.01, cap_s=0.01), sleep=_no_sleep)


def _notes(*lead_ids: str) -> list[dict[str, object]]:
    sub = subscription()
    return [
        build_notification(sub, lead(i), review_url="http://r", created_at=NOW) for i in lead_ids
    ]


async def test_a_redelivered_batch_publishes_nothing_twice() -> None:
    log, topic = InMemoryAlertLog(), Topic()
    recorder = AlertRecorder(log, topic.publish, retrier=RETRIER)
    first = await recorder.record(_notes("l1", "l2"))
    again = await recorder.record(_notes("l1", "l2", "l3"))
    assert len(first) == 2
    assert [n["lead_id"] for n in again] == ["l3"]
    keys = [key for key, _ in topic.messages]
    assert len(keys) == len(set(keys)) == 3
    assert all(doc["published"] for doc in log.docs.values())


async def test_a_worker_dying_before_the_mark_gets_it_published_by_the_next() -> None:
    log, topic = InMemoryAlertLog(), Topic()
    notes = _notes("l1")
    await log.create([n | {"published": False} for n in notes])  # created, then the crash
    published = await AlertRecorder(log, topic.publish, retrier=RETRIER).record(notes)
    assert len(published) == 1
    assert topic.messages[0][0] == str(notes[0]["notification_id"]).encode()


async def test_kafka_away_is_retried_until_published() -> None:
    log, topic = InMemoryAlertLog(), Topic(failures=3)
    await AlertRecorder(log, topic.publish, retrier=RETRIER).record(_notes("l1"))
    assert len(topic.messages) == 1


def test_the_notification_id_is_of_the_pair() -> None:
    assert notification_id("s1", "l1") == notification_id("s1", "l1")
    assert (
        len({notification_id("s1", "l1"), notification_id("s2", "l1"), notification_id("s1", "l2")})
        == 3
    )


def test_a_notification_carries_no_full_number() -> None:
    note = _notes("l1")[0]
    text = orjson.dumps(note).decode()
    assert "460105199001017129" not in text
    assert "13812345678" not in text
    assert note["link"] == "http://r/leads/l1"
    assert set(note) >= {"lead_id", "tier", "score", "reason", "link"}
    assert "person_name" not in note


@pytest.mark.parametrize(
    "reason",
    ["id 460105199001017129\nagrees", "card 6222021234567890123 and 1234", "x" * 1000],
)
def test_the_reason_is_one_masked_line(reason: str) -> None:
    text = one_line_reason({"explanation": {"reason_en": reason}})
    assert "\n" not in text
    assert len(text) <= 240
    assert not any(run.isdigit() and len(run) >= 4 for run in text.replace("*", " ").split())
