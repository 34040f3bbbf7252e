"""The Starlette app of the review service: pages, the JSON API, headers, service errors.

:func:`build_app` takes a :class:`~review.service.ReviewService` built by the caller
(``tracer serve``, or a test with its own index names); the app's lifespan makes sure the users
and audit indices exist, starts the audit mirror and, on shutdown, drains it for a few seconds
and closes the Elasticsearch client (the app owns it from then on).
A service that is down answers 503 with which one, logged without values.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from connectors.errors import ConnectorError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from review.api import api_routes
from review.pages import page_routes, render
from review.service import ReviewService

__all__ = ["build_app"]

log = logging.getLogger(__name__)

# The pages load nothing from elsewhere: no script at all, styles inline in one <style> block.
_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
_UNAVAILABLE = "服务暂不可用，请稍后再试 / A service is unavailable; try again shortly"


def build_app(service: ReviewService) -> Starlette:
    """Return the ASGI app around ``service``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await service.users.ensure()
        await service.trail.ensure()
        service.trail.start()
        try:
            yield
        finally:
            await service.trail.close()
            await service.client.close()

    app = Starlette(
        routes=[*page_routes(), *api_routes()],
        lifespan=lifespan,
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=_headers)],
        exception_handlers={ConnectorError: _unavailable},
    )
    app.state.service = service
    return app


async def _headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _unavailable(request: Request, exc: Exception) -> Response:
    log.error("review: %s on %s %s", type(exc).__name__, request.method, request.url.path)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": _UNAVAILABLE}, status_code=503)
    return render("error.html", 503, user=None, csrf="", reason=_UNAVAILABLE)
