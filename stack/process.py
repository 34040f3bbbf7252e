"""Detached processes, pid files, ports: the operating-system side of the local stack.

Processes are started in their own session (``start_new_session``), so each service is one
process group: the JVM launchers and their children stop together with one ``killpg``.
Liveness reads ``/proc`` instead of ``kill(pid, 0)`` because the init process of some
containers never reaps orphans, and a zombie answers ``kill`` as if it were alive.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "PidRecord",
    "group_members",
    "port_open",
    "process_alive",
    "processes_matching",
    "read_pid_record",
    "spawn_detached",
    "stop_group",
    "write_pid_record",
]

_PROC = Path("/proc")
# Logs are appended across restarts; past this size the old one is kept once as ``.log.1``.
_ROTATE_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class PidRecord:
    """What a pid file says about a started service."""

    service: str
    pid: int
    version: str
    address: str
    log: str
    started_at: float


def write_pid_record(path: Path, record: PidRecord) -> None:
    """Write ``record`` as JSON, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record)), encoding="utf-8")
    tmp.replace(path)


def read_pid_record(path: Path) -> PidRecord | None:
    """Return the record in ``path``, or ``None`` when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return PidRecord(**data)
    except (OSError, ValueError, TypeError):
        return None


def port_open(host: str, port: int, *, timeout_s: float = 0.5) -> bool:
    """Return whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rfind(")") + 2 :].split()


def process_alive(pid: int) -> bool:
    """Return whether ``pid`` exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in {"Z", "X"}


def _all_pids() -> list[int]:
    return [int(entry.name) for entry in _PROC.iterdir() if entry.name.isdigit()]


def group_members(pgid: int) -> list[int]:
    """Return the live (non-zombie) processes of process group ``pgid``."""
    members = []
    for pid in _all_pids():
        fields = _stat_fields(pid)
        # After the state come ppid, then pgrp.
        if fields and fields[0] not in {"Z", "X"} and int(fields[2]) == pgid:
            members.append(pid)
    return members


def processes_matching(*needles: str) -> list[int]:
    """Return live processes whose command line contains every one of ``needles``."""
    found = []
    for pid in _all_pids():
        if pid == os.getpid():
            continue
        try:
            cmdline = (_PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        text = cmdline.decode("utf-8", errors="replace")
        if all(needle in text for needle in needles) and process_alive(pid):
            found.append(pid)
    return sorted(found)


def spawn_detached(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session with stdout and stderr appended to ``log_path``.

    ``user`` switches to that account in the child before exec (Elasticsearch refuses root).
    Doing it here rather than through ``runuser`` keeps one process tree without a PAM
    session in between, so the pid we record is the group we later stop.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.is_file() and log_path.stat().st_size > _ROTATE_BYTES:
        log_path.replace(log_path.with_name(log_path.name + ".1"))
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            user=user,
            group=user,
            extra_groups=[] if user else None,
        )


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_group(pgid: int, *, grace_s: float = 30.0, poll_s: float = 0.2) -> bool:
    """Stop process group ``pgid``: SIGTERM, wait up to ``grace_s``, then SIGKILL.

    Returns:
        ``True`` when the group stopped on SIGTERM, ``False`` when it had to be killed.
    """
    if not group_members(pgid):
        return True
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not group_members(pgid):
            return True
        time.sleep(poll_s)
    _signal_group(pgid, signal.SIGKILL)
    kill_deadline = time.monotonic() + 5.0
    while group_members(pgid) and time.monotonic() < kill_deadline:
        time.sleep(poll_s)
    return False
