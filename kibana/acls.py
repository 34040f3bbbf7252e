"""Kafka ACLs of the Docker stack as code: who may write (and read) which topic.

Pure: the rules are built from the topic names the code uses (``connectors.topics``), so a
new topic without a rule fails a test. The broker denies whatever no rule allows
(``allow.everyone.if.no.acl.found=false``); ``admin`` is the broker's super user, used by the
set-up job only (it creates topics, SCRAM users and these ACLs)::

    rules = acl_rules(prefix="", group="tracer")
    acl_lines(rules)      # -> the lines of docker/kafka/acls.tsv, which the set-up job applies

- ``feeds``: the feed connectors (``tracer produce --events``); write the feed topics.
- ``roster``: the roster service (``tracer produce --roster``); write the roster.
- ``worker``: ``tracer worker``; read roster, feeds, leads; write leads, dead letters, alerts,
  audit and the last-valid roster; its consumer group.
- ``review``: the review service; write audit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final, Literal, NamedTuple

from contract import FEED_TOPICS, TopicKey, topic_name

__all__ = [
    "AUDIT_TOPIC",
    "KAFKA_PRINCIPALS",
    "AclRule",
    "Principal",
    "acl_lines",
    "acl_rules",
    "writers",
]

Principal = Literal["feeds", "roster", "worker", "review"]
KAFKA_PRINCIPALS: Final[tuple[Principal, ...]] = ("feeds", "roster", "worker", "review")
#: The audit topic (the review service and the CLI write it), named by the contract.
AUDIT_TOPIC: Final = topic_name("audit")

Operation = Literal["Read", "Write", "Describe"]


class AclRule(NamedTuple):
    """One allow rule: ``User:<principal>`` may ``operation`` on a topic or group."""

    principal: Principal
    operation: Operation
    resource: Literal["topic", "group"]
    pattern: Literal["literal", "prefixed"]
    name: str


def _on_topics(
    principal: Principal, ops: Sequence[Operation], names: Iterable[str]
) -> list[AclRule]:
    return [AclRule(principal, op, "topic", "literal", name) for name in names for op in ops]


def acl_rules(*, prefix: str = "", group: str = "tracer") -> list[AclRule]:
    """Return every allow rule, sorted; ``prefix`` is the topic prefix, ``group`` the workers'.

    Writing implies ``Describe`` (producers read metadata); reading is ``Read`` + ``Describe``.
    """

    def named(*keys: TopicKey) -> list[str]:
        return [topic_name(key, prefix=prefix) for key in keys]

    write: Sequence[Operation] = ("Write", "Describe")
    read: Sequence[Operation] = ("Read", "Describe")
    audit = f"{prefix}{AUDIT_TOPIC}"
    rules = [
        *_on_topics("feeds", write, named(*FEED_TOPICS)),
        *_on_topics("roster", write, named("supervision.roster")),
        *_on_topics("worker", read, named("supervision.roster", *FEED_TOPICS, "leads")),
        *_on_topics("worker", read, named("tracer.roster.valid")),
        *_on_topics("worker", write, [*named("leads", "deadletter", "alerts"), audit]),
        *_on_topics("worker", write, named("tracer.roster.valid")),
        *_on_topics("review", write, [audit]),
        # Faust's consumer group is the app id; prefixed, as Faust adds suffixes of its own.
        AclRule("worker", "Read", "group", "prefixed", group),
    ]
    return sorted(set(rules))


def writers(rules: Iterable[AclRule]) -> dict[str, set[Principal]]:
    """Return, per topic, the principals allowed to write it."""
    found: dict[str, set[Principal]] = {}
    for rule in rules:
        if rule.resource == "topic" and rule.operation == "Write":
            found.setdefault(rule.name, set()).add(rule.principal)
    return found


def acl_lines(rules: Iterable[AclRule]) -> str:
    """Return the rules as tab-separated lines: principal, operation, resource, pattern, name."""
    return "".join("\t".join(rule) + "\n" for rule in rules)
