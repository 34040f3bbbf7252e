"""The client libraries' repeated log records are held back, counted, and let through again."""

from __future__ import annotations

import logging

import pytest

from tracer.logs import RepeatFilter, hold_client_repeats


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, name: str = "aiokafka.conn", level: int = logging.ERROR):
    return logging.makeLogRecord(
        {"name": name, "levelno": level, "levelname": "ERROR", "msg": msg, "args": args}
    )


def test_one_kind_passes_once_per_window_then_says_how_many_were_held() -> None:
    clock = Clock()
    repeats = RepeatFilter(window_s=30.0, clock=clock)
    passed = [repeats.filter(record("Unable connect to node with id %s", n)) for n in range(100)]
    assert passed == [True] + [False] * 99
    clock.now = 29.9
    assert not repeats.filter(record("Unable connect to node with id %s", 7))
    clock.now = 30.0
    again = record("Unable connect to node with id %s", 7)
    assert repeats.filter(again)
    assert (
        again.getMessage()
        == "Unable connect to node with id 7 (100 more like this held back in 30 s)"
    )


def test_kinds_are_apart_by_logger_level_and_template() -> None:
    repeats = RepeatFilter(clock=Clock())
    assert repeats.filter(record("a %s", 1))
    assert repeats.filter(record("b %s", 1))
    assert repeats.filter(record("a %s", 1, name="aiokafka.cluster"))
    assert repeats.filter(record("a %s", 1, level=logging.WARNING))
    assert not repeats.filter(record("a %s", 2))


def test_the_memory_of_kinds_is_bounded() -> None:
    repeats = RepeatFilter(clock=Clock())
    for n in range(5000):
        assert repeats.filter(record(f"kind {n}"))
    assert len(repeats._kinds) <= 1024


def test_every_imported_client_logger_gets_the_filter(caplog: pytest.LogCaptureFixture) -> None:
    import aiokafka.conn  # noqa: F401 - the library whose logger is under test

    repeats = hold_client_repeats(RepeatFilter(clock=Clock()))
    logger = logging.getLogger("aiokafka.conn")
    try:
        assert repeats in logger.filters
        assert repeats in logging.getLogger("elastic_transport").filters
        assert repeats not in logging.getLogger("streams.agents").filters
        with caplog.at_level(logging.ERROR, logger="aiokafka.conn"):
            for _ in range(50):
                logger.error("Unable connect to node with id %s: %s", 1, "refused")
        assert len([r for r in caplog.records if r.name == "aiokafka.conn"]) == 1
    finally:
        for name in [*logging.Logger.manager.loggerDict, "aiokafka", "elastic_transport"]:
            existing = logging.getLogger(name)
            if repeats in existing.filters:
                existing.removeFilter(repeats)


def test_the_module_example_holds() -> None:
    import doctest

    import tracer.logs

    failed, tried = doctest.testmod(tracer.logs)
    assert tried > 0 and failed == 0
