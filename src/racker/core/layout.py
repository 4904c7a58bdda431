"""The nodes of a configuration folder in array order, with the names and addresses they got.

`make_plan` names and numbers nodes from scratch (sorted primary MACs), which is right for a new
cluster but not for a running one: after `racker node exclude`, `include` or `replace` every
other node must keep its name and internal IP, a node added back goes to the END of the arrays
(as the after-provisioning documentation says), and a replacement server takes over the name and
addresses of the server it replaces. `racker-nodes.yaml` in the folder records the layout;
`pin_plan` makes a fresh plan honour it. Without the file the fresh plan is the layout (that is
what `racker bootstrap` rendered).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from racker.core.macs import parse_mac
from racker.core.plan import FIRST_NODE_NUMBER, NODE_TYPE_LABEL, POOL_START
from racker.core.render import RenderedFile
from racker.core.render.ignition_folder import parse_string_list
from racker.errors import InputError, Where
from racker.model import ClusterPlan, Node, PlannedNode, Provision, Role

LAYOUT_NAME = "racker-nodes.yaml"
LAYOUT_VERSION = 1


@dataclass(frozen=True)
class Slot:
    """One node's place: its MACs, role, index, name and internal addresses."""

    mac: str
    """Primary MAC."""
    bmc_mac: str
    role: Role
    index: int
    name: str
    """Empty for a node that was excluded before it ever got a name."""
    ip: str
    bmc_ip: str


@dataclass(frozen=True)
class Layout:
    """Active nodes in array order, and the excluded ones (kept so they can come back)."""

    active: tuple[Slot, ...]
    excluded: tuple[Slot, ...] = ()

    def find(self, mac: str) -> Slot | None:
        """The slot of a primary or BMC MAC, active or excluded."""
        for s in (*self.active, *self.excluded):
            if mac in (s.mac, s.bmc_mac):
                return s
        return None

    def without(self, mac: str) -> Layout:
        """The layout without the slot of primary MAC `mac`."""
        return Layout(tuple(s for s in self.active if s.mac != mac),
                      tuple(s for s in self.excluded if s.mac != mac))

    def exclude(self, mac: str) -> Layout:
        """`mac`'s slot moved from the active nodes to the excluded ones."""
        slot = self.find(mac)
        if slot is None:
            return self
        rest = self.without(slot.mac)
        return Layout(rest.active, (*rest.excluded, slot))

    def append(self, slot: Slot) -> Layout:
        """`slot` as the last active node (an included node goes to the end of the arrays)."""
        rest = self.without(slot.mac)
        return Layout((*rest.active, slot), rest.excluded)

    def replace_slot(self, old_mac: str, new: Slot) -> Layout:
        """The slot of `old_mac` replaced by `new` at the same position."""
        return Layout(tuple(new if s.mac == old_mac else s for s in self.active),
                      tuple(new if s.mac == old_mac else s for s in self.excluded))


def slot_of(node: PlannedNode) -> Slot:
    """The slot a planned node takes."""
    return Slot(node.mac, node.node.bmc_mac, node.role, node.index, node.name, node.ip,
                node.bmc_ip)


def layout_of(plan: ClusterPlan) -> Layout:
    """The layout a plan describes (excluded nodes keep their addresses, without a name)."""
    ips = dict(plan.addresses)
    role = Role.NODE if plan.options.provision is Provision.FLATCAR else Role.WORKER
    excluded = tuple(Slot(n.primary_mac, n.bmc_mac, role, -1, "", ips.get(n.primary_mac, ""),
                          ips.get(n.bmc_mac, "")) for n in plan.excluded)
    return Layout(tuple(slot_of(n) for n in plan.nodes), excluded)


def _name(plan: ClusterPlan, role: Role, index: int) -> str:
    o = plan.options
    if o.provision is Provision.FLATCAR:
        return f"node-{index}"
    return f"{o.cluster_name}-{role.value}-{index}.{o.k8s_domain_name}"


