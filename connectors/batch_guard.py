"""A record batch aiokafka cannot decode becomes a marker in the fetched records, not a crash.

aiokafka decodes a fetched partition lazily, batch by batch, while the application drains it
(``Fetcher.fetched_records`` -> ``FetchResult.getall`` -> ``PartitionRecords``). A batch it
cannot decode raises out of that drain: a CRC mismatch (``CorruptRecordException``), a codec
without its library (``UnsupportedCodecError``), a corrupt compressed payload, a header key
that is not UTF-8 (``UnicodeDecodeError``; the broker accepts such a record). The error kills a
Faust worker at once; a plain consumer that catches it and fetches again is handed the same
fetch from the same position, and fails on the same batch, for ever.

:func:`guard_fetcher` wraps every partition's records as the fetcher stores them, before they
are read. When a batch fails, the wrapper yields one :class:`UndecodableBatch` in its place
(topic, partition, the offsets given up, the error's class name; never the bytes) and goes on
with the next batch of the same fetch, so the partition's position moves past the bad batch,
once; the other partitions are not touched. What to do with the marker is the reader's
business: the worker dead-letters it (``streams/transport.py``), the roster follower counts
and logs it.

When the batch header itself cannot be read, the extent of the bad batch is unknown: the
marker covers one offset and the rest of that fetch is dropped (fetched again from the next
offset), so each fetch still moves the position on by at least one.

This reaches into private attributes of aiokafka 0.14 (``Fetcher._records``,
``FetchResult._partition_records``, ``PartitionRecords``); :func:`guard_fetcher` checks their
shape and returns ``False`` (the worker logs it) when they are not what it expects.
"""

from __future__ import annotations

import collections
import inspect
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from aiokafka.consumer.fetcher import FetchResult, PartitionRecords

__all__ = ["UNDECODABLE_REASON", "UndecodableBatch", "guard_fetcher"]

log = logging.getLogger(__name__)

#: The dead-letter reason of a record the consumer could not decode.
UNDECODABLE_REASON: Final = "undecodable_record"


@dataclass(frozen=True, slots=True)
class UndecodableBatch:
    """Stands in the fetched records for the offsets of a batch that could not be decoded.

    Shaped like a fetched record (``topic``, ``partition``, ``offset``, ``timestamp``, ``key``,
    ``value``) so it travels in the same lists; ``offset`` is the first offset given up and
    ``last_offset`` the last one. ``error`` is the exception's class name (no payload).
    """

    topic: str
    partition: int
    offset: int
    last_offset: int
    error: str
    timestamp: int | None = None
    key: bytes | None = None
    value: bytes | None = None


class _BatchTracker:
    """The fetched bytes of one partition, remembering the batch handed out last."""

    def __init__(self, records: Any) -> None:
        self._records = records
        self.current: Any = None

    def has_next(self) -> bool:
        return bool(self._records.has_next())

    def next_batch(self) -> Any:
        self.current = None  # a header that cannot be read leaves no batch behind
        self.current = self._records.next_batch()
        return self.current

    def drop_rest(self) -> None:
        self._records = _NoMoreRecords()


class _NoMoreRecords:
    def has_next(self) -> bool:
        return False


class _GuardedRecords(Iterator[Any]):
    """A partition's ``PartitionRecords`` that yields a marker where a batch fails."""

    def __init__(self, topic: str, partition: int, inner: Any) -> None:
        self._topic = topic
        self._partition = partition
        self._batches = _BatchTracker(inner._records)
        # The records generator reads this attribute when first advanced, so this is in time.
        inner._records = self._batches
        self._inner = inner

    @property
    def next_fetch_offset(self) -> int:
        """Where the next fetch of the partition starts (read by aiokafka)."""
        return int(self._inner.next_fetch_offset)

    def __next__(self) -> Any:
        try:
            return next(self._inner)
        except StopIteration:
            raise
        except Exception as exc:  # any failure to decode bytes is the batch's, not ours
            return self._give_up(exc)

    def _give_up(self, exc: Exception) -> UndecodableBatch:
        first = int(self._inner.next_fetch_offset)
        batch = self._batches.current
        if batch is None:
            last = first
            self._batches.drop_rest()
        else:
            last = max(first, int(batch.next_offset) - 1)
            first = max(first, int(getattr(batch, "base_offset", first)))
        self._inner = _resume(self._inner, self._batches, last + 1)
        log.warning(
            "undecodable record batch in %s[%d], offsets %d-%d (%s): handed on as a marker",
            self._topic,
            self._partition,
            first,
            last,
            type(exc).__name__,
        )
        return UndecodableBatch(self._topic, self._partition, first, last, type(exc).__name__)


def _resume(inner: Any, batches: _BatchTracker, offset: int) -> Any:
    """Return records that go on with the batches after the bad one, from ``offset``."""
    fresh = PartitionRecords(
        inner._tp,
        batches,
        [],
        offset,
        inner._key_deserializer,
        inner._value_deserializer,
        inner._check_crcs,
        inner._isolation_level,
    )
    fresh._aborted_transactions = inner._aborted_transactions
    fresh._aborted_producers = inner._aborted_producers
    return fresh


class _GuardedResults(collections.OrderedDict[Any, Any]):
    """``Fetcher._records``: every fetch result stored is guarded before it can be read."""

    def __setitem__(self, tp: Any, result: Any) -> None:
        _guard_result(tp, result)
        super().__setitem__(tp, result)


def _guard_result(tp: Any, result: Any) -> None:
    if type(result) is not FetchResult:
        return  # a FetchError: aiokafka raises it as before
    records = result._partition_records
    if type(records) is not PartitionRecords or records._records_iterator is None:
        return
    if inspect.getgeneratorstate(records._records_iterator) != inspect.GEN_CREATED:
        return  # already being read: too late to put the tracker under it
    result._partition_records = _GuardedRecords(tp.topic, tp.partition, records)


def guard_fetcher(fetcher: Any) -> bool:
    """Guard every fetch result of aiokafka's ``fetcher`` (``consumer._fetcher``); idempotent.

    Returns:
        ``True`` when the fetcher is guarded, ``False`` when its internals are not those of
        aiokafka 0.14 (nothing was changed then).
    """
    stored = getattr(fetcher, "_records", None)
    if isinstance(stored, _GuardedResults):
        return True
    if not isinstance(stored, dict):
        return False
    guarded = _GuardedResults()
    for tp, result in stored.items():
        guarded[tp] = result
    fetcher._records = guarded
    return True
