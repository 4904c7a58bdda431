"""The management listener's ASGI app: the API, the dashboard and `/metrics` composed, with
racker's one table of errors to HTTP statuses (`racker.errors.HTTP_STATUS`)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from racker.errors import RackerError, Unauthorized, http_status
from racker.web.api import api_routes
from racker.web.context import Web
from racker.web.pages import page_routes, render_error


def create_app(w: Web) -> Starlette:
    """The app over the listener's state `w`."""

    async def metrics(request: Request) -> Response:
        w.policy.check(request, write=False)
        body, content_type = w.metrics()
        return Response(body, media_type=content_type)

    async def racker_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RackerError)
        status = http_status(exc)
        headers = {"WWW-Authenticate": 'Bearer realm="racker"'} if isinstance(
            exc, Unauthorized) else None
        if request.url.path.startswith("/api/") or request.url.path == "/metrics":
            where = str(exc.where) if exc.where and str(exc.where) else None
            return JSONResponse({"error": exc.message, "where": where, "hint": exc.hint},
                                status_code=status, headers=headers)
        return render_error(request, exc, status, headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc.detail), "where": None, "hint": None},
                                status_code=exc.status_code)
        return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code)

    routes: list[BaseRoute] = [*api_routes(w), Route("/metrics", metrics, name="metrics"),
                               *page_routes(w)]
    app = Starlette(routes=routes,
                    exception_handlers={RackerError: racker_error, HTTPException: http_error})
    app.state.web = w
    return app
