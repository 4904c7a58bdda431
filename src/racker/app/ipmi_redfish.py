"""The `ipmi` helper's way to BMCs that racker drives over Redfish: which protocol a BMC
speaks, power actions and the facts `diag` shows. ipmitool stays the way to IPMI BMCs.

The helper is synchronous (one thread per node with `--all`); each call here runs its own
event loop, opens one session, and closes it at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from racker.adapters.bmc.interfaces import Bmc, BmcTarget, Driver, PowerState
from racker.adapters.bmc.protocol import IPMI, REDFISH, Protocols
from racker.model import Credentials

T = TypeVar("T")


@dataclass
class HelperBmcs:
    """Protocol choice and Redfish calls for the ipmi helper (built by the composition root)."""

    protocols: Protocols
    make_driver: Callable[[str], Driver]
    credentials: Credentials
    ipmi_answers: Callable[[str, int], bool]
    """Whether a BMC at this address and port answers IPMI over LAN."""

    def has_sol(self, ip: str) -> bool:
        """Whether the BMC at `ip` also speaks IPMI, whose Serial over LAN is racker's serial
        console."""
        return self.ipmi_answers(ip, self.protocols.port(IPMI))

    def protocol(self, bmc_mac: str, ip: str) -> str:
        """The protocol of the BMC `bmc_mac` found at `ip`."""
        return asyncio.run(self.protocols.choose(bmc_mac, ip))

    def _with_bmc(self, node: str, bmc_mac: str, ip: str,
                  fn: Callable[[Bmc], Awaitable[T]]) -> T:
        async def go() -> T:
            driver = self.make_driver(REDFISH)
            try:
                bmc = await driver.open(BmcTarget(
                    node, ip, self.credentials.user, self.credentials.password,
                    self.protocols.port(REDFISH), bmc_mac=bmc_mac))
                result = await fn(bmc)
                self.protocols.remember(bmc_mac, REDFISH)
                return result
            finally:
                await driver.aclose()
        return asyncio.run(go())

    def power(self, node: str, bmc_mac: str, ip: str, action: str) -> PowerState:
        """Run `action` (status, on, off, cycle); the power state afterwards (as the BMC
        reports it right away: a change may take a moment)."""
        async def act(bmc: Bmc) -> PowerState:
            if action == "on":
                await bmc.power_on()
            elif action == "off":
                await bmc.power_off()
            elif action == "cycle":
                await bmc.power_cycle()
            return await bmc.power_status()
        return self._with_bmc(node, bmc_mac, ip, act)

    def facts_lines(self, node: str, bmc_mac: str, ip: str) -> list[str]:
        """What `diag` shows of a Redfish BMC after the address lines."""
        return self._with_bmc(node, bmc_mac, ip, diag_lines)


async def diag_lines(bmc: Bmc) -> list[str]:
    """What `diag` shows of a BMC reached over Redfish: system and manager facts, the boot
    override and the tail of the event log."""
    facts_of: Any = getattr(bmc, "facts", None)
    if facts_of is None:
        raise bmc.unsupported("system facts")
    f = await facts_of()
    boot = await bmc.get_boot_device()
    lines = [
        "BMC protocol: Redfish",
        f"System: {' '.join(p for p in (f.manufacturer, f.model) if p)}",
        f"Serial number: {f.serial}", f"System UUID: {f.uuid}",
        f"BIOS version: {f.bios_version}", f"BMC firmware: {f.bmc_firmware}",
        f"Health: {f.health}", f"System Power: {f.power.lower()}",
        f"Boot override: {boot.raw.decode()}",
    ]
    if f.log_tail:
        lines.append("Event log (newest last):")
        lines += [f"  {line}" for line in f.log_tail]
    return lines
