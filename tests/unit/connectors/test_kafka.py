"""Routing of JSONL lines to topics and keys (pure); the follower is proven in integration."""

import warnings

import pytest

with warnings.catch_warnings():  # kafka-python warns once on import; the suite errors on warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    from connectors.kafka import DEFAULT_FEED, Route, route_event_line, route_roster_line


@pytest.mark.parametrize(
    ("line", "route"),
    [
        (b'{"event_id": "e1", "source": "bank"}', Route("feeds.bank", b"e1")),
        (b'{"event_id": "e2", "source": "telecom", "x": 1}', Route("feeds.telecom", b"e2")),
        (b'{"event_id": "e3", "source": "hukou"}', Route("feeds.hukou", b"e3")),
        (b'{"event_id": "\xe4\xba\x8b", "source": "bank"}', Route("feeds.bank", "事".encode())),
        (b'{"event_id": "e4", "source": "fax"}', Route(DEFAULT_FEED, b"e4")),
        (b'{"event_id": 7, "source": "bank"}', Route("feeds.bank", None)),
        (b'{"source": "bank"}', Route("feeds.bank", None)),
        (b"[1, 2, 3]", Route(DEFAULT_FEED, None)),
        (b"not json at all", Route(DEFAULT_FEED, None)),
        (b"\xff\xfe\x00", Route(DEFAULT_FEED, None)),
    ],
)
def test_event_lines_are_routed_and_keyed(line: bytes, route: Route) -> None:
    assert route_event_line(line) == route


def test_roster_lines_are_keyed_by_person_id_and_bad_lines_still_go() -> None:
    assert route_roster_line(b'{"person_id": "p1"}') == Route("supervision.roster", b"p1")
    assert route_roster_line(b"{oops") == Route("supervision.roster", None)
