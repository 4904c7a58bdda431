"""dnsmasq, the boot server and the management listener for one run, started and stopped
together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from racker.adapters.dnsmasq.supervisor import Dnsmasq, DnsmasqFiles
from racker.adapters.fs.store import Store
from racker.adapters.http.bootserver import BootServerConfig, create_app
from racker.adapters.http.requests import NodeReport
from racker.adapters.http.serve import server as http_server
from racker.core.bootnode import Catalog
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
    management: Management | None = None

    @contextlib.asynccontextmanager
    async def run(self, plan: ClusterPlan, store: Store, catalog: Catalog,
                  on_report: NodeReport) -> AsyncIterator[None]:
        """Both services up for `plan` while the block runs; stopped after it, whatever
        happened. ServiceError when the boot server cannot listen."""
        config = BootServerConfig(f"http://{plan.management_ip}:{self.settings.boot_port}",
                                  self.paths.state_dir / "assets")
        web = http_server(create_app(config, catalog, store, on_report), plan.management_ip,
                          self.settings.boot_port)
        dnsmasq = Dnsmasq(DnsmasqFiles(self.paths.state_dir))
        await dnsmasq.start()
        task = asyncio.create_task(web.serve())
        try:
            for _ in range(100):
                if web.started or task.done():
                    break
                await asyncio.sleep(0.05)
            if not web.started:
                raise ServiceError(f"the boot server could not listen on "
                                   f"{plan.management_ip}:{self.settings.boot_port}",
                                   hint="is 'racker serve' or another server running? stop it "
                                        "for the bootstrap")
            if self.management is None:
                yield
            else:
                async with self.management(plan):
                    yield
        finally:
            web.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await asyncio.wait_for(task, 10)
            await dnsmasq.stop()
