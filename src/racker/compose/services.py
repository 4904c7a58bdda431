"""dnsmasq, the boot server and the management listener for one run, started and stopped
together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from racker.adapters.dnsmasq.supervisor import Dnsmasq, DnsmasqFiles
from racker.adapters.fs.manageurl import read_url
from racker.adapters.fs.store import Store
from racker.adapters.handover import borrowed
from racker.adapters.http.bootserver import BootServerConfig, create_app
from racker.adapters.http.requests import NodeReport
from racker.adapters.http.serve import listen
from racker.adapters.http.serve import server as http_server
from racker.core.bootnode import Catalog
from racker.engine.stages import Timeouts
from racker.errors import ServiceError
from racker.model import ClusterPlan
from racker.paths import Paths
from racker.settings import Settings

Management = Callable[[ClusterPlan], AbstractAsyncContextManager[object]]
"""The management listener (API, dashboard, metrics) for a plan, given by the front end."""


@dataclass(frozen=True)
class RackServices:
    """Starts racker's DHCP/TFTP (dnsmasq) and HTTP boot server on the management address."""

    paths: Paths
    settings: Settings
    say: Callable[[str], None] | None = None
    """Where to tell that a running `racker serve` lent its services; None: never borrow
    (serve's own services)."""
    management: Management | None = None
    """Run beside the services this process starts itself; not when it borrows serve's (serve's
    own listener keeps running and shows this run) nor for serve (it runs its listener for its
    whole life, across the services it lends)."""

    @contextlib.asynccontextmanager
    async def run(self, plan: ClusterPlan, store: Store, catalog: Catalog,
                  on_report: NodeReport) -> AsyncIterator[None]:
        """Both services up for `plan` while the block runs; stopped after it, whatever
        happened. A running `racker serve` hands its services over for the block and takes
        them back after it. ServiceError when the boot server cannot listen."""
        if self.say is None:
            async with self._run(plan, store, catalog, on_report, None):
                yield
            return
        async with borrowed(self.paths.state_dir) as lent:
            if lent:
                self.say("'racker serve' runs: it hands DHCP and the boot server over to this "
                         "command and takes them back when it ends")
                self.say(served_dashboard(self.paths))
            async with self._run(plan, store, catalog, on_report,
                                 None if lent else self.management):
                yield

    @contextlib.asynccontextmanager
    async def _run(self, plan: ClusterPlan, store: Store, catalog: Catalog,
                   on_report: NodeReport, management: Management | None
                   ) -> AsyncIterator[None]:
        t = Timeouts.scaled(self.settings.timeout_scale)
        # the install window: from racker's PXE boot of a node to its `installed`, as long as
        # the engine waits for them
        window = t.pxe + t.dhcp + t.ipxe + t.install + self.settings.retry_sec
        config = BootServerConfig(f"http://{plan.management_ip}:{self.settings.boot_port}",
                                  self.paths.state_dir / "assets", install_window=window)
        web = http_server(create_app(config, catalog, store, on_report), plan.management_ip,
                          self.settings.boot_port)
        sock = listen(plan.management_ip, self.settings.boot_port)  # before dnsmasq starts
        dnsmasq = Dnsmasq(DnsmasqFiles(self.paths.state_dir))
        try:
            await dnsmasq.start()
        except BaseException:
            sock.close()
            raise
        task = asyncio.create_task(web.serve(sockets=[sock]))
        try:
            for _ in range(100):
                if web.started or task.done():
                    break
                await asyncio.sleep(0.05)
            if not web.started:
                raise ServiceError(f"the boot server could not start on "
                                   f"{plan.management_ip}:{self.settings.boot_port}",
                                   hint="run again with RACKER_DEBUG=1 and report it")
            if management is None:
                yield
            else:
                async with management(plan):
                    yield
        finally:
            web.should_exit = True
            # NOTE: TimeoutError too: the stop must go on (dnsmasq) whatever a client holds
            with contextlib.suppress(asyncio.CancelledError, SystemExit, TimeoutError):
                await asyncio.wait_for(task, 10)
            sock.close()
            await dnsmasq.stop()


def served_dashboard(paths: Paths) -> str:
    """What a command that borrowed serve's services says of the dashboard: serve's listener
    keeps running, and shows this run (both read the same event store)."""
    url = read_url(paths.state_dir)
    where = f" at {url}/" if url else ""
    return f"Dashboard: racker serve's{where} shows this run"
