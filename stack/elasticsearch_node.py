"""A single Elasticsearch node from the integ-test-zip, for local development only.

Settings chosen on purpose:

- ``discovery.type: single-node`` on loopback: no cluster formation, no production bootstrap
  checks (those apply once a node binds beyond loopback).
- ``xpack.security.enabled: false``: a development node on 127.0.0.1 without TLS or passwords,
  so tests and tools need no credentials. docker-compose runs Elasticsearch with security on;
  never expose this node beyond loopback.
- ``cluster.routing.allocation.disk.threshold_enabled: false``: a nearly full development disk
  must not flip every index to read-only halfway through a test run.
- ML and GeoIP downloads are switched off when their modules exist in the distribution (the
  integ-test-zip has neither, and an unknown setting would stop the node from starting).

Elasticsearch refuses to run as root: when we are root it runs as a system user (``tracer-es``,
created with ``useradd`` when missing) that owns the unpacked distribution and the data.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from connectors.errors import StackError

from stack.layout import StackConfig

__all__ = [
    "elasticsearch_env",
    "ensure_service_user",
    "installed_modules",
    "prepare_node",
    "render_elasticsearch_yml",
    "run_command",
]


def render_elasticsearch_yml(
    *,
    host: str,
    http_port: int,
    transport_port: int,
    data_dir: Path,
    logs_dir: Path,
    modules: Iterable[str] = (),
) -> str:
    """Return ``elasticsearch.yml`` for a loopback single-node development node (pure)."""
    present = set(modules)
    settings: dict[str, object] = {
        "cluster.name": "tracer-local",
        "node.name": "tracer-local-1",
        "path.data": str(data_dir),
        "path.logs": str(logs_dir),
        "network.host": host,
        "http.port": http_port,
        "transport.port": transport_port,
        "discovery.type": "single-node",
        "cluster.routing.allocation.disk.threshold_enabled": False,
        "action.destructive_requires_name": True,
    }
    if "x-pack-security" in present:
        settings["xpack.security.enabled"] = False
    if "x-pack-ml" in present:
        settings["xpack.ml.enabled"] = False
    if "ingest-geoip" in present:
        settings["ingest.geoip.downloader.enabled"] = False
    lines = ["# Rendered by `tracer stack up`; edits are overwritten on the next start."]
    # JSON scalars are valid YAML scalars, quoted where a path or name needs it.
    lines += [f"{key}: {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def installed_modules(home: Path) -> frozenset[str]:
    """Return the names of the modules shipped in the distribution at ``home``."""
    modules = home / "modules"
    if not modules.is_dir():
        return frozenset()
    return frozenset(entry.name for entry in modules.iterdir() if entry.is_dir())


def ensure_service_user(name: str) -> str | None:
    """Return the account to run Elasticsearch as: ``None`` when we are not root.

    As root, create the system user ``name`` (no home, no login shell) when it is missing.

    Raises:
        StackError: the user could not be created.
    """
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
        return name
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if not useradd:
        raise StackError(
            f"Elasticsearch cannot run as root and useradd is missing to create {name!r}"
        )
    command = [
        useradd,
        "--system",
        "--user-group",
        "--no-create-home",
        "--shell",
        "/usr/sbin/nologin",
        name,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise StackError(f"could not create the user {name!r}: {result.stderr.strip()}")
    return name


def _chown_tree(root: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(root, entry.pw_uid, entry.pw_gid)
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.chown(Path(folder) / name, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def prepare_node(config: StackConfig, user: str | None) -> None:
    """Write the node's configuration and hand its folders to ``user`` (when given).

    Raises:
        StackError: the service user cannot reach the stack folder.
    """
    home = config.elasticsearch_home
    for folder in (config.elasticsearch_data_dir, config.elasticsearch_logs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    text = render_elasticsearch_yml(
        host=config.elasticsearch_host,
        http_port=config.elasticsearch_port,
        transport_port=config.transport_port,
        data_dir=config.elasticsearch_data_dir,
        logs_dir=config.elasticsearch_logs_dir,
        modules=installed_modules(home),
    )
    (home / "config" / "elasticsearch.yml").write_text(text, encoding="utf-8")
    if user is None:
        return
    _check_reachable(home, user)
    # The keystore, GC logs and data are written at run time: the user must own them. A walk
    # over a few thousand small-stack files costs milliseconds, so it is simply done each time.
    for tree in (home, config.elasticsearch_data_dir.parent):
        _chown_tree(tree, user)


def _check_reachable(home: Path, user: str) -> None:
    for parent in home.parents:
        if parent.stat().st_mode & 0o001 == 0 and parent != Path("/"):
            raise StackError(
                f"the user {user!r} cannot enter {parent} (no x permission for others);"
                " put the stack directory elsewhere (TRACER_STACK_DIR)"
            )


def elasticsearch_env(
    config: StackConfig, java_home: Path, *, cli_archive: Path | None = None
) -> dict[str, str]:
    """Return the node's environment: explicit and small, nothing inherited by accident.

    With ``cli_archive`` (JDK 19+), the short-lived launcher JVM that computes the server's
    options keeps a class-data archive there and runs JIT tier 1 only: it starts faster and
    takes less CPU from a busy machine. The server JVM gets no archive: it patches ``java.base``
    for its entitlement checks, which switches class-data sharing off anyway.
    """
    env = {
        "ES_JAVA_HOME": str(java_home),
        # No pre-touching of the heap (ES's default): a dev node need not commit it all up front.
        "ES_JAVA_OPTS": (
            f"-Xms{config.elasticsearch_heap} -Xmx{config.elasticsearch_heap} -XX:-AlwaysPreTouch"
        ),
        "HOME": str(config.elasticsearch_home),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    if cli_archive is not None:
        env["CLI_JAVA_OPTS"] = (
            "-XX:TieredStopAtLevel=1 -XX:+AutoCreateSharedArchive"
            f" -XX:SharedArchiveFile={cli_archive}"
        )
    return env


def run_command(config: StackConfig) -> list[str]:
    """Return the command that runs the node in the foreground."""
    return [str(config.elasticsearch_home / "bin" / "elasticsearch")]
