"""Request helpers shared by the pages and the API: who is asking, from where, what they sent."""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any, Final

from starlette.requests import Request

from review.leads import LeadFilters
from review.service import Invalid, ReviewService
from review.users import User

__all__ = [
    "COOKIE",
    "MAX_BODY",
    "address",
    "csrf_matches",
    "filters_from",
    "service",
    "session_of",
]

COOKIE: Final = "tracer_session"
MAX_BODY: Final = 64 * 1024
_TIERS: Final = frozenset({"high", "medium", "low"})
_STATUSES: Final = frozenset({"new", "reviewing", "confirmed", "rejected", "closed"})
_SOURCES: Final = frozenset({"hukou", "bank", "telecom"})


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
