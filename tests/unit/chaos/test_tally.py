"""The chaos verdict: expected leads against indexed documents, by lead id and natural key."""

from __future__ import annotations

from typing import Any

import pytest

from tests.chaos.tally import Row, compare


def _lead(n: int, *, source: str = "bank", lead_id: str | None = None) -> dict[str, Any]:
    return {
        "lead_id": lead_id or f"lead-{n}",
        "person_id": f"p{n % 3}",
        "source": source,
        "event_id": f"e{n}",
    }


EXPECTED = [_lead(n) for n in range(6)]

CASES = [
    ("every lead once", EXPECTED, (6, 0, 0)),
    ("one lead never indexed", EXPECTED[1:], (5, 1, 0)),
    ("nothing indexed", [], (0, 6, 0)),
    ("one lead twice", [*EXPECTED, EXPECTED[2]], (6, 0, 1)),
    ("one lead three times", [*EXPECTED, EXPECTED[2], EXPECTED[2]], (6, 0, 2)),
    ("a lead nobody expected", [*EXPECTED, _lead(99)], (6, 0, 1)),
    ("an unexpected lead twice", [*EXPECTED, _lead(99), _lead(99)], (6, 0, 2)),
    # The same event under another source is another lead: unexpected, and not a match.
    ("a lead under the wrong source", [*EXPECTED[1:], _lead(0, source="telecom")], (5, 1, 1)),
    # Natural keys agree, ids do not: derived differently by the stream than by reprocess.
    (
        "ids derived differently",
        [_lead(n, lead_id=f"other-{n}") for n in range(6)],
        (0, 6, 6),
    ),
    # Ids agree, natural keys do not: one document claims another lead's id.
    ("two events under one id", [*EXPECTED[:5], _lead(5, lead_id="lead-4")], (5, 1, 1)),
]


@pytest.mark.parametrize(("description", "documents", "counts"), CASES, ids=[c[0] for c in CASES])
def test_found_missing_and_duplicated(
    description: str, documents: list[dict[str, Any]], counts: tuple[int, int, int]
) -> None:
    result = compare(EXPECTED, documents)
    assert (result.found, result.missing, result.duplicated) == counts, description
    assert result.expected == len(EXPECTED)
    assert result.documents == len(documents)


def test_both_keys_are_reported_apart() -> None:
    documents = [_lead(n, lead_id=f"other-{n}") for n in range(6)]
    result = compare(EXPECTED, documents)
    assert (result.missing_by_id, result.duplicated_by_id) == (6, 6)
    assert (result.missing_by_key, result.duplicated_by_key) == (0, 0)


def test_a_row_passes_only_when_nothing_is_missing_duplicated_or_left_unhandled() -> None:
    clean = compare(EXPECTED, EXPECTED)
    assert Row("kill", 5, 100, clean).passed
    assert not Row("kill", 5, 100, compare(EXPECTED, EXPECTED[1:])).passed
    assert not Row("kill", 5, 100, compare(EXPECTED, [*EXPECTED, EXPECTED[0]])).passed
    assert not Row("hostile", 1, 100, clean, drained=False).passed


def test_a_harness_failure_is_a_failed_row_that_says_why() -> None:
    row = Row.failed("kafka", "harness error: RuntimeError: boom")
    assert not row.passed
    assert row.as_json()["error"] == "harness error: RuntimeError: boom"
    assert row.as_json()["passed"] is False


def test_dead_letters_count_once_per_original_and_repeats_apart() -> None:
    from tests.chaos.harness import reasons

    first = {"reason": "not_json", "topic": "t", "partition": 0, "offset": 5}
    letters = [
        first,
        dict(first),  # redelivered, or dead-lettered by a second group too
        first | {"offset": 6},
        first | {"reason": "oversized"},  # same original, another reason: counted
        {"reason": "(unreadable dead letter)"},
        {"reason": "(unreadable dead letter)"},
    ]
    assert reasons(letters) == (
        {"not_json": 2, "oversized": 1, "(unreadable dead letter)": 2},
        1,
    )
