"""The shared data of racker's pure core: the rack inventory, the bootstrap options and the plan.

All frozen dataclasses. Wire words (`flatcar`, `retry`, `rook`) become enums here, at the edge,
and go back to words only when rendered or printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


@dataclass(frozen=True)
class Node:
    """One row of nodes.csv. MACs are lower-case colon form; `line` is the 1-based file line."""

    primary_mac: str
    bmc_mac: str
    secondary_mac: str | None
    node_type: str
    comment: str
    line: int

    @property
    def macs(self) -> tuple[str, ...]:
        """Every MAC that names this node (primary, BMC, secondary)."""
        return tuple(m for m in (self.primary_mac, self.bmc_mac, self.secondary_mac) if m)


@dataclass(frozen=True)
class Inventory:
    """The rack: the management node (this machine), every other node in file order."""

    path: Path
    management: Node
    nodes: tuple[Node, ...]
    pxe_interface: str
    """Name of this machine's interface that carries the management row's secondary MAC."""

    @property
    def node_types(self) -> tuple[str, ...]:
        """The distinct non-empty node types, in order of first appearance."""
        seen: dict[str, None] = {}
        for n in self.nodes:
            if n.node_type:
                seen.setdefault(n.node_type, None)
        return tuple(seen)


@dataclass(frozen=True)
class Credentials:
    """The BMC user and password from ipmi_user / ipmi_password. Never printed."""

    user: str
    password: str = field(repr=False)


class Provision(StrEnum):
    LOKOMOTIVE = "lokomotive"
    FLATCAR = "flatcar"


class OnFailure(StrEnum):
    ASK = "ask"
    RETRY = "retry"
    EXCLUDE = "exclude"
    CANCEL = "cancel"


class StorageProvider(StrEnum):
    NONE = "none"
    ROOK = "rook"
    OPENEBS = "openebs"


class Role(StrEnum):
    CONTROLLER = "controller"
    WORKER = "worker"
    NODE = "node"
    """A plain Flatcar node (no Kubernetes role)."""


ANY_TYPE = "any"
"""Controller or storage node type meaning: every node type."""


@dataclass(frozen=True)
class Backup:
    """Velero backup to S3. The keys are secrets: never printed or logged."""

    aws_access_key: str = field(repr=False)
    aws_secret_key: str = field(repr=False)
    name: str = "lokomotive"
    s3_bucket: str = ""
    aws_location: str = ""


@dataclass(frozen=True)
class Options:
    """Every answer of the bootstrap wizard, each also a flag. Defaults are the reference's."""

    provision: Provision = Provision.LOKOMOTIVE
    cluster_name: str = "lokomotive"
    num_controllers: int = 1
    controller_type: str = ANY_TYPE
    ip_addrs: str = "DHCP"
    """`DHCP` or the INI text with `[secondary MAC]` sections (see racker.core.ipaddrs)."""
    k8s_domain_name: str = "k8s.localdomain"
    subnet_prefix: str = "172.24.213"
    web_ui: bool = False
    storage_provider: StorageProvider = StorageProvider.NONE
    storage_node_type: str = ANY_TYPE
    number_of_storage_nodes: int | None = None
    """None means all nodes of the storage node type."""
    backup: Backup | None = None
    onfailure: OnFailure = OnFailure.ASK
    retries: int = 3
    exclude: tuple[str, ...] = ()
    """MACs (primary, BMC or secondary, normalised) of nodes left out of the cluster."""


@dataclass(frozen=True)
class StaticAddress:
    """A static address on a node's public (secondary) interface."""

    secondary_mac: str
    address: str
    """`A.B.C.D/N`"""
    gateway: str
    dns: str


@dataclass(frozen=True)
class PlannedNode:
    """A node with everything the plan decided for it."""

    node: Node
    role: Role
    index: int
    """The `i` in `<cluster>-controller-<i>` / `<cluster>-worker-<i>` / `node-<i>`."""
    name: str
    """The node's name: the full domain for Lokomotive, `node-<i>` for Flatcar."""
    ip: str
    """Internal address on the rack network."""
    bmc_ip: str
    labels: tuple[tuple[str, str], ...] = ()
    static: StaticAddress | None = None

    @property
    def mac(self) -> str:
        return self.node.primary_mac


@dataclass(frozen=True)
class ClusterPlan:
    """Options + inventory → who is what, with which name and address. Pure data."""

    options: Options
    inventory: Inventory
    management_ip: str
    nodes: tuple[PlannedNode, ...]
    """Nodes taking part, controllers first then workers (Lokomotive), or by index (Flatcar)."""
    excluded: tuple[Node, ...] = ()
    addresses: tuple[tuple[str, str], ...] = ()
    """(MAC, IP) for every primary and BMC MAC, excluded nodes too, so addresses stay stable."""

    @property
    def controllers(self) -> tuple[PlannedNode, ...]:
        return tuple(n for n in self.nodes if n.role is Role.CONTROLLER)

    @property
    def workers(self) -> tuple[PlannedNode, ...]:
        return tuple(n for n in self.nodes if n.role is not Role.CONTROLLER)
