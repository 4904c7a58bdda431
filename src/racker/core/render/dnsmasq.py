"""`$RACKER_STATE_DIR/dnsmasq/dnsmasq.conf`: DHCP, TFTP and the iPXE hand-off on the rack network.

Every planned node's primary and BMC MAC gets its fixed address (`dhcp-host=MAC,IP,2m`); all
other clients get a 2-minute lease from the upper half of the /24. PXE firmware gets the iPXE
binary for its architecture over TFTP; iPXE itself is sent to racker's boot server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from racker.core.render import BOOT_HTTP_PORT
from racker.model import ClusterPlan

IPXE_DIR = Path("/usr/lib/ipxe")
"""Where Debian's `ipxe` package installs undionly.kpxe and ipxe.efi."""

LEASE_TIME = "2m"
"""Short leases, so that BMCs pick up a new subnet prefix within minutes."""

# DHCP option 93 client architectures (RFC 4578): 0 = x86 BIOS, 6 = EFI IA32, 7 = EFI BC
# (x86-64 in practice), 9 = EFI x86-64.
_ARCHES = (("bios", 0, "undionly.kpxe"), ("efi32", 6, "ipxe.efi"),
           ("efibc", 7, "ipxe.efi"), ("efi64", 9, "ipxe.efi"))


@dataclass(frozen=True)
class DnsmasqSettings:
    """The parts of dnsmasq.conf that depend on this machine rather than on the plan."""

    interface: str
    lease_file: Path
    pid_file: Path
    tftp_root: Path = IPXE_DIR
    dhcp_script: Path | None = None
    """Called by dnsmasq on every lease change (racker records it as an event)."""
    no_ping: bool = False
    """Offer pool addresses without dnsmasq's ICMP check first (`racker factory discover`,
    where every BMC and server takes a pool address: the checks, a few seconds each and not
    all at once, made 48 BMCs lease over 18 s)."""


def dhcp_hosts(plan: ClusterPlan) -> tuple[tuple[str, str], ...]:
    """(MAC, IP) of every planned node's primary NIC and BMC, in plan order."""
    out: list[tuple[str, str]] = []
    for n in plan.nodes:
        out.append((n.node.primary_mac, n.ip))
        out.append((n.node.bmc_mac, n.bmc_ip))
    return tuple(out)


def render_dnsmasq(plan: ClusterPlan, settings: DnsmasqSettings) -> str:
    """The full dnsmasq.conf text."""
    prefix = plan.options.subnet_prefix
    boot_url = f"http://{plan.management_ip}:{BOOT_HTTP_PORT}/boot.ipxe"
    lines = [
        "# dnsmasq.conf for the rack-internal network, written by racker: changes are lost on",
        "# the next 'racker bootstrap'.",
        "keep-in-foreground",
        # No DNS service: nodes get neither a router nor a DNS server from this network.
        "port=0",
        f"pid-file={settings.pid_file}",
        f"dhcp-leasefile={settings.lease_file}",
        f"dhcp-range={prefix}.128,{prefix}.254,255.255.255.0,{LEASE_TIME}",
        "dhcp-ignore-clid",
        "dhcp-authoritative",
        *(["no-ping"] if settings.no_ping else []),
        "dhcp-option=3",
        "dhcp-option=6",
        "",
        "enable-tftp",
        f"tftp-root={settings.tftp_root}",
        "",
        "# PXE firmware gets the iPXE binary for its architecture; iPXE gets racker's script.",
        "dhcp-userclass=set:ipxe,iPXE",
    ]
    for tag, arch, binary in _ARCHES:
        lines.append(f"dhcp-match=set:{tag},option:client-arch,{arch}")
        # tag:!ipxe: iPXE reports the same architecture and must not be sent back to TFTP.
        lines.append(f"dhcp-boot=tag:{tag},tag:!ipxe,{binary}")
    lines += [
        f"dhcp-boot=tag:ipxe,{boot_url}",
        "",
        "log-dhcp",
    ]
    if settings.dhcp_script is not None:
        lines.append(f"dhcp-script={settings.dhcp_script}")
    lines += [
        "",
        "except-interface=lo",
        f"interface={settings.interface}",
        "bind-interfaces",
        "",
        "# Fixed addresses: every node's primary NIC and BMC.",
    ]
    lines += [f"dhcp-host={mac},{ip},{LEASE_TIME}" for mac, ip in dhcp_hosts(plan)]
    return "\n".join(lines) + "\n"
