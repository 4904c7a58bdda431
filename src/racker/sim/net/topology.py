"""The rack's namespaces and links as plain data, and the `ip` commands that build them. Pure.

Every veth is created with both ends already inside their namespaces (`ip -n A link add … peer
… netns B`), so nothing ever appears in the host's namespace and interface names only need to be
unique inside one namespace (well under the 15-character limit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from racker.errors import InputError, Where

PREFIX = "rks"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,19}")
BRIDGE = "br0"
NODE_IFACE = "eth0"
MGMT_PRIMARY_IFACE = "eth0"
MGMT_SECONDARY_IFACE = "eth1"


def check_rack_name(name: str) -> str:
    """`name` when it is a valid rack name (lower-case letters, digits, '-', at most 20)."""
    if not _NAME.fullmatch(name):
        raise InputError(f"'{name}' is not a valid rack name", where=Where(flag="--name"),
                         hint="use 1 to 20 lower-case letters, digits and '-', "
                              "starting with a letter or digit")
    return name


@dataclass(frozen=True)
class SimServer:
    """One server of the simulated rack (not the management node)."""

    index: int
    """1-based, in nodes.csv order."""
    primary_mac: str
    bmc_mac: str
    node_type: str = ""
    bmc_protocol: str = "ipmi"
    """What its BMC speaks: `ipmi`, `redfish` (IPMI over LAN off) or `both`."""
    secondary_mac: str = ""
    """The server's second NIC (its inventory lists it; no cable in the simulator)."""
    miscabled: bool = False
    """`--miscabled`: the cables of the two NICs are swapped, so the server PXE boots from its
    secondary MAC and its primary NIC is the one without link."""

    @property
    def rack_mac(self) -> str:
        """The MAC of the NIC cabled to the rack network (what the server PXE boots from)."""
        return self.secondary_mac if self.miscabled and self.secondary_mac else self.primary_mac

    @property
    def name(self) -> str:
        return f"node{self.index}"


@dataclass(frozen=True)
class Topology:
    """All names of one simulated rack."""

    rack: str
    mgmt_primary_mac: str
    mgmt_secondary_mac: str
    servers: tuple[SimServer, ...]
    node_kind: str = "lite"
    """`lite` (a namespace per node) or `qemu` (a tap per node on the bridge)."""
    disk_dir: str = ""
    """Where QEMU nodes keep their virtual disks (empty: the rack's state dir)."""
    firmware: str = "uefi"
    """What QEMU nodes boot: `uefi` (OVMF, UEFI PXE) or `bios` (SeaBIOS, legacy iPXE ROM)."""

    @property
    def ns_prefix(self) -> str:
        return f"{PREFIX}-{self.rack}-"

    @property
    def net_ns(self) -> str:
        return f"{self.ns_prefix}net"

    @property
    def mgmt_ns(self) -> str:
        return f"{self.ns_prefix}mgmt"

    def bmc_ns(self, server: SimServer) -> str:
        return f"{self.ns_prefix}bmc{server.index}"

    def node_ns(self, server: SimServer) -> str:
        return f"{self.ns_prefix}node{server.index}"

    @property
    def namespaces(self) -> tuple[str, ...]:
        """Every namespace of the rack, the bridge's first."""
        names = [self.net_ns, self.mgmt_ns]
        for s in self.servers:
            names.append(self.bmc_ns(s))
            if self.node_kind == "lite":
                names.append(self.node_ns(s))
        return tuple(names)

    @staticmethod
    def tap(server: SimServer) -> str:
        """The QEMU node's tap on the bridge (in the rack network namespace)."""
        return f"q{server.index}"

    def server(self, ref: str) -> SimServer | None:
        """The server named by `ref`: `node3`, `3`, or its primary or BMC MAC (any form)."""
        r = ref.strip().lower().replace("-", ":")
        for s in self.servers:
            if r in (s.name, str(s.index), s.primary_mac, s.bmc_mac):
                return s
        return None


Command = tuple[str | None, tuple[str, ...]]
"""(namespace to run in or None, `ip` arguments)"""


def create_commands(t: Topology) -> list[Command]:
    """The `ip` commands that build the rack from nothing, in an order that works."""
    cmds: list[Command] = [(None, ("netns", "add", ns)) for ns in t.namespaces]
    net = t.net_ns
    cmds += [
        (net, ("link", "set", "lo", "up")),
        (net, ("link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0")),
        (net, ("link", "set", BRIDGE, "up")),
    ]
    # Each veth is born with its far end already in the far namespace.
    links = [("mgmt", t.mgmt_ns, MGMT_SECONDARY_IFACE, t.mgmt_secondary_mac)]
    for s in t.servers:
        links.append((f"b{s.index}", t.bmc_ns(s), NODE_IFACE, s.bmc_mac))
        if t.node_kind == "lite":
            links.append((f"n{s.index}", t.node_ns(s), NODE_IFACE, s.primary_mac))
        else:
            cmds.append((net, ("tuntap", "add", t.tap(s), "mode", "tap")))
            cmds.append((net, ("link", "set", t.tap(s), "master", BRIDGE, "up")))
    for near, ns, far, _mac in links:
        cmds.append((net, ("link", "add", near, "type", "veth", "peer", "name", far,
                           "netns", ns)))
        cmds.append((net, ("link", "set", near, "master", BRIDGE, "up")))
    cmds += [
        (t.mgmt_ns, ("link", "set", "lo", "up")),
        # The management node's primary NIC is on the public network, which the simulated rack
        # does not have: an unconnected veth carries its MAC so that racker sees both MACs, as
        # on hardware. (A dummy link would do, but not every kernel has the dummy driver.)
        (t.mgmt_ns, ("link", "add", MGMT_PRIMARY_IFACE, "address", t.mgmt_primary_mac,
                     "type", "veth", "peer", "name", "public0")),
        (t.mgmt_ns, ("link", "set", MGMT_PRIMARY_IFACE, "up")),
    ]
    for _near, ns, far, mac in links:
        if ns != t.mgmt_ns:
            cmds.append((ns, ("link", "set", "lo", "up")))
        cmds.append((ns, ("link", "set", far, "address", mac)))
        cmds.append((ns, ("link", "set", far, "up")))
    return cmds


def rack_namespaces(rack: str, existing: list[str]) -> list[str]:
    """The namespaces in `existing` that belong to rack `rack` (also leftovers of a crash)."""
    own = re.compile(rf"{PREFIX}-{re.escape(rack)}-(net|mgmt|bmc[0-9]+|node[0-9]+)")
    return [ns for ns in existing if own.fullmatch(ns)]


def destroy_commands(rack: str, existing: list[str]) -> list[Command]:
    """The `ip` commands that delete the rack's namespaces among `existing`.

    Deleting a namespace deletes the interfaces inside it; veth peers go with either end.
    """
    return [(None, ("netns", "delete", ns)) for ns in rack_namespaces(rack, existing)]


def sys_class_net(t: Topology) -> dict[str, str]:
    """Interface → MAC of the simulated management node (for RACKER_SYS_CLASS_NET)."""
    return {MGMT_PRIMARY_IFACE: t.mgmt_primary_mac, MGMT_SECONDARY_IFACE: t.mgmt_secondary_mac}
