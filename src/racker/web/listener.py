"""The management listener: the app built over the rack and served beside racker's services
(by `racker serve`, `bootstrap` and `apply`), on `RACKER_MANAGE_BIND:RACKER_MANAGE_PORT`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from racker.app.actions import NodeActions
from racker.compose import manage
from racker.errors import InputError, Where
from racker.model import ClusterPlan
from racker.paths import Paths
from racker.settings import Settings
from racker.web.app import create_app
from racker.web.auth import Policy, is_loopback
from racker.web.context import Web

Say = Callable[[str], None]


def say(text: str) -> None:
    """Tell the operator on stdout (where the command's own lines go)."""
    print(text, flush=True)


def check_bind(paths: Paths, settings: Settings) -> None:
    """InputError when the listener would listen beyond loopback without an API token (or the
    token file is readable by others)."""
    token = manage.token_file(paths).current()
    if token is None and not is_loopback(settings.manage_bind):
        raise InputError(f"the management listener would listen on {settings.manage_bind} "
                         "without an API token: anyone on that network could read the rack",
                         where=Where(variable="RACKER_MANAGE_BIND"),
                         hint="create the token first with 'racker api token', or bind to "
                              "127.0.0.1 (the default)")


@contextlib.asynccontextmanager
async def listening(paths: Paths, settings: Settings, say: Say) -> AsyncIterator[str]:
    """The listener up while the block runs; yields its URL. InputError, before anything
    listens, when the address is not loopback and there is no API token."""
    loopback = is_loopback(settings.manage_bind)
    tokens = manage.token_file(paths)
    check_bind(paths, settings)
    view = manage.rack_view(paths)
    w = Web(view, Policy(tokens.current, loopback), manage.metrics(view),
            NodeActions(paths, manage.action_control, manage.recorder(view)),
            manage.diagnosis(paths))
    try:
        async with manage.serving(create_app(w), settings.manage_bind,
                                  settings.manage_port, record=paths.state_dir) as url:
            access = "read-only without a token" if loopback else "API token needed"
            say(f"Dashboard: {url}/ (API {url}/api/v1, metrics {url}/metrics; {access})")
            try:
                yield url
            finally:
                await w.stop()  # event streams and actions end, so the server stops at once
    finally:
        view.store.close()


def management(paths: Paths, settings: Settings, say: Say
               ) -> Callable[[ClusterPlan], AbstractAsyncContextManager[str]]:
    """The listener as the composition root's services run it beside dnsmasq and the boot
    server; its address is checked now, before the command starts anything, unless a running
    `racker serve` will lend its services (and its listener) instead."""
    if not manage.serve_may_lend(paths):
        check_bind(paths, settings)
    return lambda _plan: listening(paths, settings, say)
