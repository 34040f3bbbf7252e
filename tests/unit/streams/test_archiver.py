"""The archive writer off the matching path: batched bulks, backpressure, held acknowledgements."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from connectors.errors import RetryGaveUp
from connectors.event_archive import ArchiveReport, InMemoryEventArchive
from streams.archiver import EventArchiver


def _doc(n: int) -> dict[str, Any]:
    return {
        "event_id": f"e{n}",
        "source": "bank",
        "occurred_at": "2026-12-01T00:00:00+00:00",
        "block_keys": [],
    }


class Gate(InMemoryEventArchive):
    """An archive whose writes wait for ``open``; records each bulk's size."""

    def __init__(self) -> None:
        super().__init__()
        self.open = asyncio.Event()
        self.sizes: list[int] = []
        self.fail_with: BaseException | None = None

    async def write(self, docs: Sequence[Any]) -> ArchiveReport:
        await self.open.wait()
        if self.fail_with is not None:
            raise self.fail_with
        self.sizes.append(len(docs))
        return await super().write(docs)


def _submit(archiver: EventArchiver, *numbers: int) -> int:
    archiver.pending += [_doc(n) for n in numbers]
    return archiver.submit()


async def test_batches_are_combined_into_bulks_and_acknowledged_once_written() -> None:
    gate = Gate()
    archiver = EventArchiver(gate, max_docs=5, positions={0: 7})
    acked: list[int] = []
    tickets = [_submit(archiver, 3 * t, 3 * t + 1, 3 * t + 2) for t in range(3)]
    for ticket in tickets:
        assert archiver.when_written(ticket, lambda t=ticket: acked.append(t)) == "pending"
    settled = asyncio.ensure_future(archiver.settled())
    writer = asyncio.ensure_future(archiver.flush())
    await asyncio.sleep(0.01)
    assert acked == [] and not settled.done()  # nothing acknowledged before Elasticsearch
    gate.open.set()
    await asyncio.wait_for(writer, 1)
    await asyncio.wait_for(settled, 1)
    assert gate.sizes == [3, 3, 3]  # whole batches, never past max_docs (3 + 3 > 5)
    assert acked == tickets
    stored = [d for index in gate.indices.values() for d in index.values()]
    assert len(stored) == 9 and all(d["roster_seen"] == [7] for d in stored)
    assert archiver.when_written(tickets[0], lambda: None) == "written"


async def test_small_batches_share_one_bulk() -> None:
    gate = Gate()
    gate.open.set()
    archiver = EventArchiver(gate, max_docs=100)
    for t in range(10):
        _submit(archiver, 2 * t, 2 * t + 1)
    await archiver.flush()
    assert gate.sizes == [20] and archiver.bulks == 1 and archiver.archived == 20


async def test_a_full_queue_makes_the_feed_wait_for_room() -> None:
    gate = Gate()
    archiver = EventArchiver(gate, max_docs=2, max_queued=3)
    _submit(archiver, 1, 2)
    assert archiver.room() is None  # 2 queued: room left
    _submit(archiver, 3, 4)
    room = archiver.room()
    assert room is not None  # 4 queued > 3: the feed agent waits
    waiting = asyncio.ensure_future(room)
    runner = asyncio.ensure_future(archiver.run())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    gate.open.set()
    try:
        await asyncio.wait_for(waiting, 1)
    finally:
        runner.cancel()


async def test_a_stop_leaves_every_unwritten_batch_unacknowledged() -> None:
    gate = Gate()
    gate.fail_with = RetryGaveUp("stopped", 3)
    archiver = EventArchiver(gate, max_docs=2)
    first = _submit(archiver, 1, 2)
    acked: list[int] = []
    assert archiver.when_written(first, lambda: acked.append(first)) == "pending"
    second = _submit(archiver, 3, 4)
    settled = asyncio.ensure_future(archiver.settled())
    gate.open.set()
    await asyncio.wait_for(archiver.run(), 1)  # the stop ends the writer
    await asyncio.wait_for(settled, 1)  # retro-matching is not left waiting
    assert acked == []
    # The feed agent asks about the second batch after the stop: it must not acknowledge it.
    assert archiver.when_written(second, lambda: acked.append(second)) == "failed"


async def test_a_failing_bulk_is_logged_and_the_writer_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = Gate()
    gate.open.set()
    gate.fail_with = KeyError("occurred_at")
    archiver = EventArchiver(gate, max_docs=2)
    bad = _submit(archiver, 1, 2)
    await archiver.flush()
    assert "a bulk failed" in caplog.text
    gate.fail_with = None
    good = _submit(archiver, 3, 4)
    await archiver.flush()
    assert archiver.when_written(bad, lambda: None) == "failed"
    assert archiver.when_written(good, lambda: None) == "written"
