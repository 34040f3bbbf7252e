"""Cheaper per-message paths through Faust: batch delivery, and raw-bytes topics.

Faust turns every fetched record into a ``ConsumerMessage`` and passes it, one by one, through
the topic conductor (flow control, producer back-pressure, decode, queue), the stream iterator
(sensors, generation check, acknowledgement) and the consumer's ack bookkeeping: about 60 us of
CPU an event, a third of the worker's. The pipeline's agents work on batches anyway, so
:class:`FastFetchConsumer` delivers the records one fetch returned for one partition as a single
:class:`BatchMessage`, whose value is the tuple of records (aiokafka's ``ConsumerRecord``:
``topic``, ``partition``, ``offset``, ``timestamp`` in ms, ``key``, ``value``). Everything Faust
does per message now happens once a batch, with Faust's own semantics:

* a batch is acknowledged, under its last offset, when the agent is done with it (the stream
  acks it when it asks for the next one); the offsets before are a gap in Faust's terms, done
  once that last offset is, so the commit moves past a batch only once all of it was handled;
* a batch fetched before a rebalance is skipped by the stream (old generation) and read again;
* the channel buffers hold batches (``stream_buffer_maxsize`` counts batches), and a full
  buffer pauses fetching of the partition, as before.

Delivery is direct while the flow is active; only while a rebalance suspends the flow does it
race the delivery against the suspension (Faust's ``wait_first``, two tasks a message).
A delivery that blocks and then meets a rebalance completes once Faust clears the buffers or
resumes the flow; the stream skips it as a message of an old generation (never acknowledged,
so read again), and the consumer does not record it as read.

:class:`FastFetchConsumerThread` asks Kafka to hold a fetch without new data for at most
:data:`FETCH_MAX_WAIT_MS` (see there).

Raw topics: every topic of the pipeline carries bytes the agents parse themselves, so
:class:`RawBytes` makes the event straight from the message instead of passing key and value
through Faust's serializer registry (the raw codec returns them unchanged anyway).

Undecodable batches: a record batch aiokafka cannot decode (CRC mismatch, a codec without its
library, a corrupt payload, a header key that is not UTF-8) would raise out of the fetch and stop
the worker. The consumer thread guards its fetcher (``connectors.batch_guard``), which hands such
a batch on as an ``UndecodableBatch`` marker; the consumer publishes a dead letter stub for it
(reason ``undecodable_record``, topic, partition, first offset, the last one and the error's
class in ``detail``; no payload), waits until Kafka has it, then counts the offsets as handled
(a gap up to the last one, acknowledged) and goes on. The other partitions of the fetch are
delivered as usual. While Kafka refuses the dead letter, it is retried through the worker's
:class:`~connectors.retry.Retrier` (counted as ``publish``) until the worker stops; then the
offsets are not acknowledged and are read again after the restart. Every failure is retried,
permanent ones too: the partition's offsets wait for this letter, and a stub of a few hundred
bytes refused for good means a missing dead-letter topic or a missing permission, which an
operator fixes while the worker waits (and its health reports ``publish`` failing).

Use: ``install_fast_fetch(app, deadletter_topic=..., retrier=...)`` right after building the
app, before it starts, and
``app.topic(name, schema=RawBytes())``; agents iterate batches (``async for records in stream``).

It overrides private methods of faust-streaming and reaches into aiokafka's (as do
``connectors/batch_guard.py`` and ``streams/agents.py``): :data:`TESTED_VERSIONS` states the
releases they were written and tested against (``tests/integration/test_transport_broker.py``
drives every override on the real broker), pyproject.toml pins them, and
:func:`require_tested_versions` refuses to start on any other (``tracer worker`` exits with
one line), rather than run private code paths nobody tested.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Final, cast

import faust
from connectors.batch_guard import UNDECODABLE_REASON, UndecodableBatch, guard_fetcher
from connectors.deadletter import MessageOrigin, build_dead_letter, encode_dead_letter
from connectors.errors import RetryGaveUp, kafka_publish_error
from connectors.retry import Retrier, RetryPolicy
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerMessage
from matchers.errors import TracerError

from streams.pipeline import FetchedRecord, PipelineStats

__all__ = [
    "TESTED_VERSIONS",
    "BatchMessage",
    "FastFetchConsumer",
    "FastFetchTransport",
    "RawBytes",
    "UndecodableMessage",
    "UntestedVersion",
    "install_fast_fetch",
    "require_tested_versions",
]

log = logging.getLogger(__name__)


#: The only releases whose private methods this module overrides (and whose internals
#: connectors/batch_guard.py and streams/agents.py reach into) that were tested; stated once
#: here, pinned in pyproject.toml (a unit test holds the two together).
TESTED_VERSIONS: Final[Mapping[str, str]] = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0"}


class UntestedVersion(TracerError):
    """An installed faust-streaming or aiokafka is not the release the overrides were tested on."""


def require_tested_versions(version_of: Callable[[str], str] = metadata.version) -> None:
    """Refuse to go on unless every package of :data:`TESTED_VERSIONS` is that release.

    Raises:
        UntestedVersion: one line naming what is installed and what was tested.
    """
    for package, tested in TESTED_VERSIONS.items():
        try:
            installed = version_of(package)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != tested:
            raise UntestedVersion(
                f"{package} {installed} is untested: streams/transport.py overrides private "
                f"methods of faust-streaming {TESTED_VERSIONS['faust-streaming']} / aiokafka "
                f"{TESTED_VERSIONS['aiokafka']}; install those (pip install -e .)"
            )


#: Longest time Kafka holds a fetch that finds no new data (Faust hard-codes 1500 ms). aiokafka
#: keeps one fetch in flight per broker and refetches a partition only once its records are
#: consumed: a fetch of only the leads partitions, made while the feeds still had records, could
#: hold the drained feeds back for 1.5 s -- and no lead comes while the matcher has no events.
#: The worker then idled ~0.3 s every ~2 s (bench.e2e, 128 KiB fetches). An idle worker now
#: asks ten times a second instead of once in 1.5 s.
FETCH_MAX_WAIT_MS = 100


class BatchMessage(ConsumerMessage):
    """The records of one partition from one fetch, as one Faust message.

    ``value`` is the tuple of records, ``offset`` the offset of the last one (what Faust
    compares, records as read and reports) and ``first_offset`` that of the first one.
    """

    __slots__ = ("first_offset",)

    def __init__(self, tp: TP, records: Sequence[FetchedRecord], *, generation_id: int) -> None:
        last = records[-1]
        timestamp = last.timestamp
        super().__init__(
            tp.topic,
            tp.partition,
            last.offset,
            cast(float, None) if timestamp is None else timestamp / 1000.0,
            0,
            None,
            None,
            cast(Any, tuple(records)),
            None,
            serialized_key_size=0,
            serialized_value_size=len(records),
            tp=tp,
            generation_id=generation_id,
        )
        self.first_offset = records[0].offset

    def records(self) -> tuple[FetchedRecord, ...]:
        """Return the records of the batch."""
        return cast(tuple[FetchedRecord, ...], self.value)

    def from_offset(self, offset: int) -> BatchMessage | None:
        """Return the batch without its records before ``offset`` (``None``: nothing left)."""
        kept = [record for record in self.records() if record.offset >= offset]
        if not kept:
            return None
        return BatchMessage(self.tp, kept, generation_id=cast(int, self.generation_id))


@dataclass(frozen=True, slots=True)
class UndecodableMessage:
    """An undecodable batch of one partition, as fetched in a consumer generation."""

    tp: TP
    batch: UndecodableBatch
    generation_id: int


#: Longest pause between two tries of an undecodable batch's dead letter while Kafka refuses it
#: (the retrier of a transport installed without the worker's).
DEAD_LETTER_RETRY_MAX_S = 5.0


class FastFetchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread with a short fetch wait and a guarded fetcher (see the module)."""

    _guarded: Any = None

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer

    async def _fetch_records(self, consumer: Any, *args: Any, **kwargs: Any) -> Any:
        fetcher = getattr(consumer, "_fetcher", None)
        if fetcher is not None and fetcher is not self._guarded:
            # The fetcher exists once the consumer started; guard it before its first drain.
            if not guard_fetcher(fetcher):
                log.error("aiokafka fetcher not guarded: an undecodable batch stops the worker")
            self._guarded = fetcher
        return await super()._fetch_records(consumer, *args, **kwargs)


