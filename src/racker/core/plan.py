"""Options + inventory → ClusterPlan: who is controller, worker or storage node, names, addresses.

Pure. The numbering follows the reference exactly, so that addresses stay stable for racks that
were set up with it: every node of nodes.csv except the management node (excluded nodes too) is
sorted by primary MAC; the primary MACs get PREFIX.2, .3, … in that order, then the BMC MACs
continue the numbering; the management node is PREFIX.1. The upper half (.128–.254) is the DHCP
pool, so a number of 128 or more is an error.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from racker.core.ipaddrs import parse_ip_addr_sections
from racker.core.macs import parse_mac
from racker.errors import InputError, Where
from racker.model import (
    ANY_TYPE,
    ClusterPlan,
    Inventory,
    Node,
    Options,
    PlannedNode,
    Provision,
    Role,
    StaticAddress,
    StorageProvider,
)

FIRST_NODE_NUMBER = 2
POOL_START = 128
"""PREFIX.128 and up is dnsmasq's dynamic pool; static numbers must stay below."""
MAX_NODES = (POOL_START - FIRST_NODE_NUMBER) // 2
"""63: each node needs two numbers (its primary NIC and its BMC)."""
CONTROLLER_COUNTS = (1, 3)

NODE_TYPE_LABEL = "metadata.node-type"
STORAGE_LABEL = "storage.lokomotive.io"

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")


def _flag_error(flag: str, msg: str, hint: str | None = None) -> InputError:
    return InputError(msg, where=Where(flag=flag), hint=hint)


def check_subnet_prefix(prefix: str) -> str:
    """Validate `-subnet-prefix` (three decimal octets, `A.B.C`); return it."""
    parts = prefix.split(".")
    hint = "give the first three numbers of a private /24 network, e.g. 172.24.213"
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        raise _flag_error("-subnet-prefix", f'"{prefix}" is not three decimal numbers A.B.C',
                          hint)
    if any(len(p) > 1 and p.startswith("0") for p in parts):
        raise _flag_error("-subnet-prefix", f'"{prefix}" has a number with a leading zero', hint)
    octets = [int(p) for p in parts]
    if any(o > 255 for o in octets):
        raise _flag_error("-subnet-prefix", f'"{prefix}" has a number above 255', hint)
    if octets[0] in (0, 127) or octets[0] >= 224:
        raise _flag_error("-subnet-prefix", f'"{prefix}" is not a usable unicast network', hint)
    return prefix


def number_addresses(prefix: str, nodes: Sequence[Node], path: str) -> dict[str, str]:
    """MAC → internal IP for every primary and BMC MAC, numbered as the reference does."""
    ordered = sorted(nodes, key=lambda n: n.primary_mac)
    if len(ordered) > MAX_NODES:
        raise InputError(
            f"nodes.csv lists {len(ordered)} nodes besides the management node, but the "
            f"rack-internal /24 network has static addresses for at most {MAX_NODES}",
            where=Where(file=path),
            hint=f"each node takes two addresses below {prefix}.{POOL_START} (its NIC and its "
                 "BMC; the upper half is the DHCP pool); split the rack",
        )
    macs = [n.primary_mac for n in ordered] + [n.bmc_mac for n in ordered]
    return {mac: f"{prefix}.{FIRST_NODE_NUMBER + i}" for i, mac in enumerate(macs)}


def _exclude_tokens(options: Options) -> list[str]:
    """The `-exclude` MACs; an element may still be the flag's white-space separated string."""
    return [t for item in options.exclude for t in item.split()]


def _excluded(options: Options, inventory: Inventory) -> set[str]:
    """Primary MACs of the nodes named by `-exclude` (any of their MACs names them)."""
    by_mac = {m: n for n in inventory.nodes for m in n.macs}
    out: set[str] = set()
    for token in _exclude_tokens(options):
        mac = parse_mac(token)
        if mac is None:
            raise _flag_error("-exclude", f'"{token}" is not a MAC address',
                              "give a white-space separated list of MAC addresses from nodes.csv")
        if mac in inventory.management.macs:
            raise _flag_error("-exclude", f"{mac} is the management node (this machine), which "
                              "is never provisioned", "name only other nodes of nodes.csv")
        node = by_mac.get(mac)
        if node is None:
            raise _flag_error("-exclude", f"{mac} is not a MAC address of any node in "
                              f"{inventory.path}",
                              "use a primary, BMC or secondary MAC address listed in nodes.csv")
        out.add(node.primary_mac)
    return out


