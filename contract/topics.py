"""The contract's Kafka topics: names before any prefix, the prefix rule, the feed of a source.

    topic_name("feeds.bank", prefix="test.")   # -> "test.feeds.bank"
    feed_topic("telecom")                       # -> "feeds.telecom"

Every topic has the same partition count (the roster, the feeds and the pipeline's outputs are
co-partitioned); how they are created is ``connectors.topics``'s business.
"""

from __future__ import annotations

from typing import Final, Literal

from contract.values import SOURCES, Source

__all__ = ["ALL_TOPICS", "COMPACTED_TOPICS", "FEED_TOPICS", "TopicKey", "feed_topic", "topic_name"]

TopicKey = Literal[
    "supervision.roster",
    "feeds.hukou",
    "feeds.bank",
    "feeds.telecom",
    "leads",
    "deadletter",
    "alerts",
    "audit",
    "tracer.roster.valid",
]
"""The contract's topic names before any prefix, and the pipeline's own (``tracer.*``)."""

_FEED_OF: Final[dict[Source, TopicKey]] = {
    "hukou": "feeds.hukou",
    "bank": "feeds.bank",
    "telecom": "feeds.telecom",
}
#: The feed topics, in the order of :data:`contract.values.SOURCES`.
FEED_TOPICS: Final[tuple[TopicKey, ...]] = tuple(_FEED_OF[source] for source in SOURCES)
ALL_TOPICS: Final[tuple[TopicKey, ...]] = (
    "supervision.roster",
    *FEED_TOPICS,
    "leads",
    "deadletter",
    "alerts",
    "audit",
    "tracer.roster.valid",
)
#: Keyed by ``person_id``, latest wins. ``tracer.roster.valid`` holds the last valid record of
#: each person whose roster update was invalid (streams/roster.py): compaction of the roster
#: must not take a person's last valid state with it.
COMPACTED_TOPICS: Final[frozenset[TopicKey]] = frozenset(
    {"supervision.roster", "tracer.roster.valid"}
)


def topic_name(key: TopicKey, *, prefix: str = "") -> str:
    """Return the full topic name for a contract topic: the prefix, then the name.

    Example:
        >>> topic_name("feeds.bank", prefix="test.")
        'test.feeds.bank'
    """
    return f"{prefix}{key}"


def feed_topic(source: Source) -> TopicKey:
    """Return the feed topic that carries events of ``source`` (before any prefix).

    Example:
        >>> feed_topic("telecom")
        'feeds.telecom'
    """
    return _FEED_OF[source]