class FastFetchConsumer(faust_aiokafka.Consumer):
    """``faust``'s aiokafka consumer, delivering :class:`BatchMessage` batches (see the module)."""

    def _new_consumer_thread(self) -> Any:
        return FastFetchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        # The loop of faust.transport.consumer.Consumer._drain_messages (faust-streaming 0.15),
        # a batch per partition and fetch instead of a message per record.
        consumer_stopped, fetcher_stopped = self._stopped.is_set, fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                batches = await self._fetch_batches(timeout=1.0)
                await self.sleep(0)  # a fetch may keep answering at once: let others run
                for batch in batches:
                    if (
                        self.should_stop
                        or not self.flow_active
                        or batch.generation_id != self.app.consumer_generation_id
                    ):
                        break  # a rebalance: the seek after it decides what is read again
                    if isinstance(batch, UndecodableMessage):
                        await self._dead_letter_undecodable(batch)
                    else:
                        await self._deliver(batch)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        except Exception as exc:  # Faust's own handler, kept: logged, then Faust's to handle
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _fetch_batches(self, timeout: float) -> list[BatchMessage | UndecodableMessage]:
        # faust.transport.consumer.Consumer.getmany, less the per-record messages.
        records, active = await self._wait_next_records(timeout)
        if records is None or self.should_stop:
            return []
        if not self.flow_active:
            try:  # as Faust does: fetched while the flow stopped, so seek back to the commits
                await self.perform_seek()
            except Exception as exc:  # Faust's: the next fetch seeks again
                self.log.warning(f"exception performing seek when flow not active {exc}")
            return []
        generation = self.app.consumer_generation_id
        batches: list[BatchMessage | UndecodableMessage] = []
        for tp, fetched in records.items():
            if fetched and (active is None or tp in active or tp in self._buffered_partitions):
                self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                batches.extend(split_undecodable(tp, fetched, generation))
        return batches

    async def _dead_letter_undecodable(self, message: UndecodableMessage) -> None:
        """Publish the batch's dead letter, then count its offsets as handled (see the module)."""
        tp, bad = message.tp, message.batch
        read = self._read_offset[tp]
        if read is not None and bad.last_offset <= read:
            return  # read already (after a seek): dead-lettered then
        if not await self._publish_dead_letter(bad):
            return  # stopping: not acknowledged, so read (and dead-lettered) again
        cast(FastFetchTransport, self.transport).stats.count_dead_letter(
            UNDECODABLE_REASON, stage="validate"
        )
        if message.generation_id != self.app.consumer_generation_id:
            return  # a rebalance meanwhile: whoever owns the partition now reads it again
        if self.app.topics.acks_enabled_for(tp.topic):
            start = bad.offset if read is None else min(bad.offset, read + 1)
            await self._add_gap(tp, start, bad.last_offset - 1)
            self.ack(_stub_message(tp, bad.last_offset, message.generation_id))
        self._read_offset[tp] = bad.last_offset

    async def _publish_dead_letter(self, bad: UndecodableBatch) -> bool:
        """Send the stub and wait for Kafka's acknowledgement; ``False`` when stopping first."""
        transport = cast(FastFetchTransport, self.transport)
        value = encode_dead_letter(undecodable_dead_letter(bad))

        async def attempt() -> None:
            try:
                await self.app.producer.send_and_wait(
                    transport.deadletter_topic, None, value, None, None, None
                )
            except Exception as exc:  # translated for the log; retried either way (module)
                raise kafka_publish_error(exc) from exc

        try:
            await transport.retrier.call(attempt, kind="publish", retriable=_always)
        except RetryGaveUp:
            return False
        return True

    async def _deliver(self, batch: BatchMessage) -> None:
        tp = batch.tp
        read = self._read_offset[tp]
        if read is not None and batch.first_offset < read:
            # Offsets already read (after a seek): Faust drops such messages too.
            trimmed = batch.from_offset(read)
            if trimmed is None:
                return
            batch = trimmed
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()
        if self.suspend_flow.is_set():
            delivery = self.callback(batch)
            if delivery not in (await self.wait_first(delivery, self.suspend_flow.wait())).done:
                return  # a rebalance stopped the delivery: the seek after it reads it again
        else:
            await self.callback(batch)
        if batch.generation_id != self.app.consumer_generation_id:
            # A rebalance came while the delivery waited: the stream skips the batch (never
            # acknowledged) and the seek after the rebalance decides where reading goes on; a
            # read offset set now would make the consumer drop what it must read again.
            return
        if self.app.topics.acks_enabled_for(tp.topic):
            await self._add_batch_gap(tp, read, batch)
        self._read_offset[tp] = batch.offset

    async def _add_batch_gap(self, tp: TP, read: int | None, batch: BatchMessage) -> None:
        # The stream acknowledges a batch under its last offset, and Faust commits a partition
        # up to the first offset not acknowledged. The offsets before the last one (and any
        # skipped since the last read: compacted away) are made a gap, which Faust counts as
        # done once an offset after it is acknowledged: the last one of this batch, or of a
        # later one -- a partition's batches are acknowledged in order (one agent per topic,
        # each batch before the next). Added once the batch is queued, before its agent runs.
        start = batch.first_offset if not read else min(batch.first_offset, read + 1)
        if start < batch.offset:
            await self._add_gap(tp, start, batch.offset - 1)


