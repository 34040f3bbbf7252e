"""The last valid roster state, kept durably: the watchlist's side and the keeper's."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from connectors.errors import RetryGaveUp, ServiceUnavailable
from connectors.kafka import RosterMessage
from connectors.retry import Retrier, RetryCounter
from streams.last_valid import LastValidKeeper
from streams.roster import RosterVerdict, Watchlist
from tests.unit.streams.fakes import FakeMatcher, roster

INVALID = b'{"person_id": "p1", "status": "bogus"}'


def message(value: bytes | None, offset: int, key: bytes = b"p1") -> RosterMessage:
    return RosterMessage(key, value, 2, offset, None)


@pytest.mark.parametrize("status", ["active", "dropped_out", "located", "closed"])
def test_status_and_last_valid_offset_share_one_int(status: str) -> None:
    watchlist = Watchlist(FakeMatcher())
    watchlist.apply(message(roster("p1", status), 123_456_789))
    assert watchlist.status_of("p1") == status
    watchlist.apply(message(INVALID, 123_456_790))
    assert watchlist.status_of("p1") == status


async def test_an_invalid_update_of_a_known_person_points_at_their_last_valid_record() -> None:
    watchlist = Watchlist(FakeMatcher())
    watchlist.apply(message(roster("p1"), 0))
    watchlist.apply(message(roster("p1", name="王芳"), 3))
    watchlist.apply(message(INVALID, 4))
    watchlist.apply(message(b"not json", 5, key=b"p7"))  # nobody known: nothing to keep
    assert await watchlist.verdicts.judge(2, 4) == RosterVerdict("status: invalid", "p1", 3)
    assert await watchlist.verdicts.judge(2, 5) == RosterVerdict("not_json", "p7", None)


async def test_after_compaction_the_kept_record_restores_the_person() -> None:
    matcher = FakeMatcher()
    watchlist = Watchlist(matcher)
    watchlist.on_fallback([message(roster("p1", name="王芳"), 0)])
    watchlist.apply(message(INVALID, 4))  # the roster's only record of p1 now
    assert watchlist.status_of("p1") == "dropped_out"
    assert matcher.people["p1"]["name"] == "王芳"
    assert watchlist.stats.restored == 1 and watchlist.stats.invalid == 1
    # Restored from the kept copy: nothing to keep again.
    assert await watchlist.verdicts.judge(2, 4) == RosterVerdict("status: invalid", "p1", None)


def test_a_valid_roster_record_supersedes_the_kept_one() -> None:
    matcher = FakeMatcher()
    watchlist = Watchlist(matcher)
    watchlist.on_fallback([message(roster("p1"), 0)])
    watchlist.apply(message(roster("p1", "located"), 5))
    watchlist.apply(message(INVALID, 6))
    assert watchlist.status_of("p1") == "located" and "p1" not in matcher.people
    assert watchlist.stats.restored == 0


def test_a_kept_record_alone_does_nothing_and_a_tombstone_there_forgets_it() -> None:
    watchlist = Watchlist(FakeMatcher())
    watchlist.on_fallback([message(roster("p1"), 0), message(roster("p2"), 1, key=b"p2")])
    watchlist.on_fallback([message(None, 2, key=b"p2")])
    assert watchlist.status_of("p1") is None  # no roster record of p1: not traced
    watchlist.apply(message(INVALID, 7, key=b"p2"))
    assert watchlist.status_of("p2") is None


class Roster:
    """The roster partition as the keeper reads it again, failing the first ``fail`` reads."""

    def __init__(
        self,
        records: dict[int, RosterMessage],
        fail: int = 0,
        refuse: list[BaseException] | None = None,
    ) -> None:
        self.records = records
        self.fail = fail
        self.refuse = refuse or []  # what the next publishes raise, in order
        self.published: list[tuple[bytes, bytes]] = []

    async def fetch(self, partition: int, offset: int) -> RosterMessage | None:
        assert partition == 2
        if self.fail:
            self.fail -= 1
            raise ServiceUnavailable("Kafka away")
        return self.records.get(offset)

    async def publish(self, key: bytes, value: bytes) -> None:
        if self.refuse:
            raise self.refuse.pop(0)
        self.published.append((key, value))


class Retries:
    """The worker's retrier as the keeper gets it: counted, its pauses recorded, not waited."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.failing: dict[str, float] = {}
        self.pauses: list[float] = []
        self.stop = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)

    def retrier(self) -> Retrier:
        counter = RetryCounter(self.counts, self.failing)
        return Retrier(stop=self.stop, observer=counter, sleep=self.sleep)


