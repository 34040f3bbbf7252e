"""Start, stop and inspect the local Kafka and Elasticsearch as detached processes.

A service counts as *running* when its pid file names a live process group and its port
answers. Anything else on the port is *foreign* and never touched; a process of this stack
without a pid file is a *stray*, which ``down`` stops as well, so nothing is left behind.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from connectors.errors import StackError

from stack import elasticsearch_node, kafka_node, maven
from stack.exposure import refuse_exposure
from stack.java import find_java_home, java_binary, java_major
from stack.layout import ServiceName, StackConfig
from stack.process import (
    PidRecord,
    group_members,
    port_open,
    processes_matching,
    read_pid_record,
    spawn_detached,
    stop_group,
    write_pid_record,
)

__all__ = ["SERVICES", "LocalStack", "Observer", "ServiceState", "ServiceStatus"]

ServiceState = Literal["running", "starting", "stopped", "foreign", "stray"]
SERVICES: Final[tuple[ServiceName, ...]] = ("kafka", "elasticsearch")
Observer = Callable[[str], None]
"""Receives one short line per step (the CLI shows it next to a spinner)."""

# What identifies each service's JVMs on a command line, besides the stack directory.
_MAIN_MARKER: Final[dict[ServiceName, str]] = {
    "kafka": "kafka.Kafka",
    "elasticsearch": "org.elasticsearch",
}
_GRACE_S: Final[dict[ServiceName, float]] = {"kafka": 30.0, "elasticsearch": 60.0}
_POLL_S: Final = 0.25


@dataclass(frozen=True)
class ServiceStatus:
    """What runs for one service, where, and which version."""

    service: ServiceName
    state: ServiceState
    address: str
    version: str
    pid: int | None
    log: Path


def _silent(_: str) -> None:
    return None


class LocalStack:
    """The local single-node Kafka and Elasticsearch under ``config.stack_dir``."""

    def __init__(self, config: StackConfig) -> None:
        self._config = config

    @property
    def config(self) -> StackConfig:
        """The plain values this stack was built from."""
        return self._config

    # Status --------------------------------------------------------------------------------

    def _strays(self, service: ServiceName) -> list[int]:
        return processes_matching(f"{self._config.stack_dir}/", _MAIN_MARKER[service])

    def _listening(self, service: ServiceName) -> bool:
        cfg = self._config
        if service == "kafka":
            return port_open(cfg.kafka_host, cfg.kafka_port)
        return port_open(cfg.elasticsearch_host, cfg.elasticsearch_port)

    def service_status(self, service: ServiceName) -> ServiceStatus:
        """Return the state of one service."""
        cfg = self._config
        record = read_pid_record(cfg.pid_path(service))
        alive = record is not None and bool(group_members(record.pid))
        listening = self._listening(service)
        pid = record.pid if record is not None and alive else None
        version = record.version if record is not None and alive else cfg.version(service)
        state: ServiceState
        if alive:
            state = "running" if listening else "starting"
        else:
            strays = self._strays(service)
            pid = strays[0] if strays else None
            state = "stray" if strays else "foreign" if listening else "stopped"
        return ServiceStatus(
            service, state, cfg.address(service), version, pid, cfg.log_path(service)
        )

    def status(self) -> tuple[ServiceStatus, ...]:
        """Return the state of every service."""
        return tuple(self.service_status(service) for service in SERVICES)

    # Up ------------------------------------------------------------------------------------

    def up(
        self, observer: Observer = _silent, *, only: Sequence[ServiceName] = SERVICES
    ) -> tuple[ServiceStatus, ...]:
        """Fetch what is missing, start what is not running, and wait until it answers.

        Running twice is harmless: services already running are left alone. ``only`` limits
        the start to some services (the fault runs restart Kafka or Elasticsearch alone).

        Raises:
            StackError: a port is taken by another program, Java or Maven is missing, a download
                failed, or a service did not come up in time (the message names its log).
        """
        refuse_exposure(self._config)  # security is off: loopback only, before anything runs
        before = tuple(status for status in self.status() if status.service in only)
        _refuse_conflicts(before, self._config)
        to_start = [status.service for status in before if status.state == "stopped"]
        if not to_start:
            return self.status()
        # Every check that can fail runs before anything starts: no half-started stack.
        homes = self._java_homes(to_start)
        if any(maven.missing_parts(self._config)):
            observer("fetching Kafka and Elasticsearch from Maven Central (first run only)")
        fetched = maven.fetch(self._config, log_path=self._config.logs_dir / "maven.log")
        if fetched:
            observer("fetched " + " and ".join(fetched))
        started: dict[ServiceName, subprocess.Popen[bytes]] = {}
        try:
            # Elasticsearch first: it takes longest; Kafka's start overlaps with it.
            if "elasticsearch" in homes:
                observer("starting Elasticsearch")
                started["elasticsearch"] = self._start_elasticsearch(homes["elasticsearch"])
            if "kafka" in homes:
                observer("starting Kafka")
                started["kafka"] = self._start_kafka(homes["kafka"])
        except (StackError, OSError, subprocess.SubprocessError):
            for process in started.values():
                stop_group(process.pid, grace_s=10.0)
            raise
        self._wait_ready(started, observer)
        return self.status()

    def _java_homes(self, services: list[ServiceName]) -> dict[ServiceName, Path]:
        cfg = self._config
        homes: dict[ServiceName, Path] = {}
        if "elasticsearch" in services:
            homes["elasticsearch"] = find_java_home(
                21, explicit=cfg.elasticsearch_java_home, purpose="Elasticsearch 9"
            )
        if "kafka" in services:
            homes["kafka"] = find_java_home(
                17, explicit=cfg.java_home, purpose="Kafka", prefer_path=True
            )
        return homes

    def _start_kafka(self, home: Path) -> subprocess.Popen[bytes]:
        cfg = self._config
        java = java_binary(home)
        cfg.kafka_config_dir.mkdir(parents=True, exist_ok=True)
        cfg.kafka_data_dir.mkdir(parents=True, exist_ok=True)
        properties = kafka_node.render_server_properties(
            host=cfg.kafka_host,
            port=cfg.kafka_port,
            controller_port=cfg.controller_port,
            data_dir=cfg.kafka_data_dir,
        )
        (cfg.kafka_config_dir / "server.properties").write_text(properties, encoding="utf-8")
        (cfg.kafka_config_dir / "log4j2.properties").write_text(
            kafka_node.render_log4j2(), encoding="utf-8"
        )
        if not (cfg.kafka_data_dir / "meta.properties").is_file():
            self._format_kafka(java)
        process = spawn_detached(
            kafka_node.run_command(java, cfg, class_archive=self._kafka_archive(home)),
            log_path=cfg.log_path("kafka"),
            env=kafka_node.kafka_env(home),
            cwd=cfg.stack_dir,
        )
        self._record("kafka", process.pid)
        return process

    def _kafka_archive(self, home: Path) -> Path:
        # One archive per broker version and JDK build: a new JDK or Kafka gets a fresh one.
        release = (home / "release").read_bytes() if (home / "release").is_file() else b""
        digest = hashlib.sha256(str(home).encode() + release).hexdigest()[:12]
        return (
            self._config.kafka_data_dir.parent
            / f"classes-{self._config.kafka_version}-{digest}.jsa"
        )

    def _format_kafka(self, java: Path) -> None:
        cfg = self._config
        id_file = cfg.kafka_data_dir.parent / "cluster.id"
        if not id_file.is_file():
            id_file.write_text(kafka_node.new_cluster_id(), encoding="utf-8")
        command = kafka_node.format_command(java, cfg, id_file.read_text(encoding="utf-8").strip())
        log = cfg.log_path("kafka")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=120,
                check=False,
            )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka's storage failed; see {log}")

    def _start_elasticsearch(self, home: Path) -> subprocess.Popen[bytes]:
        cfg = self._config
        user = elasticsearch_node.ensure_service_user(cfg.service_user)
        elasticsearch_node.prepare_node(cfg, user)
        # JDK 19+ can keep a class-data archive across runs (AutoCreateSharedArchive).
        archive = cfg.elasticsearch_data_dir.parent / "launcher.jsa"
        env = elasticsearch_node.elasticsearch_env(
            cfg, home, cli_archive=archive if (java_major(home) or 0) >= 19 else None
        )
        process = spawn_detached(
            elasticsearch_node.run_command(cfg),
            log_path=cfg.log_path("elasticsearch"),
            env=env,
            cwd=cfg.elasticsearch_home,
            user=user,
        )
        self._record("elasticsearch", process.pid)
        return process

    def _record(self, service: ServiceName, pid: int) -> None:
        cfg = self._config
        record = PidRecord(
            service=service,
            pid=pid,
            version=cfg.version(service),
            address=cfg.address(service),
            log=str(cfg.log_path(service)),
            started_at=time.time(),
        )
        write_pid_record(cfg.pid_path(service), record)

    def _ready(self, service: ServiceName) -> bool:
        if service == "kafka":
            return self._listening("kafka")
        return _http_ok(
            f"{self._config.elasticsearch_url}/_cluster/health?wait_for_status=yellow&timeout=1s"
        )

    def _wait_ready(
        self, started: dict[ServiceName, subprocess.Popen[bytes]], observer: Observer
    ) -> None:
        cfg = self._config
        begin = time.monotonic()
        timeouts = {"kafka": cfg.kafka_timeout_s, "elasticsearch": cfg.elasticsearch_timeout_s}
        waiting = dict(started)
        while waiting:
            for service, process in list(waiting.items()):
                code = process.poll()
                if code is not None:
                    log = cfg.log_path(service)
                    raise StackError(f"{service} exited during start-up (exit {code}); see {log}")
                if self._ready(service):
                    observer(f"{service} is up after {time.monotonic() - begin:.1f} s")
                    del waiting[service]
                elif time.monotonic() - begin > timeouts[service]:
                    raise StackError(
                        f"{service} did not answer within {timeouts[service]:.0f} s;"
                        f" see {cfg.log_path(service)}"
                    )
            time.sleep(_POLL_S)

    # Down ----------------------------------------------------------------------------------

    def down(
        self, observer: Observer = _silent, *, only: Sequence[ServiceName] = SERVICES
    ) -> tuple[ServiceStatus, ...]:
        """Stop the services (SIGTERM, then SIGKILL after a grace period), strays included.

        ``only`` limits the stop to some services; the others keep running.

        Raises:
            StackError: a process of this stack survived even SIGKILL.
        """
        chosen = [service for service in SERVICES if service in only]
        if not chosen:
            return self.status()
        with ThreadPoolExecutor(max_workers=len(chosen)) as pool:
            for message in pool.map(self._stop, chosen):
                observer(message)
        left = {service: self._strays(service) for service in chosen}
        if any(left.values()):
            raise StackError(f"processes survived `tracer stack down`: {left}")
        return self.status()

    def _stop(self, service: ServiceName) -> str:
        cfg = self._config
        record = read_pid_record(cfg.pid_path(service))
        groups = {record.pid} if record is not None and group_members(record.pid) else set()
        groups |= {_pgid(pid) for pid in self._strays(service)}
        groups.discard(0)
        clean = all(stop_group(pgid, grace_s=_GRACE_S[service]) for pgid in sorted(groups))
        cfg.pid_path(service).unlink(missing_ok=True)
        if not groups:
            return f"{service}: not running"
        return (
            f"{service}: stopped" if clean else f"{service}: killed after {_GRACE_S[service]:.0f} s"
        )


def _pgid(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return 0


def _refuse_conflicts(statuses: tuple[ServiceStatus, ...], cfg: StackConfig) -> None:
    for status in statuses:
        if status.state == "foreign":
            raise StackError(
                f"{status.address} is already in use by a program not started by `tracer stack`;"
                f" stop it or configure another address for {status.service}"
            )
        if status.state == "stray":
            raise StackError(
                f"a {status.service} of this stack runs without its pid file (pid {status.pid});"
                " run `tracer stack down` first"
            )
    extra = {
        "kafka": (cfg.kafka_host, cfg.controller_port),
        "elasticsearch": (cfg.elasticsearch_host, cfg.transport_port),
    }
    for status in statuses:
        host, port = extra[status.service]
        if status.state == "stopped" and port_open(host, port):
            raise StackError(f"{host}:{port}, needed by {status.service}, is already in use")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False