def _statics(options: Options, inventory: Inventory) -> dict[str, StaticAddress]:
    """Secondary MAC → static address; every section must name a node's secondary MAC."""
    by_secondary = {n.secondary_mac: n for n in inventory.nodes if n.secondary_mac}
    others = {m: n for n in inventory.nodes for m in (n.primary_mac, n.bmc_mac)}
    out: dict[str, StaticAddress] = {}
    for s in parse_ip_addr_sections(options.ip_addrs, "-ip-addrs"):
        mac = s.address.secondary_mac
        if mac not in by_secondary:
            if mac == inventory.management.secondary_mac:
                hint = "that is the management node's NIC on the rack-internal network"
            elif mac in others:
                node = others[mac]
                second = node.secondary_mac or "(none given in nodes.csv)"
                hint = (f"that MAC is on the internal network (nodes.csv line {node.line}); name "
                        f"the node by its secondary MAC {second}")
            else:
                hint = "name each section by a node's secondary MAC address from nodes.csv"
            raise InputError(f"[{mac}] is not the secondary MAC address of any node",
                             where=Where(file="-ip-addrs", line=s.line, column=s.column),
                             hint=hint)
        out[mac] = s.address
    return out


def _type_check(flag: str, wanted: str, inventory: Inventory) -> None:
    if wanted != ANY_TYPE and wanted not in inventory.node_types:
        known = ", ".join([ANY_TYPE, *sorted(inventory.node_types)])
        raise _flag_error(flag, f'no node in nodes.csv has the node type "{wanted}"',
                          f"choose one of: {known}")


def _of_type(nodes: Sequence[Node], wanted: str) -> list[Node]:
    return [n for n in nodes if wanted == ANY_TYPE or n.node_type == wanted]


def _check_names(options: Options, n_controllers: int, n_workers: int) -> None:
    name, domain = options.cluster_name, options.k8s_domain_name
    if not _DNS_LABEL.fullmatch(name):
        raise _flag_error("-cluster-name", f'"{name}" is not a valid cluster name',
                          "use lower-case letters, digits and '-', starting and ending with a "
                          "letter or digit")
    labels = domain.split(".")
    if not domain or not all(_DNS_LABEL.fullmatch(x) for x in labels):
        raise _flag_error("-k8s-domain-name", f'"{domain}" is not a valid domain name',
                          "use dot-separated lower-case labels of letters, digits and '-', "
                          "e.g. k8s.localdomain")
    longest = max(len(f"{name}-controller-{max(n_controllers - 1, 0)}"),
                  len(f"{name}-worker-{max(n_workers - 1, 0)}"))
    if longest > 63:
        raise _flag_error("-cluster-name", f'"{name}" is too long: node host names would have '
                          f"{longest} characters (at most 63)", "choose a shorter cluster name")
    if longest + 1 + len(domain) > 253:
        raise _flag_error("-k8s-domain-name", f'"{domain}" is too long for the node names',
                          "choose a shorter domain name")


def _check_backup(options: Options) -> None:
    b = options.backup
    if b is None:
        return
    for flag, value in (("-aws-access-key", b.aws_access_key),
                        ("-aws-secret-key", b.aws_secret_key),
                        ("-backup-name", b.name),
                        ("-backup-s3-bucket", b.s3_bucket),
                        ("-backup-aws-location", b.aws_location)):
        if not value.strip():
            raise _flag_error(flag, "backups to S3 need this value",
                              "give it, or set -config-backup false")


def _check_label_values(inventory: Inventory, nodes: Sequence[Node]) -> None:
    for n in nodes:
        if len(n.node_type) > 63 or not _LABEL_VALUE.fullmatch(n.node_type):
            raise InputError(
                f'the node type "{n.node_type}" cannot be a Kubernetes label value',
                where=Where(file=str(inventory.path), line=n.line),
                hint="use at most 63 letters, digits, '-', '_' or '.', starting and ending with "
                     "a letter or digit",
            )


