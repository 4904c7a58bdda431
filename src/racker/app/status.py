"""`racker status`: one table for the whole rack (pure parts plus one gathering function).

Columns as operators know them: `MAC address | BMC reached | Power | OS provisioned |
Joined cluster | Hostnames`, with ✓ × ○, plus `Protocol` (IPMI or Redfish) after `BMC
reached`. BMCs are queried concurrently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from racker.adapters.fs.hostsfile import read_managed
from racker.adapters.fs.rackmeta import load_inventory
from racker.app.configuration.loaded import dnsmasq_running, load_configured
from racker.app.hardware import Reported
from racker.core.activity import Activity
from racker.core.hardware import summary
from racker.core.plan import make_plan
from racker.core.render import asset_dir, config_folder
from racker.core.timeline import printable
from racker.errors import RackerError
from racker.model import ClusterPlan, Options, PlannedNode, Provision
from racker.paths import Paths

YES, NO, NA = "✓", "×", "○"
PROTOCOL_NAMES = {"ipmi": "IPMI", "redfish": "Redfish"}

PowerQuery = Callable[[PlannedNode], Awaitable[str | None]]
"""The node's power state (`on`/`off`, None: not known) from its BMC; raises RackerError when
unreachable."""

ProtocolQuery = Callable[[PlannedNode], str | None]
"""The protocol the node's BMC was reached over (after its power query), or is recorded to
speak; None when unknown."""


@dataclass(frozen=True)
class Row:
    mac: str
    bmc_mac: str
    name: str
    bmc_reached: bool
    power: str | None
    provisioned: bool
    joined: bool | None
    """None when the rack runs no Kubernetes."""
    hostnames: tuple[str, ...]
    bmc_error: str | None = None
    ip: str | None = None
    """The node's internal address on the rack network."""
    stage: str | None = None
    """The provisioning stage racker last had the node in (None before any run)."""
    state: str = "idle"
    """`idle`, `running`, `failed`, `provisioned` or `excluded` (the configuration says
    whether it is excluded; the event log the rest)."""
    failure: str | None = None
    last_event: str | None = None
    last_event_at: float | None = None
    excluded: bool = False
    """Left out of the configuration (`-exclude`, `racker node exclude`): not provisioned on
    purpose."""
    protocol: str | None = None
    """`ipmi` or `redfish`: what the BMC was reached over (or is recorded to speak)."""


@dataclass(frozen=True)
class RackStatus:
    provisioned_as: str
    """`Flatcar`, `Lokomotive` or `no`."""
    kubernetes_api: bool | None
    rows: tuple[Row, ...]
    dhcp_served: bool | None = None
    """Whether a racker process serves DHCP on the rack network (None: not known)."""

    @property
    def provisioned_count(self) -> int:
        return sum(r.provisioned for r in self.rows)


def _mark(value: bool | None) -> str:
    return NA if value is None else (YES if value else NO)


def render_table(status: RackStatus) -> list[str]:
    """The status report as lines (pure)."""
    out = [f"Provisioned: {status.provisioned_as}"]
    if status.kubernetes_api is not None:
        out.append(f"Kubernetes API reached: {'yes' if status.kubernetes_api else 'no'}")
    out.append("")
    head = ("MAC address", "BMC reached", "Protocol", "Power", "OS provisioned",
            "Joined cluster", "Hostnames")
    rows = [(r.mac, _mark(r.bmc_reached), PROTOCOL_NAMES.get(r.protocol or "", "?"),
             r.power or "?", "excluded" if r.excluded else _mark(r.provisioned),
             _mark(r.joined), " ".join(r.hostnames)) for r in status.rows]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    out.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]
    unreachable = [r for r in status.rows if not r.bmc_reached]
    if unreachable:
        out.append("")
        out += [f"{r.mac}: {r.bmc_error}" for r in unreachable]
        if status.dhcp_served is False:
            out += ["", NO_DHCP]
    out.append("")
    out.append('To see details for a node, run "ipmi <MAC|DOMAIN> diag", or run this command '
               'with "--full" to see the details of all nodes.')
    if status.provisioned_as == "Flatcar":
        out.append('To see what happened to a node, run "racker node timeline <MAC>".')
    if status.provisioned_as == "Lokomotive":
        out.append("To query the Kubernetes and etcd cluster health, run: "
                   "cd ~/lokomotive; lokoctl health")
    return out


def to_json(status: RackStatus) -> dict[str, Any]:
    """The status as JSON-ready data (pure)."""
    return {
        "provisioned": status.provisioned_as,
        "kubernetes_api_reached": status.kubernetes_api,
        "nodes": [{**asdict(r), "hostnames": list(r.hostnames)} for r in status.rows],
        "provisioned_nodes": status.provisioned_count,
        "total_nodes": len(status.rows),
        "dhcp_served": status.dhcp_served,
    }


