"""Both Kafka clients carry every codec Kafka has, and each reads what the other compressed.

aiokafka (the worker, the roster follower) and kafka-python (``tracer produce``, the lag probe,
the tests' consumers) each look for their own codec libraries at import time and raise
``UnsupportedCodecError`` on the first batch they cannot decode. Record batches are built and
read here exactly as on the wire, across the two clients, for every codec.
"""

from __future__ import annotations

import warnings

import pytest
from aiokafka.record.default_records import DefaultRecordBatch as AioBatch
from aiokafka.record.default_records import DefaultRecordBatchBuilder as AioBuilder

with warnings.catch_warnings():  # kafka-python warns once on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.record.default_records import DefaultRecordBatch as SyncBatch
    from kafka.record.default_records import DefaultRecordBatchBuilder as SyncBuilder

# Kafka's codec ids in the batch attributes (KIP-110: zstd is 4).
CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
RECORDS = [
    (f"ev-{i}".encode() if i % 2 else None, b'{"event_id": "ev-%d", "pad": "%s"}' % (i, b"x" * i))
    for i in range(200)
]
HEADERS = [("origin", b"bank-7"), ("trace", b"\x00\x01")]


def _aio_batch(codec: int) -> bytes:
    builder = AioBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=10**7,
    )
    for offset, (key, value) in enumerate(RECORDS):
        builder.append(offset, timestamp=1_700_000_000_000, key=key, value=value, headers=HEADERS)
    return bytes(builder.build())


def _sync_batch(codec: int) -> bytes:
    builder = SyncBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=10**7,
    )
    for offset, (key, value) in enumerate(RECORDS):
        builder.append(offset, timestamp=1_700_000_000_000, key=key, value=value, headers=HEADERS)
    return bytes(builder.build())


def _read(batch_class: type, data: bytes) -> list[tuple[bytes | None, bytes, list[object]]]:
    batch = batch_class(data)
    assert batch.validate_crc()
    return [(r.key, r.value, list(r.headers)) for r in batch]


@pytest.mark.parametrize("codec", list(CODECS))
def test_kafka_python_reads_what_aiokafka_compressed(codec: str) -> None:
    data = _aio_batch(CODECS[codec])
    assert SyncBatch(data).compression_type == CODECS[codec]
    assert len(data) < sum(len(v) for _, v in RECORDS)  # really compressed
    assert _read(SyncBatch, data) == [(k, v, HEADERS) for k, v in RECORDS]


@pytest.mark.parametrize("codec", list(CODECS))
def test_aiokafka_reads_what_kafka_python_compressed(codec: str) -> None:
    data = _sync_batch(CODECS[codec])
    assert AioBatch(data).compression_type == CODECS[codec]
    assert len(data) < sum(len(v) for _, v in RECORDS)
    assert _read(AioBatch, data) == [(k, v, HEADERS) for k, v in RECORDS]