def _storage(options: Options, inventory: Inventory,
             workers: Sequence[Node]) -> tuple[Options, set[str]]:
    """The effective options and the primary MACs of the storage nodes."""
    if options.storage_provider is StorageProvider.NONE:
        return options, set()
    _type_check("-storage-node-type", options.storage_node_type, inventory)
    k = options.number_of_storage_nodes
    if k is not None and k < 0:
        raise _flag_error("-number-of-storage-nodes", f"{k} is negative",
                          "give a number of nodes, or 'all'")
    if k == 0:  # the reference's rule: zero storage nodes means no storage provider
        return dataclasses.replace(options, storage_provider=StorageProvider.NONE), set()
    candidates = _of_type(workers, options.storage_node_type)
    what = ("worker nodes" if options.storage_node_type == ANY_TYPE
            else f'worker nodes of type "{options.storage_node_type}"')
    if not candidates:
        raise _flag_error("-storage-node-type", f"there are no {what} for storage (controllers "
                          "are not storage nodes)",
                          "choose another -storage-node-type or -storage-provider none")
    if k is not None and k > len(candidates):
        raise _flag_error("-number-of-storage-nodes", f"{k} storage nodes wanted, but there are "
                          f"only {len(candidates)} {what}",
                          f"give at most {len(candidates)}, or 'all'")
    chosen = candidates if k is None else candidates[:k]
    return options, {n.primary_mac for n in chosen}


def make_plan(options: Options, inventory: Inventory) -> ClusterPlan:
    """Decide roles, names, internal addresses, labels and static addresses. Pure.

    Raises InputError naming the flag (or the nodes.csv line) at fault.
    """
    prefix = check_subnet_prefix(options.subnet_prefix)
    path = str(inventory.path)
    if not inventory.nodes:
        raise InputError("nodes.csv lists no node besides the management node",
                         where=Where(file=path), hint="add one row per server of the rack")
    if options.retries < 0:
        raise _flag_error("-retries", f"{options.retries} is negative", "give 0 or more")
    ips = number_addresses(prefix, inventory.nodes, path)
    excluded = _excluded(options, inventory)
    ordered = sorted(inventory.nodes, key=lambda n: n.primary_mac)
    active = [n for n in ordered if n.primary_mac not in excluded]
    if not active:
        raise _flag_error("-exclude", "every node is excluded; nothing is left to provision",
                          "exclude fewer nodes")
    statics = _statics(options, inventory)
    normalised = (parse_mac(t) for t in _exclude_tokens(options))
    options = dataclasses.replace(
        options, exclude=tuple(dict.fromkeys(m for m in normalised if m is not None)))

    planned: list[PlannedNode] = []

    def add(node: Node, role: Role, index: int, name: str,
            labels: tuple[tuple[str, str], ...] = ()) -> None:
        planned.append(PlannedNode(
            node=node, role=role, index=index, name=name, ip=ips[node.primary_mac],
            bmc_ip=ips[node.bmc_mac], labels=labels,
            static=statics.get(node.secondary_mac or "")))

    if options.provision is Provision.FLATCAR:
        for i, node in enumerate(active):
            add(node, Role.NODE, i, f"node-{i}")
    else:
        if options.num_controllers not in CONTROLLER_COUNTS:
            raise _flag_error("-num-controllers", f"{options.num_controllers} controllers are "
                              "not possible", "choose 1 (single controller) or 3 (highly "
                              "available control plane)")
        _type_check("-controller-type", options.controller_type, inventory)
        candidates = _of_type(active, options.controller_type)
        if len(candidates) < options.num_controllers:
            what = ("nodes" if options.controller_type == ANY_TYPE
                    else f'nodes of type "{options.controller_type}"')
            raise _flag_error("-num-controllers", f"{options.num_controllers} controllers need "
                              f"{options.num_controllers} {what}, but only {len(candidates)} "
                              "are available (excluded nodes do not count)",
                              "choose -num-controllers 1 or another -controller-type")
        controllers = candidates[: options.num_controllers]
        chosen = {n.primary_mac for n in controllers}
        workers = [n for n in active if n.primary_mac not in chosen]
        _check_names(options, len(controllers), len(workers))
        _check_label_values(inventory, active)
        _check_backup(options)
        options, storage = _storage(options, inventory, workers)
        cluster, domain = options.cluster_name, options.k8s_domain_name
        for role, group in ((Role.CONTROLLER, controllers), (Role.WORKER, workers)):
            for i, node in enumerate(group):
                labels: tuple[tuple[str, str], ...] = ((NODE_TYPE_LABEL, node.node_type),)
                if node.primary_mac in storage:
                    labels += ((STORAGE_LABEL, options.storage_provider.value),)
                add(node, role, i, f"{cluster}-{role.value}-{i}.{domain}", labels)

    return ClusterPlan(
        options=options,
        inventory=inventory,
        management_ip=f"{prefix}.1",
        nodes=tuple(planned),
        excluded=tuple(n for n in ordered if n.primary_mac in excluded),
        addresses=tuple(ips.items()),  # in address order: all primaries, then all BMCs
    )
