"""``tracer produce`` without Kafka: bounded line reading, the rejects file, and the run's outcome.

The producer is a stand-in with kafka-python's shape (``send`` returns a future with callback
and errback; ``flush``, ``close``) that fails chosen lines the way Kafka does; the real broker
is in ``tests/integration/test_produce_rejects.py``.
"""

from __future__ import annotations

import hashlib
import io
import stat
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

with warnings.catch_warnings():  # kafka-python warns once on import
    warnings.simplefilter("ignore", DeprecationWarning)
    from kafka.errors import InvalidTopicError, KafkaTimeoutError, MessageSizeTooLargeError

from connectors.errors import ConnectorError, ServiceUnavailable
from tracer.commands import produce as produce_module
from tracer.commands.produce import PREFIX_BYTES, produce_files, read_lines
from tracer.settings import TracerSettings


def lines_of(data: bytes, max_bytes: int = 1024) -> list[tuple[int, bytes | None, int]]:
    return [(x.number, x.data, x.size) for x in read_lines(io.BytesIO(data), max_bytes=max_bytes)]


def test_lines_come_without_breaks_numbered_and_blank_ones_skipped() -> None:
    data = b'{"a": 1}\r\n\n  \n{"b": 2}\n{"c": 3}'
    assert lines_of(data) == [(1, b'{"a": 1}', 8), (4, b'{"b": 2}', 8), (5, b'{"c": 3}', 8)]


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        (b"x" * 1024 + b"\n", True),
        (b"x" * 1024 + b"\r\n", True),
        (b"x" * 1024, True),  # the last line, no break
        (b"x" * 1025 + b"\n", False),
        (b"x" * 1025 + b"\r\n", False),
        (b"x" * 1025, False),
        (b"x" * 5000 + b"\r\n", False),
    ],
)
def test_the_limit_is_on_the_line_without_its_break(line: bytes, kept: bool) -> None:
    text = line + b"next\n" if line.endswith(b"\n") else line
    ((_, data, size),) = lines_of(text)[:1]
    content = line.rstrip(b"\r\n")
    assert size == len(content) and (data == content) is kept and (data is None) is not kept


def test_a_long_line_is_hashed_in_chunks_and_the_next_line_follows() -> None:
    long_line = bytes(range(256)).replace(b"\n", b"-") * 20_000  # "\r" inside, a break after
    data = b"first\n" + long_line + b"\r\n" + b"after\n"
    _first, big, after = read_lines(io.BytesIO(data), max_bytes=1024)
    assert (big.number, big.data, big.size) == (2, None, len(long_line))
    assert big.digest() == hashlib.sha256(long_line).hexdigest()
    assert big.prefix == long_line[:PREFIX_BYTES]
    assert (after.number, after.data, after.end) == (3, b"after", len(data))