async def _keeper_after_invalid_update(
    kafka: Roster, retries: Retries | None = None
) -> tuple[LastValidKeeper, str | None]:
    watchlist = Watchlist(FakeMatcher())
    watchlist.apply(message(roster("p1"), 3))
    watchlist.apply(message(INVALID, 4))
    retrier = (retries or Retries()).retrier()
    keeper = LastValidKeeper(watchlist.verdicts, kafka.fetch, kafka.publish, retrier=retrier)
    return keeper, await keeper.verdict(2, 4)


async def test_keeper_publishes_the_last_valid_bytes_before_the_verdict() -> None:
    kafka = Roster({3: message(roster("p1"), 3)}, fail=2)
    retries = Retries()
    keeper, reason = await _keeper_after_invalid_update(kafka, retries)
    assert reason == "status: invalid"
    assert kafka.published == [(b"p1", roster("p1"))]
    assert (keeper.stats.kept, keeper.stats.lost) == (1, 0)
    assert retries.counts == {"roster": 2} and retries.failing == {}  # recovered
    assert len(retries.pauses) == 2 and max(retries.pauses) <= 0.4  # 0.2 s doubling, jittered


async def test_a_transient_publish_failure_is_retried() -> None:
    kafka = Roster({3: message(roster("p1"), 3)}, refuse=[KafkaTimeoutError()])
    retries = Retries()
    keeper, _ = await _keeper_after_invalid_update(kafka, retries)
    assert kafka.published == [(b"p1", roster("p1"))] and keeper.stats.kept == 1
    assert retries.counts == {"roster": 1}


async def test_a_publish_refused_for_good_is_not_retried_and_counted_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kafka = Roster({3: message(roster("p1"), 3)}, refuse=[MessageSizeTooLargeError()])
    retries = Retries()
    keeper, reason = await _keeper_after_invalid_update(kafka, retries)
    assert reason == "status: invalid"  # the invalid update is dead-lettered all the same
    assert kafka.published == [] and (keeper.stats.kept, keeper.stats.lost) == (0, 1)
    assert retries.counts == {}
    assert "refused (too_large)" in caplog.text and "p1" not in caplog.text


async def test_the_workers_stop_ends_the_retries() -> None:
    kafka = Roster({3: message(roster("p1"), 3)}, fail=10**6)
    retries = Retries()

    async def stop_in_the_pause(_seconds: float) -> None:
        retries.stop.set()  # SIGTERM while Kafka is away

    retries.sleep = stop_in_the_pause  # type: ignore[method-assign]
    with pytest.raises(RetryGaveUp) as caught:
        await _keeper_after_invalid_update(kafka, retries)
    assert caught.value.why == "stopped" and kafka.published == []


@pytest.mark.parametrize(
    "gone",
    [{}, {3: message(roster("p9"), 3, key=b"p9")}],
    ids=["compacted", "another key"],
)
async def test_keeper_counts_and_logs_a_record_already_gone(
    gone: dict[int, RosterMessage], caplog: pytest.LogCaptureFixture
) -> None:
    kafka = Roster(gone)
    keeper, reason = await _keeper_after_invalid_update(kafka)
    assert reason == "status: invalid" and kafka.published == []
    assert keeper.stats.lost == 1
    assert "not kept (1 so far)" in caplog.text and "p1" not in caplog.text


async def test_keeper_passes_valid_records_through() -> None:
    watchlist = Watchlist(FakeMatcher())
    watchlist.apply(message(roster("p1"), 0))
    kafka = Roster({})
    keeper = LastValidKeeper(watchlist.verdicts, kafka.fetch, kafka.publish)
    assert await keeper.verdict(2, 0) is None and kafka.published == []


async def test_keeper_keeps_nothing_after_a_deletion() -> None:
    kafka = Roster({3: message(None, 3)})
    watchlist = Watchlist(FakeMatcher())
    watchlist.apply(message(None, 3))  # a tombstone: the person was deleted
    watchlist.apply(message(INVALID, 4))
    keeper = LastValidKeeper(watchlist.verdicts, kafka.fetch, kafka.publish)
    assert await keeper.verdict(2, 4) == "status: invalid"
    assert kafka.published == [] and keeper.stats.lost == 0