def split_undecodable(
    tp: TP, fetched: Sequence[Any], generation: int
) -> list[BatchMessage | UndecodableMessage]:
    """Cut one partition's fetched records into batches around undecodable markers, in order."""
    out: list[BatchMessage | UndecodableMessage] = []
    good: list[Any] = []
    for record in fetched:
        if isinstance(record, UndecodableBatch):
            if good:
                out.append(BatchMessage(tp, good, generation_id=generation))
                good = []
            out.append(UndecodableMessage(tp, record, generation))
        else:
            good.append(record)
    if good:
        out.append(BatchMessage(tp, good, generation_id=generation))
    return out


def undecodable_dead_letter(bad: UndecodableBatch) -> dict[str, Any]:
    """Return the dead-letter stub of an undecodable batch (no payload: there is none to read).

    Example:
        >>> stub = undecodable_dead_letter(UndecodableBatch("feeds.bank", 1, 40, 44, "X"))
        >>> stub["reason"], stub["offset"], stub["last_offset"], stub["detail"]
        ('undecodable_record', 40, 44, 'X; offsets 40-44')
    """
    origin = MessageOrigin(bad.topic, bad.partition, bad.offset)
    detail = f"{bad.error}; offsets {bad.offset}-{bad.last_offset}"
    letter = build_dead_letter(None, reason=UNDECODABLE_REASON, origin=origin, detail=detail)
    return letter | {"last_offset": bad.last_offset}


