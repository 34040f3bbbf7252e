"""An undecodable batch becomes one marker, the partition moves past it once, the rest flows.

Real aiokafka fetch results (``FetchResult`` over ``PartitionRecords`` over ``MemoryRecords``)
built from record batches as the broker sends them, one of them broken in each way a fetch
can be; only the assignment around them is a stand-in.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka.consumer.fetcher import READ_UNCOMMITTED, FetchResult, PartitionRecords
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import TopicPartition

from connectors.batch_guard import UndecodableBatch, guard_fetcher

TP = TopicPartition("feeds.bank", 3)


def _batch(base: int, count: int, *, codec: int = 0, header: str = "hk") -> bytes:
    builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, batch_size=10**6)
    for i in range(count):
        value = b'{"event_id": "e%d", "pad": "%s"}' % (base + i, b"y" * 50)
        builder.append(
            i, timestamp=1_700_000_000_000, key=None, value=value, headers=[(header, b"v")]
        )
    data = bytearray(builder.build())
    struct.pack_into(">q", data, 0, base)  # the broker assigns the base offset
    return bytes(data)


def _recrc(data: bytes) -> bytes:
    buf = bytearray(data)
    struct.pack_into(">I", buf, 17, calc_crc32c(bytes(buf[21:])))
    return bytes(buf)


def _bad_crc(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _bad_header_key(data: bytes) -> bytes:
    return _recrc(data.replace(b"hk", b"\xff\xfe"))  # the broker accepts this (checked)


def _unknown_codec(data: bytes) -> bytes:
    buf = bytearray(data)
    struct.pack_into(">h", buf, 21, struct.unpack_from(">h", buf, 21)[0] | 7)
    return _recrc(bytes(buf))


def _corrupt_zstd(data: bytes) -> bytes:
    buf = bytearray(data)
    buf[80] ^= 0xFF
    return _recrc(bytes(buf))


def _short_length(data: bytes) -> bytes:
    buf = bytearray(data)
    struct.pack_into(">i", buf, 8, 10)  # shorter than a batch header
    return bytes(buf)


@dataclass
class _State:
    position: int
    paused: bool = False

    def consumed_to(self, offset: int) -> None:
        self.position = offset


@dataclass
class _Assignment:
    state: _State
    active: bool = True

    def state_value(self, _tp: Any) -> _State:
        return self.state


class _Fetcher:
    """The one attribute of aiokafka's ``Fetcher`` the guard touches."""

    def __init__(self) -> None:
        self._records: dict[Any, Any] = {}


def _store(fetcher: _Fetcher, data: bytes, position: int = 0) -> tuple[FetchResult, _State]:
    state = _State(position)
    records = PartitionRecords(
        TP, MemoryRecords(data), None, position, None, None, True, READ_UNCOMMITTED
    )
    result = FetchResult(TP, assignment=_Assignment(state), partition_records=records, backoff=0)
    fetcher._records[TP] = result
    return result, state


BROKEN: dict[str, tuple[Callable[[bytes], bytes], int]] = {
    "crc mismatch": (_bad_crc, 0),
    "header key not UTF-8": (_bad_header_key, 0),
    "unknown codec id": (_unknown_codec, 0),
    "corrupt zstd payload": (_corrupt_zstd, 4),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_batch_is_one_marker_between_the_records_around_it(case: str) -> None:
    breaker, codec = BROKEN[case]
    data = _batch(0, 2) + breaker(_batch(2, 3, codec=codec)) + _batch(5, 2)
    fetcher = _Fetcher()
    assert guard_fetcher(fetcher)
    result, state = _store(fetcher, data)

    got = result.getall()
    assert [r.offset for r in got] == [0, 1, 2, 5, 6]
    (marker,) = [r for r in got if isinstance(r, UndecodableBatch)]
    assert (marker.topic, marker.partition, marker.offset, marker.last_offset) == (
        TP.topic,
        TP.partition,
        2,
        4,
    )
    assert marker.value is None and marker.error.isidentifier()
    assert got[-1].value.startswith(b'{"event_id": "e6"')
    assert state.position == 7  # past everything, once
    assert not result.has_more()


def test_without_the_guard_the_fetch_raises_and_the_partition_stays_before_the_batch() -> None:
    data = _batch(0, 2) + _bad_crc(_batch(2, 3)) + _batch(5, 2)
    result, state = _store(_Fetcher(), data)
    with pytest.raises(Exception, match="CRC"):
        result.getall()
    assert result.getall() == []  # the fetch is dropped...
    assert state.position == 0  # ...and the next one reads the same batch again


def test_an_unreadable_batch_header_gives_up_one_offset_and_the_rest_of_the_fetch() -> None:
    data = _batch(0, 2) + _short_length(_batch(2, 3)) + _batch(5, 2)
    fetcher = _Fetcher()
    guard_fetcher(fetcher)
    result, state = _store(fetcher, data)

    got = result.getall()
    assert [(type(r).__name__, r.offset) for r in got][-1] == ("UndecodableBatch", 2)
    assert [r.offset for r in got] == [0, 1, 2]
    assert got[-1].last_offset == 2
    assert state.position == 3  # the next fetch starts one further: progress every time


def test_a_fetch_already_being_read_is_left_alone_and_guarding_is_idempotent() -> None:
    fetcher = _Fetcher()
    result, _ = _store(fetcher, _batch(0, 3))
    assert result.getall(max_records=1)[0].offset == 0  # started before the guard came
    assert guard_fetcher(fetcher) and guard_fetcher(fetcher)
    assert type(fetcher._records[TP]._partition_records) is PartitionRecords
    assert [r.offset for r in result.getall()] == [1, 2]
    fresh, _ = _store(fetcher, _batch(3, 1), position=3)
    assert type(fresh._partition_records) is not PartitionRecords


def test_internals_of_another_shape_are_reported_not_patched() -> None:
    class Other:
        _records = None

    assert guard_fetcher(Other()) is False
