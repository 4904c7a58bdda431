"""`racker factory discover`, the pure part: pair BMCs and servers by UUID and propose nodes.csv.

Discovery knows each BMC by the MAC that leased an address and the system GUID it answers, and
each server by the MAC it PXE booted from and the inventory it reported. A server belongs to
the BMC whose GUID is its SMBIOS UUID (`guid_matches`, any byte order). The proposed row is the
PXE MAC as primary, the BMC MAC, another NIC with link as secondary, a node type named after the
hardware profile, and a comment with vendor, model and serial for the operator's review.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from racker.core.hardware import Hardware, guid_matches, guid_text, human_bytes

HEADER = "Primary MAC address, BMC MAC address, Secondary MAC address, Node Type, Comments"


@dataclass(frozen=True)
class FoundBmc:
    """A MAC that leased an address and answered (or refused) an IPMI session."""

    mac: str
    ip: str
    guid: bytes | None = None
    error: str | None = None
    """Why no session or no GUID (wrong credentials, no answer): listed, not paired."""


@dataclass(frozen=True)
class FoundServer:
    """A server that PXE booted the discovery configuration and reported its hardware."""

    pxe_mac: str
    hardware: Hardware


@dataclass(frozen=True)
class Row:
    """One proposed row of nodes.csv."""

    primary: str
    bmc: str
    secondary: str
    node_type: str
    comment: str

    def line(self) -> str:
        """The row as nodes.csv text."""
        return f"{self.primary}, {self.bmc}, {self.secondary}, {self.node_type}, {self.comment}"


@dataclass(frozen=True)
class Proposal:
    """The rows found, and what could not be paired with its reason."""

    rows: tuple[Row, ...]
    failures: tuple[str, ...]


def node_type_of(hw: Hardware) -> str:
    """A node type named after the hardware profile: model, cores, memory and disks
    (`poweredge-r640-20c-192g-2d`), so servers of one profile share a type."""
    model = re.sub(r"[^a-z0-9]+", "-", hw.model.lower()).strip("-") or "server"
    return (f"{model}-{hw.cpu_cores}c-{round(hw.memory_bytes / (1 << 30))}g-"
            f"{len(hw.disks)}d")


def secondary_of(hw: Hardware, pxe_mac: str) -> str:
    """Another NIC of the server with link (by name), else any other NIC, else empty."""
    others = [n for n in hw.nics if n.mac != pxe_mac]
    with_link = [n for n in others if n.link]
    chosen = (with_link or others)[:1]
    return chosen[0].mac if chosen else ""


def _comment(hw: Hardware) -> str:
    words = " ".join(w for w in (hw.vendor, hw.model) if w) or "unknown system"
    text = f"{words} serial {hw.serial or '-'} {human_bytes(hw.memory_bytes)}"
    return re.sub(r'[,"]', " ", text)  # one unquoted CSV field


def pair(bmcs: Sequence[FoundBmc], servers: Sequence[FoundServer]) -> Proposal:
    """Rows for every server whose UUID a BMC answers, sorted by primary MAC; every BMC that
    refused or has no server, and every server without a BMC, as a failure with its reason."""
    failures = [f"BMC {b.mac} ({b.ip}): {b.error}" for b in bmcs if b.error]
    usable = [b for b in bmcs if not b.error and b.guid is not None]
    rows, paired = [], set()
    for s in sorted(servers, key=lambda s: s.pxe_mac):
        uuid = s.hardware.uuid
        bmc = next((b for b in usable if uuid and b.guid and guid_matches(b.guid, uuid)), None)
        if bmc is None:
            failures.append(f"server {s.pxe_mac}: no BMC answers its SMBIOS UUID "
                            f"{uuid or '(none reported)'}")
            continue
        paired.add(bmc.mac)
        rows.append(Row(s.pxe_mac, bmc.mac, secondary_of(s.hardware, s.pxe_mac),
                        node_type_of(s.hardware), _comment(s.hardware)))
    for b in usable:
        if b.mac not in paired:
            assert b.guid is not None
            failures.append(f"BMC {b.mac} ({b.ip}): its server never reported (system GUID "
                            f"{guid_text(b.guid)}): it did not PXE boot the discovery image")
    return Proposal(tuple(rows), tuple(failures))


def nodes_csv(management: Row, proposal: Proposal) -> str:
    """The proposed nodes.csv: the header, this machine's row, one row per paired server."""
    return "\n".join([HEADER, management.line(), *(r.line() for r in proposal.rows)]) + "\n"


def summary(proposal: Proposal) -> list[str]:
    """The summary table the command prints (rows, then failures)."""
    head = ("Primary MAC", "BMC MAC", "Secondary MAC", "Node type")
    rows = [(r.primary, r.bmc, r.secondary or "-", r.node_type) for r in proposal.rows]
    widths = [max(len(h), *(len(x[i]) for x in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)).rstrip()
            for x in rows]
    if proposal.failures:
        out += ["", f"Not paired ({len(proposal.failures)}):"]
        out += [f"  × {f}" for f in proposal.failures]
    return out