def _always(_error: BaseException) -> bool:
    return True


def _stub_message(tp: TP, offset: int, generation: int) -> ConsumerMessage:
    # What Faust acknowledges for an offset no stream saw: the last one of the bad batch.
    return ConsumerMessage(
        tp.topic,
        tp.partition,
        offset,
        0.0,
        0,
        None,
        None,
        None,
        None,
        tp=tp,
        generation_id=generation,
    )


class FastFetchTransport(faust_aiokafka.Transport):
    """The aiokafka transport, making :class:`FastFetchConsumer` consumers."""

    Consumer = FastFetchConsumer
    #: Where the consumers publish the stubs of undecodable batches.
    deadletter_topic: str = "deadletter"
    #: Retries those stubs (the worker's: its counters and stop event).
    retrier: Retrier = Retrier(RetryPolicy(cap_s=DEAD_LETTER_RETRY_MAX_S))
    #: Counts them (the worker's counters; a transport of its own without them).
    stats: PipelineStats = PipelineStats()


def install_fast_fetch(
    app: faust.App,
    *,
    deadletter_topic: str = "deadletter",
    retrier: Retrier | None = None,
    stats: PipelineStats | None = None,
) -> None:
    """Give ``app`` the transport of :class:`FastFetchConsumer` (before it starts).

    Args:
        app: The Faust app, not started yet.
        deadletter_topic: The (prefixed) dead-letter topic, for undecodable batches.
        retrier: The worker's retrier (``publish`` counters; its stop event ends the retries
            of a stub). Without it, the retries end only when the consumer's task is cancelled.
        stats: The worker's counters (each stub is a dead letter, ``undecodable_record``).

    Raises:
        UntestedVersion: faust-streaming or aiokafka is not the tested release.
    """
    require_tested_versions()
    transport = FastFetchTransport(cast(Any, app.conf).broker_consumer, app)
    transport.deadletter_topic = deadletter_topic
    transport.stats = stats or PipelineStats()
    if retrier is not None:
        transport.retrier = retrier
    app.transport = transport


class RawBytes(faust.Schema):  # type: ignore[type-arg]
    """A topic schema of raw key and value bytes, decoded without the serializer registry."""

    def __init__(self) -> None:
        super().__init__(key_serializer="raw", value_serializer="raw")

    def compile(self, app: Any, **_options: Any) -> Any:
        """Return the decoder: the event of the message, key and value as they came."""
        create_event = app.create_event

        async def decode(message: Any, *, propagate: bool = False) -> Any:
            return create_event(message.key, message.value, message.headers, message)

        return decode
