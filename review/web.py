"""Request helpers shared by the pages and the API: who is asking, from where, what they sent.

What a user sends is parsed here once, whichever way it came: the search filters from query
parameters, a change to a lead from a JSON body (the API) or a form (the pages).

    >>> change_from({"verdict": "confirmed", "seq_no": "7", "primary_term": 1}).seen
    (7, 1)
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from contract import LEAD_STATUSES, SOURCES
from starlette.requests import Request
from starlette.responses import Response

from review.leads import LeadFilters
from review.service import Invalid, ReviewService
from review.users import User

__all__ = [
    "COOKIE",
    "MAX_BODY",
    "Change",
    "address",
    "apply_change",
    "change_from",
    "csrf_matches",
    "filters_from",
    "service",
    "session_of",
    "set_session_cookie",
]

COOKIE: Final = "tracer_session"
MAX_BODY: Final = 64 * 1024
_TIERS: Final = frozenset({"high", "medium", "low"})
_STATUSES: Final = frozenset(LEAD_STATUSES)
_SOURCES: Final = frozenset(SOURCES)


def service(request: Request) -> ReviewService:
    """The app's service."""
    svc: ReviewService = request.app.state.service
    return svc


def address(request: Request) -> str:
    """The client's address (the service listens on loopback or behind a trusted proxy)."""
    return request.client.host if request.client else "-"


async def session_of(request: Request) -> tuple[User, str] | None:
    """The signed-in user and their CSRF token, or ``None``."""
    return await service(request).authenticate(request.cookies.get(COOKIE))


def set_session_cookie(response: Response, svc: ReviewService, cookie: str) -> None:
    """Give the browser its session: script-proof, same-site only, as long as the session."""
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=svc.config.secure_cookie,
        max_age=int(svc.config.session_seconds),
    )


def csrf_matches(expected: str, given: object) -> bool:
    """Whether a submitted CSRF token is the session's (constant time)."""
    return isinstance(given, str) and hmac.compare_digest(expected, given)


def _choice(params: Any, name: str, allowed: frozenset[str]) -> str | None:
    value = str(params.get(name) or "").strip()
    if not value:
        return None
    if value not in allowed:
        raise Invalid(f"{name} must be one of {', '.join(sorted(allowed))}", 400)
    return value


def _date(params: Any, name: str) -> dt.date | None:
    value = str(params.get(name) or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise Invalid(f"{name} must be a date YYYY-MM-DD", 400) from exc


def filters_from(params: Any) -> LeadFilters:
    """Parse search filters from query parameters.

    Raises:
        Invalid: a value outside its closed set, a bad date or page (400).
    """
    try:
        page = int(params.get("page") or 1)
    except ValueError as exc:
        raise Invalid("page must be a number", 400) from exc
    sort = _choice(params, "sort", frozenset({"score", "time"})) or "score"
    return LeadFilters(
        tier=_choice(params, "tier", _TIERS),
        status=_choice(params, "status", _STATUSES),
        source=_choice(params, "source", _SOURCES),
        district=(str(params.get("district") or "").strip()[:100] or None),
        person_id=(str(params.get("person_id") or "").strip()[:128] or None),
        since=_date(params, "since"),
        until=_date(params, "until"),
        text=(str(params.get("q") or "").strip()[:200] or None),
        sort="time" if sort == "time" else "score",
        page=max(1, min(page, 1000)),
    )


@dataclass(frozen=True, slots=True)
class Change:
    """A change to a lead as sent: the free-text fields and the version the user saw."""

    verdict: str | None
    note: str | None
    assignee: str | None
    seen: tuple[int, int] | None


def _text(value: object) -> str | None:
    # A form may carry a file where text belongs: that is no value, not a crash.
    return value if isinstance(value, str) else None


def _number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(value)
    return int(value)


def _seen(seq_no: object, term: object) -> tuple[int, int] | None:
    # Neither sent (or both empty, as a form sends them): the user saw no version.
    if seq_no in (None, "") and term in (None, ""):
        return None
    try:
        return _number(seq_no), _number(term)
    except ValueError as exc:
        raise Invalid("seq_no and primary_term must be numbers", 400) from exc


def change_from(values: Mapping[str, Any]) -> Change:
    """Parse a change from a JSON body or a form (the same names either way).

    Raises:
        Invalid: ``seq_no`` / ``primary_term`` sent but not both numbers (400).
    """
    return Change(
        verdict=_text(values.get("verdict")),
        note=_text(values.get("note")),
        assignee=_text(values.get("assignee")),
        seen=_seen(values.get("seq_no"), values.get("primary_term")),
    )


async def apply_change(request: Request, user: User, values: Mapping[str, Any]) -> dict[str, Any]:
    """Claim, decide, reopen or reassign the request's lead with what the user sent.

    Raises:
        ReviewError: the input, the user's role or districts, or the lead's state refuse it.
    """
    change = change_from(values)
    return await service(request).change(
        user,
        request.path_params["action"],
        request.path_params["lead_id"],
        address(request),
        verdict=change.verdict,
        note=change.note,
        assignee=change.assignee,
        seen=change.seen,
    )
