"""The engine's `Control` on real BMCs: locate each BMC by MAC, then drive it over IPMI.

One driver for the whole run, so every BMC keeps one session from the BMC check to the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from racker.adapters.bmc.errors import BmcTimeout, BmcUnreachable
from racker.adapters.bmc.interfaces import Bmc, BmcTarget, BootTarget
from racker.adapters.bmc.ipmi.driver import IpmiDriver, IpmiSettings
from racker.adapters.bmc.locate import LocatedBmc, Locator
from racker.model import Credentials, PlannedNode
from racker.paths import Paths

Locate = Callable[[PlannedNode], LocatedBmc]


@dataclass
class IpmiControl:
    """Control over IPMI. `locate` finds a node's BMC (blocking; run in a thread)."""

    credentials: Credentials
    locate: Locate
    legacy_boot: bool = False
    """Legacy BIOS boot flags instead of EFI (a rack setting)."""
    driver: IpmiDriver = field(default_factory=IpmiDriver)
    warn: Callable[[str], None] = lambda _msg: None
    retry_sec: float = 150.0
    """How long a found BMC may take to answer IPMI."""
    _bmcs: dict[str, Bmc] = field(default_factory=dict)
    _locating: ThreadPoolExecutor | None = None

    @classmethod
    def for_rack(cls, paths: Paths, credentials: Credentials, pxe_interface: str,
                 retry_sec: float, *, legacy_boot: bool = False,
                 settings: IpmiSettings | None = None,
                 warn: Callable[[str], None] = lambda _msg: None) -> IpmiControl:
        """BMCs found through the dnsmasq leases, the neighbour table and ARP on the PXE iface.

        One locator for the rack: the BMCs looked up at once share its scans."""
        locator = Locator(paths, pxe_interface)

        def locate(node: PlannedNode) -> LocatedBmc:
            return locator.locate_bmc(node.node.bmc_mac, retry_sec, node=node.name,
                                      planned_ip=node.bmc_ip)
        return cls(credentials, locate, legacy_boot, IpmiDriver(settings), warn, retry_sec)

    async def _bmc(self, node: PlannedNode) -> Bmc:
        bmc = self._bmcs.get(node.mac)
        if bmc is None:
            await self.check_bmc(node)
            bmc = self._bmcs[node.mac]
        return bmc

    async def check_bmc(self, node: PlannedNode) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_sec
        while True:
            found = await loop.run_in_executor(self._locator_threads(), self.locate, node)
            target = BmcTarget(node.name, found.ip, self.credentials.user,
                               self.credentials.password)
            try:
                bmc = await self.driver.open(target)
                await bmc.power_status()  # proves a session with these credentials
                break
            except (BmcUnreachable, BmcTimeout):
                # NOTE: a BMC answers DHCP before it answers IPMI (its address is configured,
                # then its IPMI service binds): keep trying for RETRY_SEC, as for the lookup
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(1.0)
        if found.differs_from_plan:
            self.warn(f"{node.name}: BMC {node.node.bmc_mac} answers on {found.ip}, not on the "
                      f"planned {found.planned_ip} (its DHCP lease is older than racker's "
                      "configuration; it moves on renewal)")
        self._bmcs[node.mac] = bmc
        return found.ip

    def _locator_threads(self) -> ThreadPoolExecutor:
        """Threads for lookups, which mostly wait: one per BMC of a 64-server rack at once
        (asyncio's default pool has 6 on a small management node)."""
        if self._locating is None:
            self._locating = ThreadPoolExecutor(max_workers=64,
                                                thread_name_prefix="racker-locate")
        return self._locating

    async def prepare_pxe(self, node: PlannedNode) -> None:
        bmc = await self._bmc(node)
        await bmc.power_off()
        await bmc.set_boot_device(BootTarget.PXE, persistent=True, efi=not self.legacy_boot)

    async def power_on(self, node: PlannedNode) -> None:
        await (await self._bmc(node)).power_on()

    async def set_disk_boot(self, node: PlannedNode) -> None:
        bmc = await self._bmc(node)
        await bmc.set_boot_device(BootTarget.DISK, persistent=True, efi=not self.legacy_boot)

    async def reassert_disk_boot(self, node: PlannedNode) -> None:
        bmc = self._bmcs.get(node.mac)
        if bmc is not None:
            await bmc.set_boot_device(BootTarget.DISK, persistent=True, efi=not self.legacy_boot)

    async def close(self) -> None:
        self._bmcs.clear()
        await self.driver.aclose()
        if self._locating is not None:
            self._locating.shutdown(wait=False, cancel_futures=True)
            self._locating = None