def hardware_lines(macs: Sequence[str], hardware: Mapping[str, Reported]) -> list[str]:
    """`racker status --full`'s inventory section: one line per node (pure)."""
    out = ["Hardware inventory (as the installers reported it; 'racker node show MAC' for "
           "details):"]
    for mac in macs:
        found = hardware.get(mac)
        if found is None:
            out.append(f"{mac}  - (not reported yet)")
        else:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(found.ts))
            out.append(f"{mac}  {printable(summary(found.hardware))}  "
                       f"UUID {found.hardware.uuid or '-'}  ({when})")
    return out


def cabling_lines(problems: Sequence[str]) -> list[str]:
    """`racker status --full`'s cabling check section (pure)."""
    if not problems:
        return ["Cabling check: no problem found in what the installers reported."]
    return [f"Cabling check: {len(problems)} problems:", *(f"  ! {p}" for p in problems)]


def _activity(activity: Activity | None, mac: str, *, excluded: bool) -> dict[str, Any]:
    a = activity.nodes.get(mac) if activity else None
    if a is None:
        return {"state": "excluded"} if excluded else {}
    # the configuration decides exclusion: 'racker node include' records no event
    state = "excluded" if excluded else ("idle" if a.state == "excluded" else a.state)
    return {"stage": a.stage, "state": state, "failure": a.failure,
            "last_event": a.last_event, "last_event_at": a.last_event_at}


def hostnames_by_ip(lines: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """`IP → names` from racker's hosts lines (pure)."""
    out: dict[str, tuple[str, ...]] = {}
    for line in lines:
        words = line.split("#", 1)[0].split()
        if len(words) >= 2:
            out[words[0]] = out.get(words[0], ()) + tuple(words[1:])
    return out


NO_DHCP = ("No racker process serves DHCP on the rack network, so the BMCs' 2-minute leases "
           "expire and they drop off the network: run 'racker serve' (or start the "
           "racker-serve service: systemctl start racker-serve).")


Planned = tuple[str, ClusterPlan, frozenset[str]]
"""`rack_plan`'s answer: what was provisioned, every node's plan, the excluded primary MACs."""


def rack_plan(paths: Paths) -> Planned:
    """What was provisioned, the plan of every node (excluded ones too: all of nodes.csv) and
    the primary MACs of the excluded nodes."""
    inventory = load_inventory(paths)
    for provision, label in ((Provision.LOKOMOTIVE, "Lokomotive"),
                             (Provision.FLATCAR, "Flatcar")):
        folder = config_folder(paths, provision)
        if (folder / "racker-options.yaml").is_file():
            try:
                configured = load_configured(paths, folder).plan
            except (RackerError, OSError):
                break
            # the recorded layout's names and addresses; excluded nodes listed as well
            rest = make_plan(replace(configured.options, exclude=()), inventory)
            planned = {n.mac for n in configured.nodes}
            excluded = tuple(n for n in rest.nodes if n.mac not in planned)
            return label, replace(configured, nodes=configured.nodes + excluded), frozenset(
                n.mac for n in excluded)
    return "no", make_plan(Options(provision=Provision.FLATCAR), inventory), frozenset()


def dhcp_served(paths: Paths) -> bool:
    """Whether a racker process (serve, bootstrap, apply) runs dnsmasq for this rack."""
    return dnsmasq_running(paths)


async def gather(paths: Paths, power: PowerQuery,
                 joined: Callable[[ClusterPlan], set[str] | None] = lambda _p: None,
                 protocol: ProtocolQuery = lambda _n: None, *,
                 activity: Activity | None = None,
                 planned: Planned | None = None) -> RackStatus:
    """Query every BMC at once and read flag files and hosts entries; each node's stage,
    failure and last event come from `activity` (the event log folded), when given.
    `planned` is `rack_plan(paths)` when the caller keeps it."""
    label, plan, excluded = planned or rack_plan(paths)
    flags = asset_dir(paths, plan.options.provision)
    names = hostnames_by_ip(read_managed(paths.hosts_file))
    members = joined(plan) if label == "Lokomotive" else None

    async def row(n: PlannedNode) -> Row:
        try:
            state: str | None = await power(n)
            error = None
        except RackerError as e:
            state, error = None, e.message
        return Row(mac=n.mac, bmc_mac=n.node.bmc_mac, name=n.name, bmc_reached=error is None,
                   power=state, provisioned=label != "no" and (flags / n.mac).is_file(),
                   joined=None if label != "Lokomotive" else n.mac in (members or set()),
                   hostnames=names.get(n.ip, ()), bmc_error=error, ip=n.ip,
                   **_activity(activity, n.mac, excluded=n.mac in excluded),
                   excluded=n.mac in excluded, protocol=protocol(n))

    rows = await asyncio.gather(*(row(n) for n in sorted(plan.nodes, key=lambda n: n.mac)))
    return RackStatus(label, None if label != "Lokomotive" else members is not None,
                      tuple(rows), dhcp_served=dhcp_served(paths))