class _Numbers:
    """Free internal addresses of the /24, below the DHCP pool."""

    def __init__(self, prefix: str, used: Iterable[str]) -> None:
        self.prefix = prefix
        self.used = set(used)

    def take(self, wanted: str | None) -> str:
        if wanted and wanted not in self.used:
            self.used.add(wanted)
            return wanted
        for i in range(FIRST_NODE_NUMBER, POOL_START):
            ip = f"{self.prefix}.{i}"
            if ip not in self.used:
                self.used.add(ip)
                return ip
        raise InputError("no free internal address is left below the DHCP pool",
                         hint="exclude nodes for good by removing them from nodes.csv")


def pin_plan(fresh: ClusterPlan, layout: Layout) -> ClusterPlan:
    """`fresh` (from make_plan) with every node of `layout` keeping its place, name and IPs.

    Which nodes take part is still `fresh`'s decision (the recorded `-exclude`). Nodes unknown
    to the layout (new rows of nodes.csv) are appended with the next free index and addresses;
    on Lokomotive they become workers, as a running cluster's controllers stay as they are.
    Slots of MACs that are no longer in nodes.csv are dropped.
    """
    inventory = fresh.inventory
    known = {n.primary_mac for n in inventory.nodes}
    slots = {s.mac: s for s in (*layout.active, *layout.excluded) if s.mac in known}
    fresh_ips = dict(fresh.addresses)
    numbers = _Numbers(fresh.options.subnet_prefix,
                       [ip for s in slots.values() for ip in (s.ip, s.bmc_ip) if ip])
    addresses: dict[str, str] = {}
    for node in sorted(inventory.nodes, key=lambda n: n.primary_mac):
        slot = slots.get(node.primary_mac)
        addresses[node.primary_mac] = slot.ip if slot and slot.ip else numbers.take(
            fresh_ips.get(node.primary_mac))
    for node in sorted(inventory.nodes, key=lambda n: n.primary_mac):
        slot = slots.get(node.primary_mac)
        addresses[node.bmc_mac] = slot.bmc_ip if slot and slot.bmc_ip else numbers.take(
            fresh_ips.get(node.bmc_mac))

    position = {s.mac: i for i, s in enumerate(layout.active)}
    active = sorted(fresh.nodes, key=lambda p: position.get(p.mac, len(position)))
    taken: set[str] = set()
    next_index: dict[Role, int] = {}
    for s in slots.values():
        if s.name:
            next_index[s.role] = max(next_index.get(s.role, 0), s.index + 1)
    planned: list[PlannedNode] = []
    for p in active:
        slot = slots.get(p.mac)
        if slot is not None and slot.name and slot.name not in taken:
            role, index, name = slot.role, slot.index, slot.name
        else:
            if slot is not None and slot.name:
                role = slot.role  # its name went to another node: a new one of its role
            elif fresh.options.provision is Provision.FLATCAR or not slots:
                role = p.role
            else:
                role = Role.WORKER
            index = next_index.get(role, 0)
            next_index[role] = index + 1
            name = _name(fresh, role, index)
        taken.add(name)
        labels = p.labels
        if role is not p.role and fresh.options.provision is Provision.LOKOMOTIVE:
            labels = ((NODE_TYPE_LABEL, p.node.node_type),)
        planned.append(dataclasses.replace(
            p, role=role, index=index, name=name, ip=addresses[p.mac],
            bmc_ip=addresses[p.node.bmc_mac], labels=labels))
    # controllers first, as the plan promises; the order within a role is the layout's
    if fresh.options.provision is Provision.LOKOMOTIVE:
        planned.sort(key=lambda p: p.role is not Role.CONTROLLER)
    return dataclasses.replace(fresh, nodes=tuple(planned),
                               addresses=tuple(addresses.items()))


_INDEX = re.compile(r"-(\d+)\Z")


def name_index(name: str) -> int:
    """The `i` of `node-<i>` or `<cluster>-<role>-<i>.<domain>`; -1 for other names."""
    m = _INDEX.search(name.split(".", 1)[0])
    return int(m.group(1)) if m else -1


