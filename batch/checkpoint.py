"""Checkpoints: where an interrupted job starts again, written atomically.

A checkpoint is one JSON object: the ``run_id``, what the job reads (``inputs``: the files
and their sizes, or the topics and the time range) and with which model, the position after
the last chunk whose leads and rejects are on disk (``position``), the outputs' sizes at that
moment (``sizes``: bytes of each output, truncated back to them on resume) and the counts so
far. It is written to a temporary file, synced, then renamed over the old one, so a SIGKILL
at any moment leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
from connectors.errors import InputFileError

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]


@dataclass
class Checkpoint:
    """The state of a job after its last durable chunk.

    Attributes:
        run_id: the run's id (kept on resume: the leads carry it).
        inputs: what the job reads; a resume with other inputs is refused.
        position: the source's position after the last durable chunk.
        sizes: each output's size in bytes at that moment (``leads``, ``rejects``).
        counts: the job's counters so far.
        sinks: each output's own counts so far (Elasticsearch's created, refreshed, ...).
        done: the job ran to its end.
    """

    run_id: str
    inputs: dict[str, Any]
    position: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    sinks: dict[str, dict[str, int]] = field(default_factory=dict)
    done: bool = False


def save_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Replace the checkpoint at ``path`` atomically (write, sync, rename).

    Raises:
        InputFileError: it cannot be written.
    """
    temporary = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with temporary.open("wb") as handle:
            handle.write(orjson.dumps(asdict(checkpoint), option=orjson.OPT_SORT_KEYS))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise InputFileError(f"{path}: cannot write the checkpoint ({exc.strerror})") from exc


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint back.

    Raises:
        InputFileError: missing, unreadable, or not a checkpoint.
    """
    try:
        value = orjson.loads(path.read_bytes())
        return Checkpoint(**value)
    except FileNotFoundError as exc:
        raise InputFileError(f"{path}: no checkpoint to resume from") from exc
    except (OSError, orjson.JSONDecodeError, TypeError) as exc:
        raise InputFileError(f"{path}: not a readable checkpoint") from exc
