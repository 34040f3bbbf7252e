"""The private stack the fault runs stop and start: never the shared one on 9092 / 9200.

Other people's tests run against the default stack, so ``make chaos`` brings up its own Kafka
and Elasticsearch, by default on 19092 / 19200 (controller 19093, transport 19300) under
``.stack-chaos/``, with smaller heaps, and tears it down at the end. The first start does not
fetch anything again: the Kafka jars and the Elasticsearch zip the default stack already holds
are hard-linked (copied across file systems) into the private one, which then only unpacks the
zip; without them, ``LocalStack.up`` fetches through Maven as usual (its cache makes that quick).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Final

from connectors.errors import StackError
from stack import LocalStack, Observer, ServiceName, StackConfig
from tracer.commands.stack import stack_config
from tracer.settings import TracerSettings

__all__ = ["DEFAULT_STACK_DIR", "PrivateStack", "private_settings", "seed_from"]

_REPO = Path(__file__).resolve().parents[2]
DEFAULT_STACK_DIR: Final = _REPO / ".stack-chaos"
_COMPLETE = ".complete"


def private_settings(
    stack_dir: Path, *, kafka_port: int, elasticsearch_port: int
) -> TracerSettings:
    """Settings of a private stack: its own folder and ports, heaps small enough for 2 cores."""
    shared = TracerSettings()
    taken = {_port(shared.kafka_bootstrap), _port(shared.elasticsearch_url)}
    if {kafka_port, elasticsearch_port} & taken:
        raise StackError("the chaos stack must not use the shared stack's ports")
    return shared.model_copy(
        update={
            "stack_dir": stack_dir,
            "kafka_bootstrap": f"127.0.0.1:{kafka_port}",
            "elasticsearch_url": f"http://127.0.0.1:{elasticsearch_port}",
            "kafka_heap": "384m",
            "elasticsearch_heap": "512m",
        }
    )


def _port(address: str) -> int:
    return int(address.split(",", maxsplit=1)[0].rstrip("/").rpartition(":")[2] or 0)


def _link_or_copy(source: str, target: str) -> object:
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed: copy instead
        shutil.copy2(source, target)
    return target


def seed_from(source: StackConfig, target: StackConfig) -> list[str]:
    """Share the already fetched Kafka jars and Elasticsearch zip of ``source`` with ``target``.

    Only what ``target`` lacks and ``source`` holds complete, at the same versions; returns what
    was shared. The jars and the zip are only ever read, so hard links are safe.
    """
    shared: list[str] = []
    same = (source.kafka_version, source.elasticsearch_version) == (
        target.kafka_version,
        target.elasticsearch_version,
    )
    if not same or source.stack_dir.resolve() == target.stack_dir.resolve():
        return shared
    if (source.kafka_libs / _COMPLETE).is_file() and not (target.kafka_libs / _COMPLETE).is_file():
        shutil.rmtree(target.kafka_libs, ignore_errors=True)
        target.kafka_libs.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source.kafka_libs, target.kafka_libs, copy_function=_link_or_copy)
        shared.append("Kafka jars")
    zip_needed = not (target.elasticsearch_home / "bin" / "elasticsearch").is_file()
    if zip_needed and source.elasticsearch_zip.is_file() and not target.elasticsearch_zip.is_file():
        target.downloads_dir.mkdir(parents=True, exist_ok=True)
        _link_or_copy(str(source.elasticsearch_zip), str(target.elasticsearch_zip))
        shared.append("Elasticsearch zip")
    return shared


class PrivateStack:
    """A :class:`LocalStack` of the fault runs, with one service stoppable at a time."""

    def __init__(self, settings: TracerSettings, *, seed: Path | None) -> None:
        self.settings = settings
        self.stack = LocalStack(stack_config(settings))
        self._seed = seed

    def up(self, say: Observer) -> None:
        """Share what the default stack fetched, then start both services and wait for them.

        Raises:
            StackError: as :meth:`LocalStack.up`.
        """
        config = self.stack.config
        if self._seed is not None:
            source = stack_config(self.settings.model_copy(update={"stack_dir": self._seed}))
            for part in seed_from(source, config):
                say(f"shared the {part} of {self._seed}")
        self.stack.up(say)

    def stop(self, service: ServiceName, say: Observer) -> None:
        """Stop one service (SIGTERM, SIGKILL after its grace period)."""
        self.stack.down(say, only=(service,))

    def start(self, service: ServiceName, say: Observer) -> None:
        """Start one service again and wait until it answers."""
        self.stack.up(say, only=(service,))

    def down(self, say: Observer) -> None:
        """Stop both services."""
        self.stack.down(say)
