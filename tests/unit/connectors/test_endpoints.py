"""Telling "nothing listens" from "not ready yet": addresses by value, probes on real sockets."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import pytest

from connectors.endpoints import (
    ConnectionRefused,
    Reach,
    kafka_addresses,
    probe,
    require_listening,
    url_address,
)
from connectors.errors import ServiceUnavailable


@pytest.mark.parametrize(
    ("bootstrap", "addresses"),
    [
        ("127.0.0.1:9092", (("127.0.0.1", 9092),)),
        ("kafka:19092, other:9093", (("kafka", 19092), ("other", 9093))),
        ("[::1]:9094", (("::1", 9094),)),
        ("kafka", (("kafka", 9092),)),
    ],
)
def test_bootstrap_strings_give_their_addresses(
    bootstrap: str, addresses: tuple[tuple[str, int], ...]
) -> None:
    assert kafka_addresses(bootstrap) == addresses


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:9200", ("127.0.0.1", 9200)),
        ("https://u:p@es.example:9243/prefix", ("es.example", 9243)),
        ("http://elasticsearch", ("elasticsearch", 9200)),
    ],
)
def test_elasticsearch_urls_give_their_address(url: str, address: tuple[str, int]) -> None:
    assert url_address(url) == address


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused, and nobody else takes it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def open_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_a_probe_tells_refused_from_listening(closed_port: int, open_port: int) -> None:
    assert probe([("127.0.0.1", closed_port)]) == "refused"
    assert probe([("127.0.0.1", open_port)]) == "listening"
    assert probe([("127.0.0.1", closed_port), ("127.0.0.1", open_port)]) == "listening"
    assert probe([("name.invalid", 9092)]) == "unknown"  # may resolve later: not ours to judge
    assert probe([]) == "unknown"


class Clock:
    """A fake monotonic clock that the pauses advance (the tests never wait)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_refusals_are_tolerated_for_the_grace_then_named() -> None:
    clock = Clock()
    with pytest.raises(ConnectionRefused) as caught:
        require_listening(
            "Kafka",
            [("127.0.0.1", 9)],
            grace_s=3.0,
            check=lambda _a: "refused",
            sleep=clock.sleep,
            clock=clock,
        )
    # Probed again until the next pause would pass the grace; each pause at most 0.5 s.
    assert 2.5 <= clock.now <= 3.0
    assert clock.pauses and max(clock.pauses) <= 0.5
    assert isinstance(caught.value, ServiceUnavailable)
    assert not caught.value.retriable  # final: a retry loop that meets it stops at once
    assert (caught.value.service, caught.value.addresses) == ("Kafka", (("127.0.0.1", 9),))
    assert str(caught.value) == (
        "Kafka refused the connection at 127.0.0.1:9: nothing listens there"
    )


@pytest.mark.parametrize("answers", [["refused", "refused", "listening"], ["unknown"]])
def test_a_service_coming_up_or_not_refusing_is_left_to_the_client(answers: list[Reach]) -> None:
    clock = Clock()
    seen = iter(answers)
    require_listening(
        "Elasticsearch",
        [("127.0.0.1", 9200)],
        check=lambda _a: next(seen),
        sleep=clock.sleep,
        clock=clock,
    )
    assert len(clock.pauses) == len(answers) - 1  # one pause after each refusal, none after
    assert clock.now <= 0.5 * (len(answers) - 1)


def test_a_real_refused_port_is_named_within_the_grace(closed_port: int) -> None:
    with pytest.raises(ConnectionRefused):
        require_listening("Kafka", [("127.0.0.1", closed_port)], grace_s=0.6)


def test_refusals_within_the_grace_are_not_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    seen = iter(["refused", "refused", "listening"])
    with caplog.at_level(logging.WARNING):
        require_listening(
            "Kafka", [("127.0.0.1", 9)], check=lambda _a: next(seen), sleep=clock.sleep, clock=clock
        )
    assert caplog.records == []  # expected while a service restarts: the command stays quiet
