"""Keep a person's last valid roster record when their update is invalid (durable roster).

The roster agent owns each roster partition once per group; before it dead-letters an invalid
update of a known person it calls :meth:`LastValidKeeper.verdict`, which copies the person's
last valid roster record, byte for byte, to ``tracer.roster.valid`` (compacted, keyed by
``person_id``). Compaction may later drop that record from the roster; a restarted worker then
finds it there (``streams/roster.py``). Publishing again after a crash is harmless: the topic
keeps the latest record per person, and the bytes are the same.

While Kafka does not answer, keeping is retried through the worker's
:class:`~connectors.retry.Retrier` (counted as ``roster``; the worker's stop ends it with
:class:`~connectors.errors.RetryGaveUp`, and the roster agent's batch stays uncommitted). A
publish Kafka refuses for good (:func:`~connectors.errors.kafka_publish_error`) is not retried:
the record is counted as not kept (``lost``), and the invalid update is still dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from connectors.errors import PublishRejected, kafka_publish_error
from connectors.kafka import RosterMessage
from connectors.retry import Retrier

from streams.roster import RosterVerdict, RosterVerdicts

__all__ = ["KeeperStats", "LastValidKeeper"]

log = logging.getLogger(__name__)

#: Reads the roster record at (partition, offset) again; ``None`` when it is gone.
Fetch = Callable[[int, int], Awaitable[RosterMessage | None]]
#: Publishes (key, value) to ``tracer.roster.valid``; raises when it could not.
Publish = Callable[[bytes, bytes], Awaitable[object]]


@dataclass
class KeeperStats:
    """What the keeper did."""

    kept: int = 0
    #: The last valid record was already gone from the roster (compacted before the agent got
    #: to the invalid update), or Kafka refused it for good: that person's state is not
    #: durable beyond this run.
    lost: int = 0


class LastValidKeeper:
    """Persist the last valid record of each person whose roster update is invalid.

    Args:
        verdicts: This worker's verdicts on roster records (the follower's).
        fetch: Reads a roster record again (``KafkaRosterFollower.fetch``).
        publish: Sends to ``tracer.roster.valid``.
        retrier: The worker's retrier (backoff, ``roster`` counters, the stop event).
    """

    def __init__(
        self,
        verdicts: RosterVerdicts,
        fetch: Fetch,
        publish: Publish,
        *,
        retrier: Retrier | None = None,
    ) -> None:
        self._verdicts = verdicts
        self._fetch = fetch
        self._publish = publish
        self._retrier = retrier or Retrier()
        self.stats = KeeperStats()

    async def verdict(self, partition: int, offset: int) -> str | None:
        """The reason the record is invalid (``None``: valid), its last valid record kept first.

        Retries while Kafka does not answer (with backoff, cancellable: never blocks shutdown);
        the offset of the roster agent does not move before this returns.

        Raises:
            RetryGaveUp: The worker is stopping (the record is judged again after the restart).
        """
        judged = await self._verdicts.judge(partition, offset)
        if judged is None:
            return None
        if judged.person_id is not None and judged.last_valid_offset is not None:
            await self._keep(partition, judged)
        return judged.reason

    async def _keep(self, partition: int, judged: RosterVerdict) -> None:
        assert judged.person_id is not None and judged.last_valid_offset is not None
        key = judged.person_id.encode()
        offset = judged.last_valid_offset

        async def attempt() -> None:
            found = await self._fetch(partition, offset)  # ServiceUnavailable: tried again
            if found is not None and found.key == key and found.value is None:
                return  # the last valid record deleted the person: not traced either way
            if found is None or found.key != key or found.value is None:
                self._lost(partition, offset, "is gone")
                return
            try:
                await self._publish(key, found.value)
            except Exception as exc:  # translated: transient ones retried, the rest final
                raise kafka_publish_error(exc) from exc
            self.stats.kept += 1

        try:
            await self._retrier.call(attempt, kind="roster")
        except PublishRejected as exc:
            self._lost(partition, offset, f"was refused ({exc.reason})")

    def _lost(self, partition: int, offset: int, why: str) -> None:
        self.stats.lost += 1
        log.error(
            "roster: the last valid record at partition %d offset %d %s; not kept (%d so far)",
            partition,
            offset,
            why,
            self.stats.lost,
        )