def layout_from_vars(fresh: ClusterPlan, vars_text: str,
                     kept_names: Mapping[str, str] | None = None) -> Layout | None:
    """The layout that a rendered vars file (terraform.tfvars / lokocfg.vars) shows.

    Its arrays give the order, names and roles of the nodes: the folder as it was written,
    also after an exclusion during the bootstrap (which keeps the names). Addresses are the
    plan's (they never depend on exclusion). `kept_names` names excluded nodes by their kept
    CLC files. None when the arrays cannot be read.
    """
    if fresh.options.provision is Provision.FLATCAR:
        groups = [("node_macs", "node_names", Role.NODE)]
    else:
        groups = [("controller_macs", "controller_names", Role.CONTROLLER),
                  ("worker_macs", "worker_names", Role.WORKER)]
    ips = dict(fresh.addresses)
    known = {n.primary_mac: n for n in fresh.inventory.nodes}
    active: list[Slot] = []
    for macs_var, names_var, role in groups:
        macs = parse_string_list(vars_text, macs_var)
        names = parse_string_list(vars_text, names_var)
        if macs is None or names is None or len(macs) != len(names):
            return None
        for text, name in zip(macs, names, strict=True):
            mac = parse_mac(text)
            node = known.get(mac or "")
            if node is None or node.primary_mac not in ips or node.bmc_mac not in ips:
                continue
            active.append(Slot(node.primary_mac, node.bmc_mac, role, name_index(name), name,
                               ips[node.primary_mac], ips[node.bmc_mac]))
    seen = {s.mac for s in active}
    default = Role.NODE if fresh.options.provision is Provision.FLATCAR else Role.WORKER
    kept = kept_names or {}
    excluded = tuple(
        Slot(n.primary_mac, n.bmc_mac, default, name_index(kept.get(n.primary_mac, "")),
             kept.get(n.primary_mac, ""), ips.get(n.primary_mac, ""), ips.get(n.bmc_mac, ""))
        for n in fresh.excluded if n.primary_mac not in seen)
    return Layout(tuple(active), excluded)


# ---- the record -----------------------------------------------------------------------------

def _encode_slot(s: Slot) -> dict[str, Any]:
    return {"mac": s.mac, "bmc-mac": s.bmc_mac, "role": s.role.value, "index": s.index,
            "name": s.name, "ip": s.ip, "bmc-ip": s.bmc_ip}


def render_layout(layout: Layout) -> RenderedFile:
    """`racker-nodes.yaml`"""
    header = ("# The nodes of this configuration in array order, with their names and internal\n"
              "# addresses. racker keeps it (racker node exclude|include|replace); names and\n"
              "# addresses stay as they are here when nodes.csv changes.\n")
    data = {"layout-version": LAYOUT_VERSION,
            "nodes": [_encode_slot(s) for s in layout.active],
            "excluded": [_encode_slot(s) for s in layout.excluded]}
    return RenderedFile(PurePosixPath(LAYOUT_NAME),
                        header + yaml.safe_dump(data, sort_keys=False, width=1000))


def _decode_slots(items: object, file: str, key: str) -> tuple[Slot, ...]:
    if items is None:
        return ()
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise InputError(f"'{key}' is not a list", where=Where(file=file))
    out = []
    for i, item in enumerate(items):
        try:
            if not isinstance(item, Mapping):
                raise TypeError("not a mapping")
            out.append(Slot(str(item["mac"]), str(item["bmc-mac"]), Role(item["role"]),
                            int(item["index"]), str(item["name"]), str(item["ip"]),
                            str(item["bmc-ip"])))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"entry {i + 1} of '{key}' is not a node racker wrote: {e}",
                             where=Where(file=file),
                             hint=f"remove {LAYOUT_NAME} to go back to the layout of the "
                                  "recorded options") from e
    return tuple(out)


def parse_layout(text: str, file: str) -> Layout:
    """A layout from the text of `racker-nodes.yaml`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise InputError(f"not valid YAML: {e}", where=Where(file=file)) from e
    if not isinstance(data, Mapping):
        raise InputError("not a node layout", where=Where(file=file))
    return Layout(_decode_slots(data.get("nodes"), file, "nodes"),
                  _decode_slots(data.get("excluded"), file, "excluded"))


def load_layout(folder: Path) -> Layout | None:
    """The folder's recorded layout, or None when there is none yet."""
    path = folder / LAYOUT_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the node layout: {e}", where=Where(file=str(path))) from e
    return parse_layout(text, str(path))


def nodes_by_mac(nodes: Iterable[Node]) -> dict[str, Node]:
    """Every MAC (primary, BMC, secondary) → its node."""
    return {m: n for n in nodes for m in n.macs}
