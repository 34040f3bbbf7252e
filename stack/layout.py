"""Where the local stack keeps its files, and the plain values it is started with.

Everything lives under one directory (``.stack`` in the repository, gitignored)::

    .stack/
      maven/pom.xml                 copy of stack/pom.xml, run there
      downloads/                    the Elasticsearch zip as Maven copied it
      kafka-<version>/libs/*.jar    the broker and its logging backend
      elasticsearch-<version>/      the unpacked integ-test-zip (owned by the service user)
      kafka/{config,data}/          server.properties, log4j2.properties, KRaft log dirs
      elasticsearch/{data,logs}/    node data and Elasticsearch's own logs
      logs/{kafka,elasticsearch}.log  stdout/stderr of each process
      run/{kafka,elasticsearch}.json  pid files (pid, version, address, log)

Elasticsearch runs as an unprivileged service user, which must be able to walk down to its
folders. When a parent of ``.stack`` is closed to others (a clone under ``mktemp -d``, say), its
distribution, data and logs move to ``/var/tmp/tracer-es-<hash of the stack path>/`` instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["ServiceName", "StackConfig"]

ServiceName = Literal["kafka", "elasticsearch"]


@dataclass(frozen=True)
class StackConfig:
    """Plain arguments for the local stack, built by the CLI from the settings."""

    stack_dir: Path
    kafka_version: str = "4.1.1"
    elasticsearch_version: str = "9.2.4"
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    elasticsearch_host: str = "127.0.0.1"
    elasticsearch_port: int = 9200
    kafka_heap: str = "512m"
    elasticsearch_heap: str = "768m"
    java_home: Path | None = None
    elasticsearch_java_home: Path | None = None
    service_user: str = "tracer-es"
    maven: str = "mvn"
    kafka_timeout_s: float = 90.0
    elasticsearch_timeout_s: float = 180.0

    @property
    def controller_port(self) -> int:
        """The KRaft controller listener: the broker port plus one (9093 by default)."""
        return self.kafka_port + 1

    @property
    def transport_port(self) -> int:
        """Elasticsearch's node-to-node port: the HTTP port plus 100 (9300 by default)."""
        return self.elasticsearch_port + 100

    @property
    def kafka_address(self) -> str:
        """``host:port`` that clients bootstrap from."""
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def elasticsearch_url(self) -> str:
        """The HTTP address of the node."""
        return f"http://{self.elasticsearch_host}:{self.elasticsearch_port}"

    def address(self, service: ServiceName) -> str:
        """Return the client-facing address of ``service``."""
        return self.kafka_address if service == "kafka" else self.elasticsearch_url

    def version(self, service: ServiceName) -> str:
        """Return the configured version of ``service``."""
        return self.kafka_version if service == "kafka" else self.elasticsearch_version

    # Paths ---------------------------------------------------------------------------------

    @property
    def maven_dir(self) -> Path:
        """Where the pom is copied and Maven runs."""
        return self.stack_dir / "maven"

    @property
    def downloads_dir(self) -> Path:
        """Where Maven copies the Elasticsearch zip."""
        return self.stack_dir / "downloads"

    @property
    def kafka_libs(self) -> Path:
        """The broker's class path directory (one per version, so versions never mix)."""
        return self.stack_dir / f"kafka-{self.kafka_version}" / "libs"

    @property
    def kafka_config_dir(self) -> Path:
        """Rendered ``server.properties`` and ``log4j2.properties``."""
        return self.stack_dir / "kafka" / "config"

    @property
    def kafka_data_dir(self) -> Path:
        """KRaft metadata and topic data."""
        return self.stack_dir / "kafka" / "data"

    @property
    def elasticsearch_zip(self) -> Path:
        """The integ-test-zip as Maven names it."""
        return self.downloads_dir / f"elasticsearch-{self.elasticsearch_version}.zip"

    @property
    def elasticsearch_root(self) -> Path:
        """Where Elasticsearch's folders live: the stack directory, if others may enter it."""
        if _enterable_by_others(self.stack_dir):
            return self.stack_dir
        digest = hashlib.sha256(str(self.stack_dir.resolve()).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"tracer-es-{digest}"

    @property
    def elasticsearch_home(self) -> Path:
        """The unpacked distribution (``bin/``, ``config/``, ``lib/``, ``modules/``)."""
        return self.elasticsearch_root / f"elasticsearch-{self.elasticsearch_version}"

    @property
    def elasticsearch_data_dir(self) -> Path:
        """Node data, kept apart from the distribution so a version change keeps the data."""
        return self.elasticsearch_root / "elasticsearch" / "data"

    @property
    def elasticsearch_logs_dir(self) -> Path:
        """Elasticsearch's own log files (besides its stdout in ``logs/``)."""
        return self.elasticsearch_root / "elasticsearch" / "logs"

    @property
    def logs_dir(self) -> Path:
        """stdout/stderr of each process."""
        return self.stack_dir / "logs"

    @property
    def run_dir(self) -> Path:
        """Pid files."""
        return self.stack_dir / "run"

    def log_path(self, service: ServiceName) -> Path:
        """Return the file that receives the stdout/stderr of ``service``."""
        return self.logs_dir / f"{service}.log"

    def pid_path(self, service: ServiceName) -> Path:
        """Return the pid file of ``service``."""
        return self.run_dir / f"{service}.json"


def _enterable_by_others(folder: Path) -> bool:
    """Whether every existing parent of ``folder`` lets other users through (x for others)."""
    for parent in (folder.resolve(), *folder.resolve().parents):
        if parent.exists() and parent != Path("/") and not parent.stat().st_mode & 0o001:
            return False
    return True
