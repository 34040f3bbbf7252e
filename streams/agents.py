"""The agents and background tasks of one worker: wiring, about twenty lines each.

Each stream yields batches: the records one fetch returned for one partition
(``streams/transport.py``). Faust acknowledges a batch when the agent asks for the next one (or,
with ``stream.take_events``, once the loop body returned), even when the agent raised; so
nothing here lets an exception out: :class:`~streams.pipeline.EventHandler` turns bad input into
a dead letter, :class:`~streams.publisher.Publisher` waits until the broker acknowledged every
lead and dead letter (a message Kafka refuses for good becomes a bounded dead-letter stub), and
:class:`~streams.lead_writer.LeadWriter` retries a bulk until Elasticsearch acknowledged it. Kafka
offsets advance only past events whose leads and dead letters were acknowledged and past leads
that are written or dead-lettered.

Stopping (:func:`request_stop`, on SIGTERM / SIGINT): every retry loop gives up at once
(:class:`~connectors.errors.RetryGaveUp`), and the agent marks the batch it was working on as
settled without acknowledging it (:func:`_keep_uncommitted`): Faust's shutdown no longer waits
for it, and its offsets are not committed, so it is read again after the restart. Batches
still buffered are settled the same way without being matched. What the producer still holds
of those batches is failed (:func:`_release_producer`), or Faust's final commit would wait for
it: its flush waits for every buffered message, up to ``producer_request_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any

from connectors.errors import RetryGaveUp
from connectors.retry import until_stopped
from matchers.native import is_active as matchers_compiled

from streams.archiver import EventArchiver
from streams.parts import Pipeline
from streams.pipeline import (
    LOOP_SLICE_SECONDS,
    LOOP_STEP_EVENTS,
    Outgoing,
    dead_letter_message,
    origin_of,
)
from streams.retro import retro_after_roster

__all__ = ["register_agents", "request_stop"]

log = logging.getLogger(__name__)


def register_agents(p: Pipeline) -> None:
    """Register the feed agent, the lead indexer agent and the roster tasks on ``p.app``."""

    async def follow_roster() -> None:
        await p.follower.run()

    async def close_leads() -> None:
        await p.watchlist.ready.wait()
        await p.closer.run()

    async def stop_with_the_app() -> None:
        # Faust stopping for another reason than a signal (a crash): the retries end too.
        await p.app.wait_until_stopped()
        request_stop(p)

    p.app.task(follow_roster)
    p.app.task(close_leads)
    p.app.task(stop_with_the_app)
    _register_retro(p)

    @p.app.agent(p.feeds, name="tracer.match_feeds")
    async def match_feeds(stream: Any) -> None:
        await p.follower.caught_up.wait()  # never match against a partial watchlist
        p.watchlist.mark_ready()  # frozen: full collections no longer walk the watchlist
        log.info(
            "watchlist ready: %d people; matchers %s",
            len(p.watchlist),
            "compiled (mypyc)" if matchers_compiled() else "as Python (make compile: faster)",
        )
        async for records in stream:
            event = stream.current_event
            await _settle(p, [event], partial(_match, p, records, event))
            await asyncio.sleep(0)  # matching is CPU work: let the indexer and fetcher run

    @p.app.agent(p.roster, name="tracer.dead_letter_roster")
    async def dead_letter_roster(stream: Any) -> None:
        # Inside the group: one owner per roster partition, so one dead letter per bad record.
        await p.follower.caught_up.wait()  # never hold an event (and a rebalance) for the load
        async for records in stream:
            event = stream.current_event
            await _settle(p, [event], partial(_roster_verdicts, p, records, event))

    @p.app.agent(p.leads, name="tracer.index_leads")
    async def index_leads(stream: Any) -> None:
        # Up to bulk_max_actions batches or bulk_flush_seconds; written in bulks of at most
        # bulk_max_actions leads.
        async for events in stream.take_events(p.bulk_max_actions, within=p.bulk_flush_seconds):
            records = [record for event in events for record in event.value]
            await _settle(p, events, partial(_index, p, records))

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
        if p.archiver is not None:
            await p.archiver.archive.close()

    p.app.timer(interval=30.0)(report_stats)
    p.app.on_before_shutdown.connect(close_indexer)


# Matching takes turns with the rest of the worker by time (streams.pipeline.LOOP_SLICE_SECONDS).
MATCH_SLICE_SECONDS = LOOP_SLICE_SECONDS
MATCH_STEP_EVENTS = LOOP_STEP_EVENTS


async def _match(p: Pipeline, records: Iterable[Any], event: Any) -> None:
    records = list(records)
    leads: list[Outgoing] = []
    dead: list[Outgoing] = []
    tickets: list[int] = []
    since = time.perf_counter()
    for start in range(0, len(records), MATCH_STEP_EVENTS):
        result = p.handle_events.batch(records[start : start + MATCH_STEP_EVENTS])
        leads += result.leads
        dead += result.dead_letters
        last = start + MATCH_STEP_EVENTS >= len(records)
        if not last and time.perf_counter() - since < MATCH_SLICE_SECONDS:
            continue
        if p.archiver is not None:
            # The slice's archive documents are queued before the await: the roster position
            # they record is the one they were matched with (streams/archiver.py).
            tickets.append(p.archiver.submit())
        if not last:
            await asyncio.sleep(0)  # matching is CPU work: let the rest of the worker run
            since = time.perf_counter()
    await p.publisher.publish(p.leads, leads, role="leads")
    await p.publisher.publish(p.deadletter, dead, role="deadletter")
    if p.archiver is not None and tickets:
        _hold_ack(p, p.archiver, tickets, event)
        room = p.archiver.room()
        if room is not None:  # backpressure: the archive is that far behind
            await room


def _hold_ack(p: Pipeline, archiver: EventArchiver, tickets: list[int], event: Any) -> None:
    """Keep the batch's acknowledgement back until the archive documents of every slice are in.

    The stream acknowledges the batch when the agent asks for the next one; marked ``acked``
    now, that does nothing (as :func:`_keep_uncommitted`), and the writer acknowledges it
    through the consumer once the last of its slices' bulks is in -- unless a rebalance or a
    stop came in between, or a slice's bulk failed: then the batch stays uncommitted and is
    read again (create-only documents).
    """
    message = getattr(event, "message", None)
    if message is None:
        return
    generation = getattr(message, "generation_id", None)
    waiting = len(tickets)

    def one_written() -> None:
        nonlocal waiting
        waiting -= 1
        if waiting or p.stopping.is_set():
            return
        if generation != getattr(p.app, "consumer_generation_id", None):
            return
        message.acked = False
        p.app.consumer.ack(message)

    # A "written" ticket calls nothing back; a "failed" one never will, so the count never
    # reaches zero and the batch is never acknowledged.
    states = [archiver.when_written(ticket, one_written) for ticket in tickets]
    waiting -= states.count("written")
    if waiting:
        message.acked = True  # pending: the writer acknowledges; failed: read again later


async def _roster_verdicts(p: Pipeline, records: Iterable[Any], event: Any) -> None:
    letters = []
    valid = []
    for record in records:
        # The person's last valid record is kept first (streams/last_valid.py).
        reason = await p.keeper.verdict(record.partition, record.offset)
        if reason is None:
            valid.append((record.partition, record.offset, record.value))
        else:
            p.stats.count_dead_letter(reason, stage="roster")
            log.info(
                "roster: dead letter for partition %d offset %d", record.partition, record.offset
            )
            letters.append(
                dead_letter_message(
                    record.value,
                    origin_of(record),
                    reason=reason,
                    stage="roster",
                    max_bytes=p.max_dead_letter_bytes,
                )
            )
    await p.publisher.publish(p.deadletter, letters, role="deadletter")
    if p.retro is not None:  # new drop-outs: their history, before the offsets move
        searched = await retro_after_roster(p.retro, valid, p.stopping)
        if searched is not None:  # read on meanwhile: the next drop-outs join the queue
            _hold_ack_until(p, event, searched)


def _hold_ack_until(p: Pipeline, event: Any, work: asyncio.Future[None]) -> None:
    """Keep the roster batch's acknowledgement back until ``work`` (its retro searches) ends.

    As :func:`_hold_ack` does for the archive: marked ``acked`` now, the stream's own ack does
    nothing, and ``work``'s end acknowledges it through the consumer -- unless it failed or
    was stopped, or a rebalance came in between: then the batch is read again.
    """
    message = getattr(event, "message", None)
    if message is None:
        return
    generation = getattr(message, "generation_id", None)
    message.acked = True

    def done(finished: asyncio.Future[None]) -> None:
        if finished.cancelled() or finished.exception() is not None or p.stopping.is_set():
            return
        if generation != getattr(p.app, "consumer_generation_id", None):
            return
        message.acked = False
        p.app.consumer.ack(message)

    work.add_done_callback(done)


def _register_retro(p: Pipeline) -> None:
    """Register retro-matching's loops and the archive's retention timer (streams/retro.py)."""
    retro, archiver = p.retro, p.archiver
    if retro is None or archiver is None:
        return

    async def retro_match() -> None:
        await p.watchlist.ready.wait()
        await retro.run()

    async def write_archive() -> None:
        await archiver.run()

    async def archive_retention() -> None:
        try:
            gone = await archiver.archive.delete_older_than(p.archive_retention_days)
        except Exception:  # the next round tries again
            log.exception("event archive: retention failed")
            return
        if gone:
            log.info("event archive: %d day indices past retention deleted", len(gone))

    p.app.task(retro_match)
    p.app.task(write_archive)
    p.app.timer(interval=3600.0)(archive_retention)


async def _index(p: Pipeline, records: list[Any]) -> None:
    letters = await p.writer.write(records)
    await p.publisher.publish(p.deadletter, letters, role="deadletter")


async def _settle(p: Pipeline, events: list[Any], work: Callable[[], Awaitable[None]]) -> None:
    """Run ``work()`` for the batch of ``events``; if the worker stops, leave it uncommitted.

    The work is cancelled as soon as the stop is requested, wherever it waits (a publish, a
    bulk, the roster follower's verdict). Work that fails unexpectedly (nothing here raises by
    design) leaves its batch uncommitted too: the partition's commits stop there, its lag
    shows it, and a restart reads the batch again -- rather than Faust acknowledging it.
    """
    if not p.stopping.is_set():
        try:
            await until_stopped(work(), p.stopping)
            return
        except RetryGaveUp:
            log.info("stopping: a batch in progress will be read again after the restart")
        except Exception:  # a bug: Faust would acknowledge the batch anyway, losing it
            log.exception("a batch failed; it stays uncommitted and is read again at restart")
    for event in events:
        _keep_uncommitted(event)


def _keep_uncommitted(event: Any) -> None:
    """Settle ``event`` for Faust's shutdown without acknowledging it (faust-streaming 0.15).

    Faust commits an offset once ``Consumer.ack`` recorded it, and its shutdown waits until
    every delivered message is ``acked``. Marking the message ``acked`` directly, without
    ``Consumer.ack``, ends that wait and keeps the offset out of every commit (the stream's own
    ack later finds it acked and does nothing): the batch is read again after the restart.
    """
    message = getattr(event, "message", None)
    if message is not None:
        message.acked = True


def request_stop(p: Pipeline) -> None:
    """Begin stopping: every retry loop gives up, and what the producer holds is failed.

    Called on SIGTERM / SIGINT, before Faust's own shutdown (``tracer worker``).
    """
    if p.stopping.is_set():
        return
    p.stopping.set()
    _release_producer(p.app)


def _release_producer(app: Any) -> None:
    """Fail the messages aiokafka still buffers, so Faust's flush before its commit returns.

    Only messages of batches given up on can be there (every publish waits for its
    acknowledgements), and those batches are not committed: they are published again after the
    restart (lead ids make that idempotent). Reaches into faust-streaming 0.15 / aiokafka 0.14.
    """
    producer = getattr(getattr(app, "_producer", None), "_producer", None)
    accumulator = getattr(producer, "_message_accumulator", None)
    if accumulator is not None:
        accumulator.fail_all(RetryGaveUp("stopped", 0))
