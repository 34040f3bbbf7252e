"""The JSON API under ``/api/``: the same actions as the pages.

Sign in with ``POST /api/login`` (``{"username", "password"}``): the answer sets the session
cookie and carries ``csrf_token``, which every later ``POST`` sends as ``X-CSRF-Token``.
Errors are ``{"error": reason}`` with the status of :class:`~review.service.ReviewError`
(401 not signed in, 403 refused, 400 / 409 invalid, 429 limited).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from review.service import Invalid, ReviewError
from review.users import User
from review.web import (
    COOKIE,
    MAX_BODY,
    address,
    apply_change,
    csrf_matches,
    filters_from,
    service,
    session_of,
    set_session_cookie,
)

__all__ = ["api_routes"]


def _fail(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise Invalid("the request body is too large", 413)
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise Invalid("the body must be a JSON object", 400) from exc
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object", 400)
    return body


async def _user(request: Request, *, post: bool) -> User | JSONResponse:
    found = await session_of(request)
    if found is None:
        return _fail(401, "请先登录 / sign in first")
    user, csrf = found
    if post and not csrf_matches(csrf, request.headers.get("x-csrf-token")):
        await service(request).audit(user, "csrf", "refused", address(request), reason="csrf")
        return _fail(403, "CSRF 校验失败 / CSRF check failed")
    return user


async def login(request: Request) -> Response:
    """Start a session; answer the CSRF token."""
    svc = service(request)
    try:
        body = await _body(request)
        user, cookie = await svc.login(
            str(body.get("username") or ""), str(body.get("password") or ""), address(request)
        )
    except ReviewError as exc:
        return _fail(exc.status, exc.reason)
    session = svc.codec.read(cookie)
    assert session is not None  # just issued
    response = JSONResponse(
        {
            "username": user.username,
            "role": user.role,
            "districts": list(user.districts),
            "csrf_token": svc.codec.csrf_token(session.sid),
        }
    )
    set_session_cookie(response, svc, cookie)
    return response


async def leads(request: Request) -> Response:
    """Search: the page's filters as query parameters."""
    user = await _user(request, post=False)
    if isinstance(user, JSONResponse):
        return user
    try:
        filters = filters_from(request.query_params)
        total, found = await service(request).search(user, filters, address(request))
    except ReviewError as exc:
        return _fail(exc.status, exc.reason)
    return JSONResponse({"total": total, "page": filters.page, "leads": found})


async def lead(request: Request) -> Response:
    """One lead, its version and the person's other leads."""
    user = await _user(request, post=False)
    if isinstance(user, JSONResponse):
        return user
    try:
        hit, timeline = await service(request).view(
            user, request.path_params["lead_id"], address(request)
        )
    except ReviewError as exc:
        return _fail(exc.status, exc.reason)
    version = {"seq_no": hit.seq_no, "primary_term": hit.primary_term}
    return JSONResponse({"lead": hit.lead, "version": version, "timeline": timeline})


async def lead_action(request: Request) -> Response:
    """``reveal``, ``claim``, ``decide`` (verdict, note), ``reopen`` (note), ``reassign``."""
    user = await _user(request, post=True)
    if isinstance(user, JSONResponse):
        return user
    svc, lead_id = service(request), request.path_params["lead_id"]
    try:
        body = await _body(request)
        if request.path_params["action"] == "reveal":
            return JSONResponse({"numbers": await svc.reveal(user, lead_id, address(request))})
        changed = await apply_change(request, user, body)
    except ReviewError as exc:
        return _fail(exc.status, exc.reason)
    return JSONResponse(changed)


async def queue(request: Request) -> Response:
    """The user's queue."""
    user = await _user(request, post=False)
    if isinstance(user, JSONResponse):
        return user
    try:
        return JSONResponse({"leads": await service(request).queue(user, address(request))})
    except ReviewError as exc:
        return _fail(exc.status, exc.reason)


async def audit(request: Request) -> Response:
    """The audit trail (auditors): ``actor``, ``action``, ``lead_id``, ``since``, ``until``."""
    user = await _user(request, post=False)
    if isinstance(user, JSONResponse):
        return user
    try:
        entries = await service(request).audit_search(
            user, dict(request.query_params), address(request)
        )
    except ReviewError as exc:
        return _fail(exc.status, exc.reason)
    return JSONResponse({"entries": entries})


async def users(request: Request) -> Response:
    """The users (administrators); changes go through ``tracer users``."""
    user = await _user(request, post=False)
    if isinstance(user, JSONResponse):
        return user
    try:
        found = await service(request).list_users(user, address(request))
    except ReviewError as exc:
        return _fail(exc.status, exc.reason)
    keys = ("username", "role", "districts", "disabled", "created_at")
    return JSONResponse({"users": [{k: getattr(u, k) for k in keys} for u in found]})


async def logout(request: Request) -> Response:
    """End the session."""
    user = await _user(request, post=True)
    if isinstance(user, JSONResponse):
        return user
    await service(request).audit(user, "logout", "allowed", address(request))
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE)
    return response


def api_routes() -> list[Route]:
    """The API's routes."""
    return [
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
        Route("/api/leads", leads),
        Route("/api/leads/{lead_id}", lead),
        Route("/api/leads/{lead_id}/{action}", lead_action, methods=["POST"]),
        Route("/api/queue", queue),
        Route("/api/audit", audit),
        Route("/api/users", users),
    ]
