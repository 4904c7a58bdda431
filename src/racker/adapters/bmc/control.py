"""The engine's `Control` (racker.engine.control) over the rack's BMCs, whatever their protocol.

One `RackBmcs` for the whole run, so every BMC keeps one session from the BMC check to the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from racker.adapters.bmc.errors import Unsupported
from racker.adapters.bmc.interfaces import BootTarget, PowerState
from racker.adapters.bmc.rack import BmcRef, RackBmcs
from racker.model import PlannedNode


def bmc_ref(node: PlannedNode) -> BmcRef:
    """The BMC of a planned node: named as the node, at its planned address."""
    return BmcRef(node.name, node.node.bmc_mac, node.bmc_ip)


@dataclass
class RackControl:
    """Provisioning steps on a node's BMC: PXE, power, disk boot (persistent, read back)."""

    bmcs: RackBmcs
    legacy_boot: bool = False
    """Legacy BIOS boot flags instead of EFI (a rack setting)."""

    async def check_bmc(self, node: PlannedNode) -> str:
        """Find the BMC and prove a session; its address."""
        return (await self.bmcs.open(bmc_ref(node))).target.address

    async def system_guid(self, node: PlannedNode) -> bytes | None:
        """The BMC's system GUID; None when it does not support reading it."""
        try:
            return await (await self.bmcs.open(bmc_ref(node))).system_guid()
        except Unsupported:
            return None

    async def prepare_pxe(self, node: PlannedNode) -> None:
        """Power off, then boot device PXE (persistent, read back)."""
        bmc = await self.bmcs.open(bmc_ref(node))
        await bmc.power_off()
        await bmc.set_boot_device(BootTarget.PXE, persistent=True, efi=not self.legacy_boot)

    async def power_on(self, node: PlannedNode) -> None:
        """Power the node on."""
        await (await self.bmcs.open(bmc_ref(node))).power_on()

    async def power_cycle(self, node: PlannedNode) -> None:
        """Power-cycle the node (power on when it is off: a cycle of a node that is off is an
        error on many BMCs)."""
        bmc = await self.bmcs.open(bmc_ref(node))
        if await bmc.power_status() is PowerState.OFF:
            await bmc.power_on()
        else:
            await bmc.power_cycle()

    async def set_disk_boot(self, node: PlannedNode) -> None:
        """Boot device disk (persistent, read back)."""
        bmc = await self.bmcs.open(bmc_ref(node))
        await bmc.set_boot_device(BootTarget.DISK, persistent=True, efi=not self.legacy_boot)

    async def reassert_disk_boot(self, node: PlannedNode) -> None:
        """Boot device disk again, only over a session that is open already."""
        bmc = self.bmcs.opened(bmc_ref(node))
        if bmc is not None:
            await bmc.set_boot_device(BootTarget.DISK, persistent=True, efi=not self.legacy_boot)

    async def serial_console(self, node: PlannedNode,
                             take_over: bool = True) -> AsyncIterator[bytes]:
        """The node's serial console over its BMC; Unsupported naming the BMC's protocol when
        that has none (a Redfish-only BMC: racker's console is IPMI Serial over LAN)."""
        ref = bmc_ref(node)
        bmc = await self.bmcs.open(ref)
        try:
            return await bmc.serial_console(take_over=take_over)
        except Unsupported:
            protocol = self.bmcs.protocol(ref) or "its protocol"
            raise Unsupported(node.name, bmc.target.address,
                              f"serial console (the BMC is driven over {protocol}, which has "
                              "no Serial over LAN)") from None

    async def close(self) -> None:
        """Log out of every BMC session."""
        await self.bmcs.aclose()
