"""Logs an operator can read during an outage: the Kafka and Elasticsearch clients' repeats held.

While a broker is down, aiokafka logs the same few errors about a hundred times a second
("Unable connect to node with id 1", "Unable to update metadata", ...): 2,575 lines in a
22-second outage of ``make chaos``, burying the worker's own one-line "degraded" report. A
:class:`RepeatFilter` on the client libraries' loggers lets each kind of record (logger, level,
message template) through once per window and then says how many it held back, so every fault
still shows, once, with its count.

Example:
    >>> now = [0.0]
    >>> repeats = RepeatFilter(window_s=30.0, clock=lambda: now[0])
    >>> record = logging.makeLogRecord({"name": "aiokafka", "msg": "down %s", "args": (1,)})
    >>> [repeats.filter(record) for _ in range(3)]
    [True, False, False]
    >>> now[0] = 31.0
    >>> repeats.filter(record), record.getMessage()
    (True, 'down 1 (2 more like this held back in 30 s)')
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Final

__all__ = ["CLIENT_LOGGERS", "RepeatFilter", "hold_client_repeats"]

#: The loggers of the client libraries whose retries repeat while a service is away.
CLIENT_LOGGERS: Final = ("aiokafka", "kafka", "elastic_transport", "elasticsearch")

_MAX_KINDS = 1024  # kinds of record remembered; bounded whatever the libraries log


class RepeatFilter(logging.Filter):
    """Pass each kind of record once per ``window_s`` seconds; count the ones held back.

    A kind is the logger's name, the level and the message template (before its arguments), so
    "Unable connect to node with id 1" and "... id 2" are one kind.
    """

    def __init__(
        self, *, window_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], list[float | int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether ``record`` is logged (the first of its kind in the window)."""
        kind = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        seen = self._kinds.get(kind)
        if seen is not None and now - seen[0] < self._window_s:
            seen[1] += 1
            return False
        held = int(seen[1]) if seen is not None else 0
        if seen is None and len(self._kinds) >= _MAX_KINDS:
            self._kinds.clear()
        self._kinds[kind] = [now, 0]
        if held:
            record.msg = f"{record.msg} ({held} more like this held back in {self._window_s:.0f} s)"
        return True


def hold_client_repeats(
    repeats: RepeatFilter | None = None, *, prefixes: Iterable[str] = CLIENT_LOGGERS
) -> RepeatFilter:
    """Put one :class:`RepeatFilter` on every logger of the client libraries imported so far.

    A logger's filters see the records logged on that logger itself (not its children's), so
    each module's logger gets it; call this after the libraries are imported.
    """
    repeats = repeats or RepeatFilter()
    wanted = tuple(prefixes)
    names = [*wanted, *logging.Logger.manager.loggerDict]
    for name in names:
        if name.split(".", 1)[0] in wanted:
            logger = logging.getLogger(name)
            if repeats not in logger.filters:
                logger.addFilter(repeats)
    return repeats
