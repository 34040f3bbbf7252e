"""The server-rendered pages: login, search, a lead, the queue, the audit trail.

Chinese first, English beside it. Every form carries the session's CSRF token (the login form a
double-submit one); every page's data comes from one :class:`~review.service.ReviewService`
call, which checks the role and districts and writes the audit record.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from review.leads import PAGE_SIZE
from review.roles import allowed
from review.service import ReviewError, ReviewService
from review.users import User
from review.views import FIELD_LABELS, LEVEL_LABELS, STATUS_LABELS, waterfall
from review.web import (
    COOKIE,
    address,
    apply_change,
    csrf_matches,
    filters_from,
    service,
    session_of,
    set_session_cookie,
)

__all__ = ["page_routes", "render"]

_LOGIN_COOKIE: Final = "tracer_login"
_CSRF_FAILED: Final = "CSRF 校验失败 / CSRF check failed"
_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
_ENV.globals |= {"FIELDS": FIELD_LABELS, "LEVELS": LEVEL_LABELS, "STATUSES": STATUS_LABELS}
_HOME: Final = {"officer": "/leads", "supervisor": "/leads", "auditor": "/audit", "admin": "/users"}


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render a template (autoescaped) into a response."""
    return HTMLResponse(_ENV.get_template(name).render(**context), status_code=status)


def _error(exc: ReviewError, user: User | None, csrf: str = "") -> HTMLResponse:
    return render("error.html", exc.status, user=user, csrf=csrf, reason=exc.reason)


async def login_page(request: Request) -> Response:
    """The login form (sets the double-submit cookie its CSRF token is bound to)."""
    nonce = secrets.token_urlsafe(16)
    token = service(request).codec.csrf_token(f"login|{nonce}")
    response = render("login.html", user=None, csrf=token, error=None)
    response.set_cookie(_LOGIN_COOKIE, nonce, httponly=True, samesite="strict", max_age=900)
    return response


async def login_submit(request: Request) -> Response:
    """Check the form's CSRF token and the password; start a session."""
    svc = service(request)
    form = await request.form()
    nonce = request.cookies.get(_LOGIN_COOKIE, "")
    if not nonce or not csrf_matches(svc.codec.csrf_token(f"login|{nonce}"), form.get("csrf")):
        await svc.audit(None, "login", "refused", address(request), reason="csrf")
        return render("error.html", 403, user=None, csrf="", reason=_CSRF_FAILED)
    try:
        user, cookie = await svc.login(
            str(form.get("username") or ""), str(form.get("password") or ""), address(request)
        )
    except ReviewError as exc:
        token = str(form.get("csrf"))
        return render("login.html", exc.status, user=None, csrf=token, error=exc.reason)
    response = RedirectResponse(_HOME[user.role], status_code=303)
    set_session_cookie(response, svc, cookie)
    response.delete_cookie(_LOGIN_COOKIE)
    return response


async def _csrf_refused(request: Request, user: User, csrf: str) -> Response:
    await service(request).audit(user, "csrf", "refused", address(request), reason="csrf")
    return render("error.html", 403, user=user, csrf=csrf, reason=_CSRF_FAILED)


async def _signed_in(request: Request) -> tuple[User, str] | Response:
    found = await session_of(request)
    return found if found is not None else RedirectResponse("/login", status_code=303)


async def _signed_in_post(request: Request) -> tuple[User, str, FormData] | Response:
    """A form a signed-in user sent, with their session's CSRF token (else the answer to give)."""
    found = await _signed_in(request)
    if isinstance(found, Response):
        return found
    user, csrf = found
    form = await request.form()
    if not csrf_matches(csrf, form.get("csrf")):
        return await _csrf_refused(request, user, csrf)
    return user, csrf, form


