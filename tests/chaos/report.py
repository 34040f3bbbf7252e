"""The chaos table: printed with rich, and written as JSON and Markdown for the notes."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import orjson
from rich.table import Table

from tests.chaos.tally import Row

__all__ = ["HEADERS", "by_word", "markdown", "reason_word", "table", "write"]

HEADERS = (
    "fault",
    "runs",
    "events",
    "expected leads",
    "found",
    "missing",
    "duplicated",
    "dead letters by reason",
    "peak worker RSS",
)


def reason_word(reason: str) -> str:
    """A reason without its detail: at most two ``:`` parts, each cut before `` (``.

    Free-text detail inside a reason (line and column numbers, types) would give every
    message its own row; the closed reason words the contract asks for pass unchanged.

    Example:
        >>> reason_word("not JSON: unexpected end of data: line 1 column 9 (char 8)")
        'not JSON: unexpected end of data'
        >>> reason_word("not a JSON object (got list)"), reason_word("oversized")
        ('not a JSON object', 'oversized')
    """
    parts = [part.split(" (", 1)[0].strip() for part in reason.split(":")[:2]]
    return ": ".join(part for part in parts if part) or reason


def by_word(reasons: dict[str, int]) -> dict[str, int]:
    """Counts of raw reasons summed by their machine word (the table's column)."""
    words: Counter[str] = Counter()
    for reason, n in reasons.items():
        words[reason_word(reason)] += n
    return dict(words)


def _cells(row: Row, *, sep: str) -> list[str]:
    c = row.comparison
    grouped = sorted(by_word(row.dead_letters).items())
    letters = sep.join(f"{reason} {n:,}" for reason, n in grouped)
    rss = "-" if row.peak_rss_mb is None else f"{row.peak_rss_mb:,.0f} MB"
    return [
        row.fault,
        str(row.runs),
        f"{row.events:,}",
        f"{c.expected:,}",
        f"{c.found:,}",
        f"{c.missing:,}",
        f"{c.duplicated:,}",
        letters or "-",
        rss,
    ]


def table(rows: Sequence[Row]) -> Table:
    """The rows as a rich table; failed rows in red."""
    grid = Table(title="make chaos", show_lines=True)
    for header in HEADERS:
        grid.add_column(header, justify="left" if header.startswith(("fault", "dead")) else "right")
    for row in rows:
        grid.add_row(*_cells(row, sep="\n"), style=None if row.passed else "red")
    return grid


def markdown(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table, with each row's notes below it."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_cells(row, sep="<br>")) + " |" for row in rows]
    lines.append("")
    for row in rows:
        verdict = "passed" if row.passed else "FAILED"
        lines.append(f"- **{row.fault}** ({verdict}, {row.seconds:.0f} s): " + "; ".join(row.notes))
    return "\n".join(lines) + "\n"


def write(rows: Sequence[Row], folder: Path, *, sizes: dict[str, object]) -> tuple[Path, Path]:
    """Write ``chaos.json`` and ``chaos.md`` into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    document = {
        "finished_at": stamp,
        "sizes": sizes,
        "passed": all(row.passed for row in rows),
        "rows": [row.as_json() for row in rows],
    }
    json_path = folder / "chaos.json"
    json_path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    md_path = folder / "chaos.md"
    md_path.write_text(f"# make chaos, {stamp}\n\n" + markdown(rows), encoding="utf-8")
    return json_path, md_path
