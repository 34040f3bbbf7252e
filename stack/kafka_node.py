"""A single Kafka node in KRaft combined mode (broker and controller in one JVM).

The controller quorum is static (``controller.quorum.voters``) with this node as its only
voter, on a second loopback port. Storage is formatted once with ``StorageTool --ignore-formatted``
(no ``--standalone``: that flag is for dynamic quorums and clashes with static voters). Every
internal topic gets replication factor 1, or the first consumer group would wait forever for
replicas that a single node cannot have.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from stack.layout import StackConfig

__all__ = [
    "class_archive_options",
    "format_command",
    "kafka_env",
    "new_cluster_id",
    "render_log4j2",
    "render_server_properties",
    "run_command",
]

_NODE_ID = 1
_MAIN_CLASS = "kafka.Kafka"
_STORAGE_TOOL = "kafka.tools.StorageTool"


def render_server_properties(*, host: str, port: int, controller_port: int, data_dir: Path) -> str:
    """Return ``server.properties`` for a one-node KRaft cluster (pure)."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": str(_NODE_ID),
        "controller.quorum.voters": f"{_NODE_ID}@{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        # 50 offset partitions (the default) slow the first consumer group on a small box.
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Tests and workers join groups constantly; waiting 3 s for more members is wasted time.
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "168",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    lines = ["# Rendered by `tracer stack up`; edits are overwritten on the next start."]
    lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def render_log4j2() -> str:
    """Return a log4j2 configuration that logs INFO to stdout (captured in the stack's log)."""
    return "\n".join(
        [
            "status = warn",
            "appender.console.type = Console",
            "appender.console.name = STDOUT",
            "appender.console.layout.type = PatternLayout",
            "appender.console.layout.pattern = [%d] %p %m (%c)%n",
            "rootLogger.level = INFO",
            "rootLogger.appenderRef.stdout.ref = STDOUT",
            # Per-request and state-change chatter would drown the useful lines.
            "logger.request.name = kafka.request.logger",
            "logger.request.level = WARN",
            "logger.state.name = state.change.logger",
            "logger.state.level = WARN",
            "",
        ]
    )


def new_cluster_id() -> str:
    """Return a fresh cluster id in Kafka's format: 16 random bytes, URL-safe base64, unpadded.

    Kafka itself never hands out an id starting with ``-`` (it reads as a command-line flag),
    so neither do we.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cluster_id.startswith("-"):
            return cluster_id


def _jvm_options(config: StackConfig) -> list[str]:
    log4j = config.kafka_config_dir / "log4j2.properties"
    return [
        f"-Xms{config.kafka_heap}",
        f"-Xmx{config.kafka_heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={config.logs_dir}",
    ]


def format_command(java: Path, config: StackConfig, cluster_id: str) -> list[str]:
    """Return the command that formats the storage once (a no-op when already formatted)."""
    return [
        str(java),
        "-Xmx256m",
        f"-Dlog4j2.configurationFile={config.kafka_config_dir / 'log4j2.properties'}",
        "-cp",
        f"{config.kafka_libs}/*",
        _STORAGE_TOOL,
        "format",
        "-t",
        cluster_id,
        "-c",
        str(config.kafka_config_dir / "server.properties"),
        "--ignore-formatted",
    ]


def class_archive_options(archive: Path) -> list[str]:
    """Return the JVM options that use ``archive`` for class-data sharing, or create it.

    The broker loads ~7,000 classes from plain jars at start; mapping them from an archive
    roughly halves its start-up (measured ~7 s -> ~3.6 s on a busy 2-core machine). The archive
    is written when the first run exits cleanly and reused by every later start; a stale one
    (another JDK build or class path) is ignored by the JVM, never fatal.
    """
    if archive.is_file():
        return [f"-XX:SharedArchiveFile={archive}"]
    return [f"-XX:ArchiveClassesAtExit={archive}"]


def run_command(java: Path, config: StackConfig, *, class_archive: Path | None = None) -> list[str]:
    """Return the command that runs the broker in the foreground."""
    return [
        str(java),
        *_jvm_options(config),
        *(class_archive_options(class_archive) if class_archive is not None else []),
        "-cp",
        f"{config.kafka_libs}/*",
        _MAIN_CLASS,
        str(config.kafka_config_dir / "server.properties"),
    ]


def kafka_env(java_home: Path) -> dict[str, str]:
    """Return the broker's environment: explicit and small, nothing inherited by accident."""
    return {
        "JAVA_HOME": str(java_home),
        "PATH": f"{java_home / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
