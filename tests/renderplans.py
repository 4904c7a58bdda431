"""ClusterPlans built by hand for the renderer tests (independent of racker.core.plan).

MACs follow tests/rackfixtures.py: node i has primary 02:00:00:00:00:ii, BMC 02:00:00:00:01:ii,
secondary 02:00:00:00:02:ii; the management node is i = 0.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

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
from racker.paths import Paths


def mac(kind: int, i: int) -> str:
    return f"02:00:00:00:{kind:02x}:{i:02x}"


def inventory(n: int, types: Sequence[str] = ()) -> Inventory:
    nodes = tuple(
        Node(mac(0, i), mac(1, i), mac(2, i), types[(i - 1) % len(types)] if types else "",
             "", i + 1)
        for i in range(1, n + 1)
    )
    mgmt = Node(mac(0, 0), mac(1, 0), mac(2, 0), "", "", 2)
    return Inventory(Path("/oem/nodes.csv"), mgmt, nodes, "eth1")


def build_plan(
    n: int = 3,
    options: Options | None = None,
    *,
    types: Sequence[str] = (),
    statics: Mapping[int, StaticAddress] | None = None,
    exclude: Sequence[int] = (),
) -> ClusterPlan:
    """The plan racker.core.plan is specified to make, for a rack of `n` nodes (1-based indices)."""
    o = options or Options()
    inv = inventory(n, types)
    ordered = sorted(inv.nodes, key=lambda x: x.primary_mac)
    prefix = o.subnet_prefix
    ip = {x.primary_mac: f"{prefix}.{k + 2}" for k, x in enumerate(ordered)}
    ip |= {x.bmc_mac: f"{prefix}.{k + 2 + len(ordered)}" for k, x in enumerate(ordered)}
    excluded = tuple(inv.nodes[i - 1] for i in exclude)
    active = [x for x in ordered if x not in excluded]
    statics = statics or {}
    by_primary = {inv.nodes[i - 1].primary_mac: s for i, s in statics.items()}

    def planned(x: Node, role: Role, idx: int, name: str, labels: tuple[tuple[str, str], ...]
                ) -> PlannedNode:
        return PlannedNode(x, role, idx, name, ip[x.primary_mac], ip[x.bmc_mac], labels,
                           by_primary.get(x.primary_mac))

    nodes: list[PlannedNode] = []
    if o.provision is Provision.FLATCAR:
        nodes = [planned(x, Role.NODE, k, f"node-{k}", ()) for k, x in enumerate(active)]
    else:
        def fits(x: Node, t: str) -> bool:
            return t == ANY_TYPE or x.node_type == t

        ctrl = [x for x in active if fits(x, o.controller_type)][: o.num_controllers]
        workers = [x for x in active if x not in ctrl]
        storage: list[Node] = []
        if o.storage_provider is not StorageProvider.NONE:
            cands = [x for x in workers if fits(x, o.storage_node_type)]
            k = len(cands) if o.number_of_storage_nodes is None else o.number_of_storage_nodes
            storage = cands[:k]
        dom = o.k8s_domain_name
        for k, x in enumerate(ctrl):
            nodes.append(planned(x, Role.CONTROLLER, k, f"{o.cluster_name}-controller-{k}.{dom}",
                                 (("metadata.node-type", x.node_type),)))
        for k, x in enumerate(workers):
            labels: tuple[tuple[str, str], ...] = (("metadata.node-type", x.node_type),)
            if x in storage:
                labels += (("storage.lokomotive.io", str(o.storage_provider)),)
            nodes.append(planned(x, Role.WORKER, k, f"{o.cluster_name}-worker-{k}.{dom}", labels))
    addresses = tuple((m, ip[m]) for x in ordered for m in (x.primary_mac, x.bmc_mac))
    return ClusterPlan(o, inv, f"{prefix}.1", tuple(nodes), excluded, addresses)


def flatcar(**kw: object) -> Options:
    return replace(Options(provision=Provision.FLATCAR), **kw)  # type: ignore[arg-type]


def lokomotive(**kw: object) -> Options:
    return replace(Options(provision=Provision.LOKOMOTIVE), **kw)  # type: ignore[arg-type]


def paths_under(root: Path) -> Paths:
    """Paths with every place under `root` (nothing of the real system)."""
    return Paths(oem_dir=root / "oem", state_dir=root / "state", hosts_file=root / "hosts",
                 sys_class_net=root / "sys-class-net", home=root / "home")


STATIC = StaticAddress("02:00:00:00:02:01", "11.22.33.44/22", "11.22.33.1", "1.2.3.4")


def parse_hcl(text: str) -> dict[str, Any]:
    """Parse HCL with python-hcl2 (a real HCL2 parser) and unquote its string values."""
    import hcl2

    return _unquote(hcl2.loads(text))  # type: ignore[no-any-return]


def _unquote(value: Any) -> Any:
    # python-hcl2 ≥ 8 keeps the quotes of string literals and map keys; older versions drop them.
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return json.loads(value.replace("$${", "${").replace("%%{", "%{"))
        return value
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items()}
    return value
