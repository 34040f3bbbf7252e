"""Keep a person's last valid roster record when their update is invalid (durable roster).

The roster agent owns each roster partition once per group; before it dead-letters an invalid
update of a known person it calls :meth:`LastValidKeeper.verdict`, which copies the person's
last valid roster record, byte for byte, to ``tracer.roster.valid`` (compacted, keyed by
``person_id``). Compaction may later drop that record from the roster; a restarted worker then
finds it there (``streams/roster.py``). Publishing again after a crash is harmless: the topic
keeps the latest record per person, and the bytes are the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from connectors.kafka import RosterMessage

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
    #: to the invalid update): that person's state is not durable beyond this run.
    lost: int = 0
    retries: int = 0


class LastValidKeeper:
    """Persist the last valid record of each person whose roster update is invalid.

    Args:
        verdicts: This worker's verdicts on roster records (the follower's).
        fetch: Reads a roster record again (``KafkaRosterFollower.fetch``).
        publish: Sends to ``tracer.roster.valid``.
        max_pause_s: Longest pause between two tries while Kafka does not answer.
    """

    def __init__(
        self,
        verdicts: RosterVerdicts,
        fetch: Fetch,
        publish: Publish,
        *,
        max_pause_s: float = 10.0,
    ) -> None:
        self._verdicts = verdicts
        self._fetch = fetch
        self._publish = publish
        self._max_pause_s = max_pause_s
        self.stats = KeeperStats()

    async def verdict(self, partition: int, offset: int) -> str | None:
        """The reason the record is invalid (``None``: valid), its last valid record kept first.

        Retries while Kafka does not answer (with backoff, cancellable: never blocks shutdown);
        the offset of the roster agent does not move before this returns.
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
        attempt = 0
        while True:
            try:
                found = await self._fetch(partition, judged.last_valid_offset)
                if found is not None and found.key == key and found.value is None:
                    return  # the last valid record deleted the person: not traced either way
                if found is None or found.key != key or found.value is None:
                    self.stats.lost += 1
                    log.error(
                        "roster: the last valid record before partition %d offset %d is gone;"
                        " not kept (%d so far)",
                        partition,
                        judged.last_valid_offset,
                        self.stats.lost,
                    )
                    return
                await self._publish(key, found.value)
                self.stats.kept += 1
                return
            except Exception as exc:  # Kafka away, or a publish refused: try again later
                attempt += 1
                self.stats.retries += 1
                pause = min(self._max_pause_s, 0.2 * 2 ** min(attempt, 10))
                log.warning(
                    "roster: keeping a last valid record failed (%s); retry %d",
                    type(exc).__name__,
                    attempt,
                )
                await asyncio.sleep(pause)
