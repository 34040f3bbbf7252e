"""The agents and background tasks of one worker: wiring, about twenty lines each.

Each stream yields batches: the records one fetch returned for one partition
(``streams/transport.py``). Faust acknowledges a batch when the agent asks for the next one (or,
with ``stream.take``, once the loop body returned), even when the agent raised; so nothing here
lets an exception out: :class:`~streams.pipeline.EventHandler` turns bad input into a dead
letter, and :class:`~streams.pipeline.LeadWriter` retries a bulk until Elasticsearch
acknowledged it. Kafka offsets advance only past events whose leads and dead letters were
published (Faust flushes the producer before each commit) and past leads that are written or
dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from matchers.native import is_active as matchers_compiled

from streams.app import Pipeline
from streams.pipeline import Outgoing, dead_letter_message, origin_of

__all__ = ["register_agents"]

log = logging.getLogger(__name__)


def register_agents(p: Pipeline) -> None:
    """Register the feed agent, the lead indexer agent and the roster tasks on ``p.app``."""

    async def follow_roster() -> None:
        await p.follower.run()

    async def close_leads() -> None:
        await p.watchlist.ready.wait()
        await p.closer.run()

    p.app.task(follow_roster)
    p.app.task(close_leads)

    @p.app.agent(p.feeds, name="tracer.match_feeds")
    async def match_feeds(stream: Any) -> None:
        await p.follower.caught_up.wait()  # never match against a partial watchlist
        p.watchlist.ready.set()
        log.info(
            "watchlist ready: %d people; matchers %s",
            len(p.watchlist),
            "compiled (mypyc)" if matchers_compiled() else "as Python (make compile: faster)",
        )
        async for records in stream:
            result = p.handle_events.batch(records)
            for lead in result.leads:
                await _send(p.leads, lead)
            for letter in result.dead_letters:
                await _send(p.deadletter, letter)
            await asyncio.sleep(0)  # matching is CPU work: let the indexer and fetcher run

    @p.app.agent(p.roster, name="tracer.dead_letter_roster")
    async def dead_letter_roster(stream: Any) -> None:
        # Inside the group: one owner per roster partition, so one dead letter per bad record.
        await p.follower.caught_up.wait()  # never hold an event (and a rebalance) for the load
        async for records in stream:
            for record in records:
                # The person's last valid record is kept first (streams/last_valid.py).
                reason = await p.keeper.verdict(record.partition, record.offset)
                if reason is not None:
                    p.stats.roster_dead_letters += 1
                    log.info(
                        "roster: dead letter for partition %d offset %d",
                        record.partition,
                        record.offset,
                    )
                    letter = dead_letter_message(
                        record.value, origin_of(record), reason=reason, stage="roster"
                    )
                    await _send(p.deadletter, letter)

    @p.app.agent(p.leads, name="tracer.index_leads")
    async def index_leads(stream: Any) -> None:
        # Up to bulk_max_actions batches or bulk_flush_seconds; written in bulks of at most
        # bulk_max_actions leads.
        async for batches in stream.take(p.bulk_max_actions, within=p.bulk_flush_seconds):
            records = [record for batch in batches for record in batch]
            for letter in await p.writer.write(records):
                await _send(p.deadletter, letter)

    async def report_stats() -> None:
        s = p.stats
        log.info(
            "stats: events=%d leads_emitted=%d created=%d present=%d closed_on_write=%d "
            "dead_letters=%d roster=%d roster_dead_letters=%d closed=%d handler_cpu_s=%.3f",
            s.events,
            s.leads_emitted,
            s.leads_created,
            s.leads_present,
            s.leads_closed_on_write,
            s.dead_letters,
            len(p.watchlist),
            s.roster_dead_letters,
            p.closer.closed,
            s.handler_cpu_s,
        )

    async def close_indexer(_app: Any, /, *_args: Any, signal: Any, **_kwargs: Any) -> None:
        await report_stats()  # the last figures (bench.e2e reads them)
        await p.indexer.close()

    p.app.timer(interval=30.0)(report_stats)
    p.app.on_before_shutdown.connect(close_indexer)


async def _send(topic: Any, message: Outgoing) -> None:
    """Publish, retrying for ever: raising here would let Faust acknowledge unsent events."""
    attempt = 0
    while True:
        try:
            await topic.send(key=message.key, value=message.value)
            return
        except Exception as exc:
            attempt += 1
            log.warning("publish failed (%s); retry %d", type(exc).__name__, attempt)
            await asyncio.sleep(min(10.0, 0.2 * 2**attempt))
