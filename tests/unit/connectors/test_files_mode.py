"""Files the CLI writes hold personal data: created readable by their owner only."""

from __future__ import annotations

import stat
from pathlib import Path

from connectors.files import JsonlWriter, open_private, write_jsonl


def test_jsonl_files_are_created_0600(tmp_path: Path) -> None:
    path = tmp_path / "out" / "leads.jsonl"
    assert write_jsonl(path, [{"lead_id": "x"}]) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_file_is_narrowed_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "dead.jsonl"
    path.write_text("old\n")
    path.chmod(0o644)
    with JsonlWriter(path) as writer:
        writer.write({"reason": "not_json"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == b'{"reason":"not_json"}\n'


def test_a_resumed_file_keeps_its_first_bytes_and_is_narrowed_to_0600(tmp_path: Path) -> None:
    path = tmp_path / "leads.jsonl"
    path.write_bytes(b"kept\ncut by the checkpoint\n")
    path.chmod(0o644)
    with open_private(path, keep=5) as handle:
        handle.write(b"next\n")
    assert path.read_bytes() == b"kept\nnext\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
