"""The cabling and inventory check (pure): what a node's hardware says against its nodes.csv row.

Three facts prove a row right: the server PXE boots from the row's primary MAC (a boot from its
secondary MAC means the cables of its two NICs are swapped), its secondary NIC exists with link
where a static public address will be configured on it, and its BMC's system GUID is the
server's SMBIOS UUID (the BMC MAC of the row belongs to the same machine). Each problem names
the row (nodes.csv line and node), what nodes.csv says and what the hardware says; `fatal` ones
break the install (the engine fails the node's stage), the others are warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from racker.core.hardware import Hardware, guid_matches, guid_text
from racker.model import PlannedNode


@dataclass(frozen=True)
class Problem:
    """One disagreement between nodes.csv and the hardware."""

    line: int
    """nodes.csv line of the row."""
    node: str
    text: str
    fatal: bool = False

    def __str__(self) -> str:
        return f"nodes.csv line {self.line} ({self.node}): {self.text}"


def recorded_guid(detail: Mapping[str, object]) -> bytes | None:
    """The BMC GUID the engine recorded with a BMC check (`bmc_guid`, hex), if any."""
    text = str(detail.get("bmc_guid", ""))
    try:
        return bytes.fromhex(text) if len(text) == 32 else None
    except ValueError:
        return None


def pxe_from_secondary(node: PlannedNode) -> Problem:
    """The server leased an address on the rack network for its secondary MAC: it PXE boots
    from the NIC nodes.csv says is its public one (the install cannot find its config)."""
    n = node.node
    return Problem(n.line, node.name,
                   f"the server PXE boots from {n.secondary_mac}, which nodes.csv gives as its "
                   f"secondary MAC, not from its primary MAC {n.primary_mac}: the cables of its "
                   "two NICs are swapped (or the row's primary and secondary columns are)",
                   fatal=True)


def check_hardware(node: PlannedNode, hw: Hardware, bmc_guid: bytes | None,
                   other_guids: Mapping[str, bytes] | None = None) -> list[Problem]:
    """What the server's reported inventory says against its row (warnings).

    `bmc_guid` is the row's BMC's system GUID (None: not read, e.g. the BMC does not support
    it); `other_guids` maps other nodes' names to theirs, to name the row whose BMC this server
    belongs to.
    """
    n = node.node
    out = []
    macs = ", ".join(f"{x.name} {x.mac}" for x in hw.nics) or "none"
    if hw.nics and hw.nic(n.primary_mac) is None:
        out.append(Problem(n.line, node.name, f"nodes.csv says primary MAC {n.primary_mac}, "
                           f"but the server has no NIC with it (its NICs: {macs})"))
    if node.static is not None and n.secondary_mac:
        nic = hw.nic(n.secondary_mac)
        if hw.nics and nic is None:
            out.append(Problem(n.line, node.name, f"nodes.csv says secondary MAC "
                               f"{n.secondary_mac} (static public address {node.static.address}), "
                               f"but the server has no NIC with it (its NICs: {macs})"))
        elif nic is not None and not nic.link:
            out.append(Problem(n.line, node.name, f"the secondary NIC {nic.name} "
                               f"({n.secondary_mac}) that gets the static public address "
                               f"{node.static.address} has no link: is its cable plugged in?"))
    if bmc_guid is not None and hw.uuid is not None and not guid_matches(bmc_guid, hw.uuid):
        owner = next((name for name, g in (other_guids or {}).items()
                      if name != node.name and guid_matches(g, hw.uuid)), None)
        where = (f"; this server's UUID is the system GUID of the BMC of {owner}" if owner
                 else "")
        out.append(Problem(n.line, node.name, f"the BMC {n.bmc_mac} answers system GUID "
                           f"{guid_text(bmc_guid)}, but the server that PXE booted from "
                           f"{n.primary_mac} has SMBIOS UUID {hw.uuid}: the row's BMC MAC "
                           f"belongs to another machine{where}"))
    return out
