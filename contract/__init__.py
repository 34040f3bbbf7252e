"""The message contract, stated once: topics, sources, statuses and envelope fields.

``shared/contract.md`` in code. A leaf package: it imports nothing of ours, and
``matchers/``, ``connectors/``, ``streams/`` and ``tracer/`` all import it, so a topic name, a
source or a status is spelled in one place and a second copy is a lint error away
(``contract/ruff.toml``)::

    from contract import FEED_TOPICS, Source, feed_topic, topic_name

    topic_name(feed_topic("bank"), prefix="test.")   # -> "test.feeds.bank"

* :mod:`contract.topics`: the topic names before any prefix, which are compacted, the prefix
  rule, and which feed topic carries which source.
* :mod:`contract.values`: the closed sets (``Source``, ``RosterStatus``, ``LeadStatus``,
  ``Tier``) as ``Literal`` types with their members as tuples, and the feeds' event types.
* :mod:`contract.fields`: the field names of the envelopes and the message keys.
"""

from __future__ import annotations

from contract.fields import (
    CASE_OFFICER,
    DISTRICT,
    ENVELOPE_FIELDS,
    EVENT_ID,
    LEAD_ID,
    NAME,
    OCCURRED_AT,
    PERSON_ID,
    ROSTER_REQUIRED_FIELDS,
    SOURCE,
    STATUS,
    STATUS_CHANGED_AT,
)
from contract.topics import (
    ALL_TOPICS,
    COMPACTED_TOPICS,
    FEED_TOPICS,
    TopicKey,
    feed_topic,
    topic_name,
)
from contract.values import (
    CLOSING_STATUSES,
    EVENT_TYPES,
    LEAD_STATUSES,
    ROSTER_STATUSES,
    SOURCES,
    TIER_RANK,
    TIERS,
    TRACED_STATUS,
    LeadStatus,
    RosterStatus,
    Source,
    Tier,
)

__all__ = [
    "ALL_TOPICS",
    "CASE_OFFICER",
    "CLOSING_STATUSES",
    "COMPACTED_TOPICS",
    "DISTRICT",
    "ENVELOPE_FIELDS",
    "EVENT_ID",
    "EVENT_TYPES",
    "FEED_TOPICS",
    "LEAD_ID",
    "LEAD_STATUSES",
    "NAME",
    "OCCURRED_AT",
    "PERSON_ID",
    "ROSTER_REQUIRED_FIELDS",
    "ROSTER_STATUSES",
    "SOURCE",
    "SOURCES",
    "STATUS",
    "STATUS_CHANGED_AT",
    "TIERS",
    "TIER_RANK",
    "TRACED_STATUS",
    "LeadStatus",
    "RosterStatus",
    "Source",
    "Tier",
    "TopicKey",
    "feed_topic",
    "topic_name",
]
