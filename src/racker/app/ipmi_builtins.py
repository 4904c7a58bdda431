"""The `ipmi` helper's built-in subcommands, `power status` and `diag`, through racker's own BMC
drivers (each BMC over its protocol, IPMI or Redfish): one process, pooled sessions, every BMC
of `--all` at once. ipmitool stays for passthrough and the serial console
(`racker.app.ipmi_helper`).

The texts follow ipmitool's wording (`Chassis Power is on`, `System Power : on`, `Boot parameter
data: …`) so that scripts written against the reference's helper keep working.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from racker.adapters.bmc.interfaces import Bmc, BootSetting, BootTarget, ChassisStatus
from racker.adapters.bmc.locate import LocatedBmc
from racker.adapters.bmc.protocol import REDFISH
from racker.adapters.bmc.rack import BmcRef
from racker.app import ipmi_redfish
from racker.core import discovery
from racker.core import ipmitool as h
from racker.errors import RackerError
from racker.model import Node

Echo = Callable[[str], None]


class Bmcs(Protocol):
    """What the built-ins need of the rack's BMCs (`RackBmcs`, from the composition root)."""

    async def locate(self, ref: BmcRef, retry_sec: float | None = None) -> LocatedBmc:
        """The BMC's address (BmcError naming it when it is not found in time)."""
        ...

    async def open(self, ref: BmcRef) -> Bmc:
        """A session to the BMC, reused until `aclose`."""
        ...

    def protocol(self, ref: BmcRef) -> str | None:
        """The protocol the BMC was reached over (`ipmi`, `redfish`)."""
        ...

    async def aclose(self) -> None:
        """Log out of every session."""
        ...


class InternalLookup(Protocol):
    """The node's internal address, looked up once (the node may well be off)."""

    def __call__(self, mac: str) -> str | None: ...


def power_line(bmc_power: str) -> str:
    """`ipmitool power status`'s line."""
    return f"Chassis Power is {bmc_power}"


def _yes(flag: bool) -> str:
    return "true" if flag else "false"


def _active(flag: bool) -> str:
    return "active" if flag else "inactive"


def chassis_lines(cs: ChassisStatus) -> list[str]:
    """`ipmitool chassis status`'s lines for a decoded Get Chassis Status."""
    rows = [
        ("System Power", cs.power.value), ("Power Overload", _yes(cs.power_overload)),
        ("Power Interlock", _active(cs.power_interlock)),
        ("Main Power Fault", _yes(cs.main_power_fault)),
        ("Power Control Fault", _yes(cs.power_control_fault)),
        ("Power Restore Policy", cs.restore_policy.value),
        ("Last Power Event", cs.last_power_event),
        ("Chassis Intrusion", _active(cs.chassis_intrusion)),
        ("Front-Panel Lockout", _active(cs.front_panel_lockout)),
        ("Drive Fault", _yes(cs.drive_fault)), ("Cooling/Fan Fault", _yes(cs.cooling_fault)),
    ]
    return [f"{name:<21}: {value}".rstrip() for name, value in rows]


_SELECTOR = {
    BootTarget.NONE: "No override", BootTarget.PXE: "Force PXE",
    BootTarget.DISK: "Force Boot from default Hard-Drive",
    BootTarget.DISK_SAFE: "Force Boot from default Hard-Drive, request Safe-Mode",
    BootTarget.DIAG: "Force Boot from Diagnostic Partition",
    BootTarget.CDROM: "Force Boot from CD/DVD", BootTarget.BIOS: "Force Boot into BIOS Setup",
    BootTarget.FLOPPY: "Force Boot from Floppy/primary removable media",
    BootTarget.OTHER: "Other",
}


def bootparam_lines(b: BootSetting) -> list[str]:
    """`ipmitool chassis bootparam get 5`'s main lines for decoded boot flags."""
    return [
        "Boot parameter version: 1",
        "Boot parameter 5 is valid/unlocked",
        f"Boot parameter data: {b.raw.hex()}",
        " Boot Flags :",
        "   - Boot Flag Valid" if b.valid else "   - Boot Flag Invalid",
        "   - Options apply to all future boots" if b.persistent
        else "   - Options apply to only next boot",
        "   - BIOS EFI boot" if b.efi else "   - BIOS PC Compatible (legacy) boot",
        f"   - Boot Device Selector : {_SELECTOR[b.target]}",
    ]


async def node_lines(node: Node, request: h.Request, bmcs: Bmcs, planned: dict[str, str],
                     hosts: Sequence[discovery.HostsEntry], internal: InternalLookup,
                     echo: Echo) -> None:
    """Run a built-in for one node, each line to `echo` as soon as it is known; RackerError
    (naming the node and its BMC) when the BMC is not found or does not answer."""
    ref = BmcRef(node.primary_mac, node.bmc_mac, planned.get(node.bmc_mac))
    found = await bmcs.locate(ref)
    warning = h.bmc_ip_warning(found.ip, found.planned_ip)
    if warning:
        echo(warning)
    if request.kind is h.Kind.DIAG:
        ip = await asyncio.to_thread(internal, node.primary_mac)
        planned_internal = planned.get(node.primary_mac)
        warning = h.internal_ip_warning(ip, planned_internal)
        if warning:
            echo(warning)
        name_ip = planned_internal or ip  # the planned address names the node in hosts
        names = discovery.names_for_ip(hosts, name_ip) if name_ip else ()
        for line in h.diag_lines(node.bmc_mac, found.ip, node.primary_mac, ip, names):
            echo(line)
    bmc = await bmcs.open(ref)
    if request.kind is h.Kind.POWER_STATUS:
        echo(power_line((await bmc.power_status()).value))
        return
    if bmcs.protocol(ref) == REDFISH:  # no chassis status or boot flags: Redfish's own facts
        for line in await ipmi_redfish.diag_lines(bmc):
            echo(line)
        return
    for line in chassis_lines(await bmc.chassis_status()):
        echo(line)
    for line in bootparam_lines(await bmc.get_boot_device()):
        echo(line)


async def _block(node: Node, request: h.Request, bmcs: Bmcs, planned: dict[str, str],
                 hosts: Sequence[discovery.HostsEntry], internal: InternalLookup
                 ) -> tuple[str, bool]:
    lines: list[str] = []
    try:
        await node_lines(node, request, bmcs, planned, hosts, internal, lines.append)
    except RackerError as e:
        lines.append(f"Error: {e}")
        return h.all_block(node.bmc_mac, "\n".join(lines), False), False
    return h.all_block(node.bmc_mac, "\n".join(lines), True), True


async def run_all(nodes: Sequence[Node], request: h.Request, bmcs: Bmcs,
                  planned: dict[str, str], hosts: Sequence[discovery.HostsEntry],
                  internal: InternalLookup) -> int:
    """Every node at once; blocks print in the nodes' order as soon as each is ready."""
    failed = 0
    try:
        tasks = [asyncio.create_task(_block(n, request, bmcs, planned, hosts, internal))
                 for n in nodes]
        for task in tasks:
            block, ok = await task
            sys.stdout.write(block)
            sys.stdout.flush()
            failed += not ok
    finally:
        await bmcs.aclose()
    return 1 if failed else 0


async def run_one(node: Node, request: h.Request, bmcs: Bmcs, planned: dict[str, str],
                  hosts: Sequence[discovery.HostsEntry], internal: InternalLookup) -> int:
    """One node, lines on stdout as they come; a failure is raised (the CLI prints it)."""
    try:
        await node_lines(node, request, bmcs, planned, hosts, internal,
                         lambda line: print(line, flush=True))
    finally:
        await bmcs.aclose()
    return 0
