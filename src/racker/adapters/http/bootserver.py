"""The boot server: the boot protocol's router and racker's API router composed into one ASGI
app, with the one table that maps racker's errors to HTTP statuses.

The routes are in `boot` (matchbox-compatible: what PXE-booting nodes fetch) and `api`
(`/racker/v1/...`: node reports, node list). Every request becomes an event in the store.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from racker.adapters.fs.store import Store
from racker.adapters.http.api import api_routes
from racker.adapters.http.boot import boot_routes
from racker.adapters.http.requests import (
    BootServerConfig,
    Forbidden,
    NodeReport,
    NotFound,
    Served,
    accept_report,
)
from racker.core.bootnode import Catalog
from racker.errors import HTTP_STATUS, RackerError, StateWriteError, http_status

__all__ = ["BootServerConfig", "Forbidden", "NodeReport", "NotFound", "create_app"]

STATUS = HTTP_STATUS
"""Racker's errors → HTTP statuses (`racker.errors.HTTP_STATUS`, shared with the management
listener)."""


def create_app(
    config: BootServerConfig,
    catalog: Catalog,
    store: Store,
    on_report: NodeReport = accept_report,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The ASGI app. `store` is used from the event loop's thread only; `clock` (the store's
    time) tells whether a node's install window is still open."""
    served = Served(config, catalog, store, on_report, clock)

    async def racker_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RackerError)
        status = http_status(exc)
        with contextlib.suppress(StateWriteError):  # a full disk must not turn into a 500
            served.record(request, None, status, exc.message)
        return PlainTextResponse(f"{exc.message}\n", status_code=status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code)

    return Starlette(
        routes=[*boot_routes(served), *api_routes(served)],
        exception_handlers={RackerError: racker_error, HTTPException: http_error},
    )
