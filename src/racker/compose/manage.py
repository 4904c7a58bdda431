"""The management listener's adapters (token file, rack view over the store, metrics, BMC
control for actions) and the server it runs on; the front end (`racker.web`) builds the app."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from racker.adapters.bmc.control import RackControl
from racker.adapters.bmc.protocol import ProtocolRecord
from racker.adapters.fs.apitoken import TokenFile, ensure_token, new_token, token_path
from racker.adapters.fs.manageurl import remove_url, write_url
from racker.adapters.handover import socket_path
from racker.adapters.http.serve import server as http_server
from racker.adapters.metrics.expose import Exposition, exposition
from racker.app.actions import Record
from racker.app.rackview import RackView, open_view
from racker.compose.rack import control, credentials, helper_redfish, inventory, locator, store
from racker.core import ipmitool
from racker.core.events import EventKind
from racker.errors import ServiceError, Where
from racker.model import ClusterPlan
from racker.paths import Paths
from racker.settings import Settings

__all__ = ["Exposition", "TokenFile"]


def serve_may_lend(paths: Paths) -> bool:
    """Whether a `racker serve` has its hand-over socket in the state folder (a command then
    borrows its services and shows its dashboard instead of listening itself)."""
    return socket_path(paths.state_dir).exists()


def token_file(paths: Paths) -> TokenFile:
    """The API token as a running listener reads it (rotation takes effect at once)."""
    return TokenFile(token_path(paths.state_dir))


def api_token(paths: Paths, *, rotate: bool = False) -> str:
    """`racker api token`: the token, created when missing; a new one with `rotate`."""
    path = token_path(paths.state_dir)
    return new_token(path) if rotate else ensure_token(path)


def rack_view(paths: Paths) -> RackView:
    """The rack's nodes, timelines and runs over its event store."""
    return open_view(paths, lambda: store(paths),
                     ProtocolRecord.in_state_dir(paths.state_dir).all)


def metrics(view: RackView) -> Exposition:
    """The `/metrics` page over the view's figures."""
    return exposition(view.figures)


def recorder(view: RackView) -> Record:
    """Writes an action's events into the view's store (the listener's event loop only)."""

    def record(mac: str, kind: EventKind, stage: str, detail: Mapping[str, Any]) -> None:
        view.store.add(mac, kind, stage=stage, detail=detail)

    return record


def action_control(paths: Paths, plan: ClusterPlan) -> RackControl:
    """The BMCs of `plan` for one action of the API (PXE boot, power cycle, reprovision)."""
    return control(paths, plan, Settings.from_env(), warn=lambda _m: None)


DIAGNOSIS_RETRY_SEC = 15
"""How long the dashboard's live diagnosis looks for a BMC that is not in the leases (a page
waits for it; the ipmi helper's own default is minutes)."""


def diagnosis(paths: Paths) -> Callable[[str], tuple[str, bool]]:
    """A node's live diagnosis, as 'ipmi NODE diag' (and `racker status --json --full`) give
    it: its text and whether it succeeded. Blocking (the helper's BMC calls): run it in a
    thread. Each call reads nodes.csv and the credentials again (they may have changed)."""

    def diagnose(mac: str) -> tuple[str, bool]:
        from racker.app.ipmi_helper import diagnose_all  # late: loads the BMC stack

        retry = min(float(os.environ.get("RETRY_SEC") or DIAGNOSIS_RETRY_SEC),
                    DIAGNOSIS_RETRY_SEC)
        env = {**os.environ, "RETRY_SEC": f"{retry:g}"}
        inv = inventory(paths)
        creds = credentials(paths)
        found = diagnose_all(ipmitool.parse_settings(env), paths, inv, creds,
                             locator(paths, inv.pxe_interface), env,
                             helper_redfish(paths, creds, env), only={mac})
        return found.get(mac, ("", False))

    return diagnose


GRACE = 2
"""Seconds open requests (the dashboard's event streams) get when the listener stops."""


@contextlib.asynccontextmanager
async def serving(app: Any, host: str, port: int,
                  record: Path | None = None) -> AsyncIterator[str]:
    """`app` served on host:port while the block runs; yields its URL (the real port when
    `port` is 0), recorded in the state folder `record` meanwhile (for a command that borrows
    serve's services to name serve's dashboard). ServiceError when it cannot listen."""
    web = http_server(app, host, port, graceful_shutdown=GRACE)
    task = asyncio.create_task(web.serve())
    try:
        for _ in range(200):
            if web.started or task.done():
                break
            await asyncio.sleep(0.025)
        if not web.started:
            raise ServiceError(f"the management listener could not listen on {host}:{port}",
                               where=Where(variable="RACKER_MANAGE_PORT"),
                               hint="another racker or program uses the port: stop it, or set "
                                    "RACKER_MANAGE_PORT to a free port (0: any)")
        bound = web.servers[0].sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{bound}"
        if record is not None:
            write_url(record, url)
        try:
            yield url
        finally:
            if record is not None:
                remove_url(record, url)
    finally:
        web.should_exit = True
        # NOTE: TimeoutError too: a client that holds on past the grace must not turn the
        # run's end into an error (the boot server's stop does the same)
        with contextlib.suppress(asyncio.CancelledError, SystemExit, TimeoutError):
            await asyncio.wait_for(task, GRACE + 10)
