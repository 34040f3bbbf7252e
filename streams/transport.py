"""Cheaper per-message paths through Faust: the fetch loop, and raw-bytes topics.

Faust's fetcher hands every fetched message to the topic conductor through
``Service.wait_first(callback(message), suspend_flow.wait())``: two tasks, an ``asyncio.wait``
and two cancellations per message, about a quarter of the worker's CPU outside matching. The
race only matters when the delivery blocks (a full agent buffer) while a rebalance suspends the
flow. :class:`FastFetchConsumer` delivers directly while the flow is active and keeps Faust's
race otherwise. A direct delivery that blocks and then meets a rebalance completes once Faust
clears the buffers or resumes the flow; the stream skips it as a message of an old generation
(never acknowledged, so read again), and the consumer does not record it as read.

:class:`FastFetchConsumerThread` asks Kafka to hold a fetch without new data for at most
:data:`FETCH_MAX_WAIT_MS` (see there).

Raw topics: every topic of the pipeline carries bytes the agents parse themselves, so
:class:`RawBytes` makes the event straight from the message instead of passing key and value
through Faust's serializer registry (the raw codec returns them unchanged anyway).

Use: ``install_fast_fetch(app)`` right after building the app, before it starts, and
``app.topic(name, schema=RawBytes())``.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka

__all__ = ["FastFetchConsumer", "FastFetchTransport", "RawBytes", "install_fast_fetch"]


#: Longest time Kafka holds a fetch that finds no new data (Faust hard-codes 1500 ms). aiokafka
#: keeps one fetch in flight per broker and refetches a partition only once its records are
#: consumed: a fetch of only the leads partitions, made while the feeds still had records, could
#: hold the drained feeds back for 1.5 s -- and no lead comes while the matcher has no events.
#: The worker then idled ~0.3 s every ~2 s (bench.e2e, 128 KiB fetches). An idle worker now
#: asks ten times a second instead of once in 1.5 s.
FETCH_MAX_WAIT_MS = 100


class FastFetchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread with a short fetch wait (see the module)."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer


class FastFetchConsumer(faust_aiokafka.Consumer):
    """``faust``'s aiokafka consumer; :meth:`_drain_messages` and the fetch wait differ."""

    def _new_consumer_thread(self) -> Any:
        return FastFetchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - needs Kafka
        # The loop of faust.transport.consumer.Consumer._drain_messages (faust-streaming 0.15),
        # with the per-message wait_first only while the flow is suspended (_deliver).
        consumer_stopped, fetcher_stopped = self._stopped.is_set, fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                batch = self.getmany(timeout=1.0)
                await self.sleep(0)  # getmany may keep answering at once: let others run
                if not self.should_stop:
                    await self._deliver_all(batch)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver_all(self, batch: Any) -> None:
        since_yield = 0
        async for tp, message in batch:
            since_yield += 1
            if since_yield > 100:
                await asyncio.sleep(0)
                since_yield = 0
            await self._deliver(tp, message)

    async def _deliver(self, tp: Any, message: Any) -> None:
        offset = message.offset
        read = self._read_offset[tp]
        if read is not None and offset < read:
            return  # an offset already read (after a seek): Faust drops it too
        if read and offset - read > 1 and self.app.topics.acks_enabled_for(message.topic):
            await self._add_gap(tp, read + 1, offset)
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()
        if self.suspend_flow.is_set():
            await self.wait_first(self.callback(message), self.suspend_flow.wait())
        else:
            await self.callback(message)
            if message.generation_id != self.app.consumer_generation_id:
                # A rebalance came while the delivery waited: the stream skips the message
                # and the seek after the rebalance decides where reading goes on; a read
                # offset set now would make the consumer drop what it must read again.
                return
        self._read_offset[tp] = offset


class FastFetchTransport(faust_aiokafka.Transport):
    """The aiokafka transport, making :class:`FastFetchConsumer` consumers."""

    Consumer = FastFetchConsumer


def install_fast_fetch(app: faust.App) -> None:
    """Give ``app`` the transport of :class:`FastFetchConsumer` (before it starts)."""
    app.transport = FastFetchTransport(cast(Any, app.conf).broker_consumer, app)


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