def test_a_200_mb_line_is_never_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as out:
        out.write(b'{"ok": 1}\n')
        out.truncate(10 + 200 * 1024 * 1024)  # 200 MiB of NUL bytes, no break (sparse file)
        out.seek(0, io.SEEK_END)
        out.write(b'\n{"ok": 2}\n')
    tracemalloc.start()
    try:
        with path.open("rb") as handle:
            got = [(x.number, x.data, x.size) for x in read_lines(handle, max_bytes=1_000_000)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got == [(1, b'{"ok": 1}', 9), (2, None, 200 * 1024 * 1024), (3, b'{"ok": 2}', 9)]
    assert peak < 8 * 1024 * 1024  # a few chunks at most, not 200 MiB


class Future:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def add_callback(self, fn: Callable[[Any], None]) -> None:
        if self.error is None:
            fn(object())

    def add_errback(self, fn: Callable[[BaseException], None]) -> None:
        if self.error is not None:
            fn(self.error)


class Producer:
    """Fails a send whose value contains a marker, the way the marker says."""

    FAILS: ClassVar[dict[bytes, BaseException]] = {
        b"REFUSE_TOPIC": InvalidTopicError(),
        b"TOO_BIG_FOR_BROKER": MessageSizeTooLargeError(),
        b"KAFKA_AWAY": KafkaTimeoutError(),
    }

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    def send(self, topic: str, *, key: bytes | None, value: bytes) -> Future:
        if b"SYNC_TOO_BIG" in value:
            raise MessageSizeTooLargeError("larger than max_request_size")
        error = next((e for mark, e in self.FAILS.items() if mark in value), None)
        if error is None:
            self.sent.append((topic, key, value))
        return Future(error)

    def flush(self, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> Producer:
    fake = Producer()
    monkeypatch.setattr(produce_module, "kafka_producer", lambda *_a, **_k: fake)
    return fake


SETTINGS = TracerSettings(topic_prefix="t.", produce_max_line_bytes=2048)


def test_unpublishable_lines_are_rejects_and_the_rest_goes_out(
    producer: Producer, tmp_path: Path
) -> None:
    roster = tmp_path / "roster.jsonl"
    roster.write_bytes(
        b'{"person_id": "p1", "name": "A"}\n'
        b'{"name": "no id"}\n'  # no key for the compacted topic
        b"not json\n"  # no key either
        b'{"person_id": "p2", "pad": "' + b"z" * 5000 + b'"}\n'  # over the line limit
        b'{"person_id": "p3", "name": "B"}\n'
    )
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        b'{"event_id": "e1", "source": "bank"}\n'
        b"not json: the worker dead-letters it\n"
        b'{"event_id": "e2", "source": "bank", "x": "REFUSE_TOPIC"}\n'
        b'{"event_id": "e3", "source": "bank", "x": "TOO_BIG_FOR_BROKER"}\n'
        b'{"event_id": "e4", "source": "bank", "x": "SYNC_TOO_BIG"}\n'
        b'{"event_id": "e5", "source": "telecom"}\n'
    )
    report = produce_files(SETTINGS, roster=roster, events=events)

    assert [(t, k) for t, k, _ in producer.sent] == [
        ("t.supervision.roster", b"p1"),
        ("t.supervision.roster", b"p3"),
        ("t.feeds.bank", b"e1"),
        ("t.feeds.hukou", None),
        ("t.feeds.telecom", b"e5"),
    ]
    assert report.per_topic == {
        "supervision.roster": 2,
        "feeds.bank": 1,
        "feeds.hukou": 1,
        "feeds.telecom": 1,
    }
    assert report.rejected == {"no_key": 2, "too_large": 3, "refused": 1}
    roster_rejects = tmp_path / "roster.jsonl.rejects.jsonl"
    event_rejects = tmp_path / "events.jsonl.rejects.jsonl"
    assert report.rejects_files == sorted([event_rejects, roster_rejects])
    for path in report.rejects_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rejects = [orjson.loads(x) for x in roster_rejects.read_bytes().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (2, "no_key"),
        (3, "no_key"),
        (4, "too_large"),
    ]
    big = rejects[2]
    original = roster.read_bytes().splitlines()[3]
    assert big["file"] == str(roster) and big["size"] == len(original)
    assert big["sha256"] == hashlib.sha256(original).hexdigest()
    assert big["prefix"] == original[:PREFIX_BYTES].decode()
    events_out = [orjson.loads(x) for x in event_rejects.read_bytes().splitlines()]
    assert [(r["line"], r["reason"]) for r in events_out] == [
        (3, "refused"),
        (4, "too_large"),
        (5, "too_large"),
    ]


def test_one_rejects_file_when_asked_and_it_is_rewritten_each_run(
    producer: Producer, tmp_path: Path
) -> None:
    (tmp_path / "r.jsonl").write_bytes(b'{"name": "no id"}\n{"person_id": "p1"}\n')
    target = tmp_path / "rejects.jsonl"
    target.write_bytes(b"old run\n")
    target.chmod(0o644)
    produce_files(SETTINGS, roster=tmp_path / "r.jsonl", events=None, rejects=target)
    assert [orjson.loads(x)["reason"] for x in target.read_bytes().splitlines()] == ["no_key"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_nothing_published_is_a_failure_with_the_reasons(
    producer: Producer, tmp_path: Path
) -> None:
    (tmp_path / "r.jsonl").write_bytes(b'{"name": "no id"}\nnot json\n')
    with pytest.raises(ConnectorError, match="nothing published: 2 no_key"):
        produce_files(SETTINGS, roster=tmp_path / "r.jsonl", events=None)


def test_kafka_going_away_stops_the_run_and_says_where_to_resume(
    producer: Producer, tmp_path: Path
) -> None:
    events = tmp_path / "e.jsonl"
    events.write_bytes(
        b'{"event_id": "e1", "source": "bank"}\n'
        b'{"event_id": "e2", "source": "bank", "x": "KAFKA_AWAY"}\n'
        b'{"event_id": "e3", "source": "bank"}\n'
    )
    with pytest.raises(ServiceUnavailable, match=r"not published from line 3 on .*1 unavailable"):
        produce_files(SETTINGS, roster=None, events=events)
    assert [k for _, k, _ in producer.sent] == [b"e1"]


def test_rejects_never_hold_more_than_a_prefix_of_the_line(
    producer: Producer, tmp_path: Path
) -> None:
    secret_tail = b"110101199003077777"  # an id far into a long line must not be copied
    line = b'{"name": "x", "pad": "' + b"p" * 4000 + b'", "id_number": "' + secret_tail + b'"}'
    (tmp_path / "r.jsonl").write_bytes(line + b"\n" + b'{"person_id": "ok"}\n')
    produce_files(SETTINGS, roster=tmp_path / "r.jsonl", events=None)
    written = (tmp_path / "r.jsonl.rejects.jsonl").read_bytes()
    assert secret_tail not in written and len(written) < PREFIX_BYTES + 400
