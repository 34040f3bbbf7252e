"""The verdict of one fault run: the leads Elasticsearch holds against those reprocess expects.

Pure: it gets the expected leads (``tracer reprocess`` output) and the indexed documents as
dicts and counts, it never talks to a service. Two keys are compared, so that a change in how
``lead_id`` is derived (say, ``source`` joining its namespace) cannot hide a loss or a copy:

* ``lead_id``: the id both paths derive;
* the *natural key* ``(person_id, source, event_id)``: what a lead is about.

*Missing* is an expected lead with no document; *duplicated* is every document beyond the first
for one key plus every document whose key was not expected. Each is the larger of the two counts.

Example:
    >>> want = [{"lead_id": "a", "person_id": "p", "source": "bank", "event_id": "e"}]
    >>> got = want + want
    >>> c = compare(want, got)
    >>> c.found, c.missing, c.duplicated
    (1, 0, 1)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Comparison", "FaultName", "Row", "compare", "natural_key"]

FaultName = Literal["kill", "kafka", "elasticsearch", "two-workers", "hostile", "smoke"]

NaturalKey = tuple[str, str, str]


def natural_key(lead: Mapping[str, Any]) -> NaturalKey:
    """Return ``(person_id, source, event_id)`` of a lead, ``""`` for an absent field."""
    return (
        str(lead.get("person_id", "")),
        str(lead.get("source", "")),
        str(lead.get("event_id", "")),
    )


@dataclass(frozen=True)
class Comparison:
    """Expected against indexed leads, by ``lead_id`` and by natural key."""

    expected: int
    documents: int
    found: int
    missing: int
    duplicated: int
    missing_by_id: int
    duplicated_by_id: int
    missing_by_key: int
    duplicated_by_key: int


def _counts(want: set[Any], got: Counter[Any]) -> tuple[int, int, int]:
    """Return (found, missing, duplicated) of the ``want`` keys among the ``got`` documents."""
    found = len(want & got.keys())
    copies = sum(n - 1 for key, n in got.items() if key in want)
    unexpected = sum(n for key, n in got.items() if key not in want)
    return found, len(want) - found, copies + unexpected


def compare(
    expected: Iterable[Mapping[str, Any]], documents: Iterable[Mapping[str, Any]]
) -> Comparison:
    """Compare the expected leads with the indexed documents (see the module docstring)."""
    want = list(expected)
    docs = list(documents)
    by_id = _counts({str(x["lead_id"]) for x in want}, Counter(str(d.get("lead_id")) for d in docs))
    by_key = _counts({natural_key(x) for x in want}, Counter(natural_key(d) for d in docs))
    return Comparison(
        expected=len(want),
        documents=len(docs),
        found=min(by_id[0], by_key[0]),
        missing=max(by_id[1], by_key[1]),
        duplicated=max(by_id[2], by_key[2]),
        missing_by_id=by_id[1],
        duplicated_by_id=by_id[2],
        missing_by_key=by_key[1],
        duplicated_by_key=by_key[2],
    )


@dataclass
class Row:
    """One line of the chaos table: a fault, what went in, what came out, and what it cost."""

    fault: FaultName
    runs: int
    events: int
    comparison: Comparison
    dead_letters: dict[str, int] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    sigterm_s: dict[str, float | None] = field(default_factory=dict)
    """How long SIGTERM took to stop a worker, by the state it was in (``None``: killed)."""
    drained: bool = True
    error: str | None = None

    @classmethod
    def failed(cls, fault: FaultName, error: str) -> Row:
        """A row for a run the harness could not finish: it fails whatever it counted."""
        return cls(fault, 0, 0, compare([], []), drained=False, error=error, notes=[error])

    @property
    def passed(self) -> bool:
        """No lead missing, none duplicated, and nothing left unhandled.

        A run that did not drain (the group never committed every event: a stuck worker)
        fails even when no lead was missing yet: the events behind the stuck one were never
        matched, so their dead letters and any lead among them are missing.
        """
        ok = self.comparison.missing == 0 and self.comparison.duplicated == 0
        return ok and self.drained and self.error is None

    def as_json(self) -> dict[str, Any]:
        """The row as plain JSON values."""
        return {
            "fault": self.fault,
            "runs": self.runs,
            "events": self.events,
            **asdict(self.comparison),
            "dead_letters": dict(sorted(self.dead_letters.items())),
            "peak_rss_mb": self.peak_rss_mb,
            "seconds": round(self.seconds, 1),
            "sigterm_s": self.sigterm_s,
            "drained": self.drained,
            "passed": self.passed,
            "error": self.error,
            "notes": self.notes,
        }
