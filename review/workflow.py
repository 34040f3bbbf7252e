"""The lead's review workflow: which status an action leads to, from which status (pure).

::

    new --claim--> reviewing --decide--> confirmed | rejected --reopen--> reviewing
    (any) --stream's closer--> closed (final)

Confirmed and rejected are final unless a supervisor reopens; ``closed`` comes from the stream
and ends the review. A decision and a reopening carry a note.

    >>> transition("claim", "new")
    'reviewing'
"""

from __future__ import annotations

from typing import Final, Literal

from matchers.errors import TracerError

__all__ = [
    "MAX_NOTE_CHARS",
    "Status",
    "TransitionRefused",
    "Verdict",
    "check_note",
    "transition",
]

Status = Literal["new", "reviewing", "confirmed", "rejected", "closed"]
Verdict = Literal["confirmed", "rejected"]
WorkflowAction = Literal["claim", "decide", "reopen", "reassign"]

MAX_NOTE_CHARS: Final = 2000

_FROM: Final[dict[WorkflowAction, frozenset[str]]] = {
    "claim": frozenset({"new"}),
    "decide": frozenset({"reviewing"}),
    "reopen": frozenset({"confirmed", "rejected"}),
    "reassign": frozenset({"new", "reviewing"}),
}


class TransitionRefused(TracerError):
    """The action does not apply to the lead's status, or its input is wrong (a 409 / 400)."""

    def __init__(self, reason: str, *, status: int = 409) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def transition(action: WorkflowAction, current: str, verdict: str | None = None) -> Status:
    """Return the status ``action`` leads to from ``current``.

    Raises:
        TransitionRefused: the action does not apply to ``current`` (409), or a decision's
            verdict is not ``confirmed`` / ``rejected`` (400).
    """
    if current not in _FROM[action]:
        raise TransitionRefused(f"{action} does not apply to a lead that is {current}")
    if action in {"claim", "reopen"}:
        return "reviewing"
    if action == "reassign":
        return "reviewing" if current == "reviewing" else "new"
    if verdict == "confirmed":
        return "confirmed"
    if verdict == "rejected":
        return "rejected"
    raise TransitionRefused("the verdict must be confirmed or rejected", status=400)


def check_note(note: str | None, *, required: bool) -> str:
    """Return the note stripped, or refuse it (400): missing where required, or too long."""
    text = (note or "").strip()
    if required and not text:
        raise TransitionRefused("a note is required (请填写说明)", status=400)
    if len(text) > MAX_NOTE_CHARS:
        raise TransitionRefused(f"the note is longer than {MAX_NOTE_CHARS} characters", status=400)
    return text
