"""Who may do what: the role x action matrix, in one table.

Every request names one action; :func:`allowed` is the only place that decides. Leads are
further scoped by district (``leads.py``): a role that may ``view`` sees only its districts.

    >>> allowed("officer", "reveal"), allowed("auditor", "view")
    (True, False)
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = ["ACTIONS", "MATRIX", "ROLES", "Action", "Role", "allowed"]

Role = Literal["officer", "supervisor", "auditor", "admin"]
Action = Literal[
    "search",  # list leads with filters
    "view",  # one lead, its explanation and the person's other leads
    "queue",  # one's own queue
    "reveal",  # the full id / phone / card of a lead's event
    "claim",  # new -> reviewing
    "decide",  # reviewing -> confirmed | rejected, with a note
    "reopen",  # confirmed | rejected -> reviewing
    "reassign",  # give a lead to another officer
    "audit_read",  # query the audit trail
    "users_manage",  # add, list, disable users
]

ROLES: Final[tuple[Role, ...]] = get_args(Role)
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)

# Officers work leads; supervisors oversee them (reopen, reassign) but see numbers only through
# the officers of the district (no reveal); auditors read the trail and nothing else;
# administrators manage users and see no lead.
MATRIX: Final[dict[Role, frozenset[Action]]] = {
    "officer": frozenset({"search", "view", "queue", "reveal", "claim", "decide"}),
    "supervisor": frozenset({"search", "view", "queue", "claim", "decide", "reopen", "reassign"}),
    "auditor": frozenset({"audit_read"}),
    "admin": frozenset({"users_manage"}),
}


def allowed(role: str, action: str) -> bool:
    """Whether ``role`` may do ``action``; an unknown role or action may do nothing."""
    return action in MATRIX.get(role, frozenset())  # type: ignore[call-overload]
