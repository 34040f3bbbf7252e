"""The chaos table as JSON and Markdown, and the reason words its column groups by."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from rich.console import Console

from tests.chaos.report import by_word, markdown, reason_word, table, write
from tests.chaos.tally import Row, compare

LEADS = [
    {"lead_id": f"l{n}", "person_id": "p", "source": "bank", "event_id": f"e{n}"} for n in range(4)
]


def _rows() -> list[Row]:
    good = Row("kill", 5, 1000, compare(LEADS, LEADS), {"oversized": 2}, 181.5)
    bad = Row("hostile", 1, 2000, compare(LEADS, LEADS[:1]), {"not JSON: x: 1": 3}, 222.0)
    return [good, bad]


@pytest.mark.parametrize(
    ("reason", "word"),
    [
        ("oversized", "oversized"),
        (
            "not JSON: unexpected end of data: line 1 column 9 (char 8)",
            "not JSON: unexpected end of data",
        ),
        ("not a JSON object (got list)", "not a JSON object"),
        ("event_id: missing", "event_id: missing"),
        ("not UTF-8: invalid byte at offset 14", "not UTF-8: invalid byte at offset 14"),
    ],
)
def test_reason_words_drop_the_detail(reason: str, word: str) -> None:
    assert reason_word(reason) == word


def test_reasons_are_summed_by_word() -> None:
    raw = {"not JSON: eof: line 1": 2, "not JSON: eof: line 7": 3, "oversized": 1}
    assert by_word(raw) == {"not JSON: eof": 5, "oversized": 1}


def test_markdown_has_a_line_per_row_with_its_counts_and_verdict() -> None:
    text = markdown(_rows())
    lines = text.splitlines()
    assert lines[0].startswith("| fault | runs | events | expected leads | found | missing |")
    assert "| kill | 5 | 1,000 | 4 | 4 | 0 | 0 | oversized 2 | 182 MB |" in lines
    assert "| hostile | 1 | 2,000 | 4 | 1 | 3 | 0 | not JSON: x 3 | 222 MB |" in lines
    assert "- **hostile** (FAILED" in text and "- **kill** (passed" in text


def test_the_rich_table_renders_every_row() -> None:
    console = Console(width=200, record=True)
    console.print(table(_rows()))
    text = console.export_text()
    assert "kill" in text and "hostile" in text and "peak worker RSS" in text


def test_json_and_markdown_files_are_written(tmp_path: Path) -> None:
    json_path, md_path = write(_rows(), tmp_path / "out", sizes={"events": 1000})
    document = orjson.loads(json_path.read_bytes())
    assert document["passed"] is False
    assert [r["fault"] for r in document["rows"]] == ["kill", "hostile"]
    assert document["rows"][1]["missing"] == 3
    assert document["sizes"] == {"events": 1000}
    assert md_path.read_text().startswith("# make chaos, ")