async def _user_page(
    request: Request,
    template: str,
    fetch: Callable[[ReviewService, User], Awaitable[dict[str, Any]]],
) -> Response:
    """A signed-in user's page: its data from one service call, or the error page."""
    found = await _signed_in(request)
    if isinstance(found, Response):
        return found
    user, csrf = found
    try:
        context = await fetch(service(request), user)
    except ReviewError as exc:
        return _error(exc, user, csrf)
    return render(template, user=user, csrf=csrf, **context)


async def logout(request: Request) -> Response:
    """End the session (a POST with the CSRF token)."""
    found = await _signed_in_post(request)
    if isinstance(found, Response):
        return found
    user, _csrf, _form = found
    await service(request).audit(user, "logout", "allowed", address(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


async def home(request: Request) -> Response:
    """Send a user to their role's first page."""
    found = await _signed_in(request)
    return found if isinstance(found, Response) else RedirectResponse(_HOME[found[0].role], 303)


async def leads_page(request: Request) -> Response:
    """The search page."""

    async def fetch(svc: ReviewService, user: User) -> dict[str, Any]:
        filters = filters_from(request.query_params)
        total, leads = await svc.search(user, filters, address(request))
        params = dict(request.query_params)
        return {
            "f": filters,
            "total": total,
            "leads": leads,
            "page_size": PAGE_SIZE,
            "params": params,
        }

    return await _user_page(request, "search.html", fetch)


async def lead_page(request: Request, revealed: dict[str, str] | None = None) -> Response:
    """One lead laid out for a decision."""
    found = await _signed_in(request)
    if isinstance(found, Response):
        return found
    user, csrf = found
    lead_id = request.path_params["lead_id"]
    try:
        hit, timeline = await service(request).view(user, lead_id, address(request))
    except ReviewError as exc:
        return _error(exc, user, csrf)
    fields = hit.lead.get("explanation", {}).get("fields", [])
    return render(
        "lead.html",
        user=user,
        csrf=csrf,
        hit=hit,
        lead=hit.lead,
        rows=waterfall(fields),
        timeline=timeline,
        revealed=revealed,
        can=lambda action: allowed(user.role, action),
    )


async def lead_action(request: Request) -> Response:
    """Reveal, claim, decide, reopen or reassign from the lead page's forms."""
    found = await _signed_in_post(request)
    if isinstance(found, Response):
        return found
    user, csrf, form = found
    lead_id = request.path_params["lead_id"]
    try:
        if request.path_params["action"] == "reveal":
            numbers = await service(request).reveal(user, lead_id, address(request))
            return await lead_page(request, revealed=numbers)
        await apply_change(request, user, form)
    except ReviewError as exc:
        return _error(exc, user, csrf)
    return RedirectResponse(f"/leads/{lead_id}", status_code=303)


async def queue_page(request: Request) -> Response:
    """The user's own queue."""

    async def fetch(svc: ReviewService, user: User) -> dict[str, Any]:
        return {"leads": await svc.queue(user, address(request))}

    return await _user_page(request, "queue.html", fetch)


async def audit_page(request: Request) -> Response:
    """The audit trail, for auditors."""
    params = dict(request.query_params)

    async def fetch(svc: ReviewService, user: User) -> dict[str, Any]:
        return {"entries": await svc.audit_search(user, params, address(request)), "params": params}

    return await _user_page(request, "audit.html", fetch)


async def users_page(request: Request) -> Response:
    """The users, for administrators (changes go through ``tracer users``)."""

    async def fetch(svc: ReviewService, user: User) -> dict[str, Any]:
        return {"users": await svc.list_users(user, address(request))}

    return await _user_page(request, "users.html", fetch)


def page_routes() -> list[Route]:
    """The pages' routes."""
    return [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/leads", leads_page),
        Route("/leads/{lead_id}", lead_page),
        Route("/leads/{lead_id}/{action}", lead_action, methods=["POST"]),
        Route("/queue", queue_page),
        Route("/audit", audit_page),
        Route("/users", users_page),
    ]
