"""Use cases: `racker node exclude|include|replace` on a configured rack.

They automate the manual procedures of the after-provisioning documentation, on the files only
(no BMC is touched; `racker apply` installs what they leave without a flag file). Each step is
atomic and each command can run again after a crash: it finds what is already done and finishes
the rest. Other nodes keep their names and addresses throughout (see racker.core.layout).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from racker import __version__
from racker.adapters.fs.applied import AppliedHashes
from racker.adapters.fs.atomic import write_atomic
from racker.adapters.fs.configdir import load_record, render_record
from racker.adapters.fs.rackmeta import (
    load_inventory,
    read_machine_macs,
    read_nodes_csv_text,
    read_pxe_file,
)
from racker.adapters.fs.store import Store
from racker.adapters.handover import reload as reload_serve
from racker.app.configuration.loaded import (
    EXCLUDED_DIR,
    Configured,
    check_folder,
    dnsmasq_running,
    load_configured,
    plan_for,
    settle,
    updates,
    write_updates,
)
from racker.core.events import EventKind
from racker.core.inventory import parse_nodes_csv
from racker.core.layout import LAYOUT_NAME, Layout, Slot, load_layout, render_layout
from racker.core.macs import parse_mac
from racker.core.render import asset_dir, clc_paths, config_folder
from racker.engine.run import FlagFiles
from racker.errors import InputError, Where
from racker.model import ClusterPlan, Node, Options, Role
from racker.paths import Paths


@dataclass(frozen=True)
class Outcome:
    """What a node command did, for the CLI to print."""

    lines: tuple[str, ...]
    plan: ClusterPlan


def _backup_dir(folder: Path, mac: str) -> Path:
    return folder / EXCLUDED_DIR / mac


def _drop_node_state(paths: Paths, c: Configured, mac: str) -> None:
    FlagFiles(asset_dir(paths, c.options.provision)).path(mac).unlink(missing_ok=True)
    AppliedHashes(paths.state_dir).forget(mac)


DNSMASQ_NOTE = ("dnsmasq.conf changed: restart the racker process that runs dnsmasq so that it "
                "hands out the new addresses")


def _commit(c: Configured, options: Options, layout: Layout | None,
            lines: list[str]) -> ClusterPlan:
    """Plan with `options`/`layout`, write the folder, dnsmasq and hosts; return the plan.

    A note for the operator is appended to `lines` when a running dnsmasq needs a restart.
    """
    plan = plan_for(options, c.inventory, layout)
    settled = settle(plan, layout)
    if write_updates(c, plan, updates(c, plan, plan.options, settled)):
        if reload_serve(c.paths.state_dir):
            lines.append("racker serve reloaded: its dnsmasq hands out the new addresses")
        elif dnsmasq_running(c.paths):
            lines.append(DNSMASQ_NOTE)
    return plan


# ---- exclude --------------------------------------------------------------------------------

def exclude(paths: Paths, folder: Path, mac: str) -> Outcome:
    """Take a node out of the configuration, keeping its CLC files to add it back later."""
    c = load_configured(paths, folder)
    node = c.node(mac)
    primary = node.primary_mac
    slot = c.layout.find(primary)
    lines: list[str] = []
    if c.planned(primary):
        planned = next(n for n in c.plan.nodes if n.mac == primary)
        if planned.role is Role.CONTROLLER and len(c.plan.controllers) == 1:
            raise InputError(f"{primary} ({planned.name}) is the only controller",
                             hint="a cluster cannot run without a controller; replace the "
                                  "server with 'racker node replace' instead")
        keep = _backup_dir(folder, primary)
        for rel in clc_paths(planned.name):
            src = folder / rel
            if src.is_file():
                write_atomic(keep / Path(rel).name, src.read_bytes())
        options = dataclasses.replace(c.options, exclude=(*c.options.exclude, primary))
        lines.append(f"Excluded {primary} ({planned.name}); its Container Linux Configs are "
                     f"kept in {keep}")
    else:
        options = c.options
        lines.append(f"{primary} is already excluded")
    plan = _commit(c, options, c.layout.exclude(primary), lines)
    if slot is not None and slot.name:
        for rel in clc_paths(slot.name):
            if not any(n.name == slot.name for n in plan.nodes):
                (folder / rel).unlink(missing_ok=True)
    _drop_node_state(paths, c, primary)
    if c.planned(primary):
        with Store.in_state_dir(paths.state_dir) as store:
            store.add(primary, EventKind.EXCLUDED,
                      detail={"name": slot.name if slot else "", "by": "racker node exclude"})
    lines.append(f"Add it back with 'racker node include {primary}'.")
    return Outcome(tuple(lines), plan)


def exclude_nodes(paths: Paths, plan: ClusterPlan, macs: Iterable[str]) -> ClusterPlan:
    """Exclude nodes of a configured folder; the others keep their names and addresses.

    What the provisioning failure policy calls for the nodes that failed.
    """
    folder = config_folder(paths, plan.options.provision)
    for mac in macs:
        plan = exclude(paths, folder, mac).plan
    return plan


# ---- include --------------------------------------------------------------------------------

def _names_node(token: str, node: Node) -> bool:
    return parse_mac(token) in node.macs


def include(paths: Paths, folder: Path, mac: str) -> Outcome:
    """Add an excluded node back at the end of the arrays, with its kept CLC files."""
    c = load_configured(paths, folder)
    node = c.node(mac)
    primary = node.primary_mac
    tokens = [t for item in c.options.exclude for t in item.split()]
    options = dataclasses.replace(
        c.options, exclude=tuple(t for t in tokens if not _names_node(t, node)))
    layout = c.layout
    already = c.planned(primary)
    if not already:
        slot = layout.find(primary)
        if slot is None:
            slot = Slot(primary, node.bmc_mac, Role.WORKER, -1, "", "", "")
        layout = layout.append(slot)
    plan = plan_for(options, c.inventory, layout)
    planned = next(n for n in plan.nodes if n.mac == primary)
    keep = _backup_dir(folder, primary)
    restored = []
    if keep.is_dir():
        main, custom = clc_paths(planned.name)
        for f in sorted(keep.glob("*.yaml")):
            target = folder / (custom if f.name.endswith("-custom.yaml") else main)
            if not target.exists():
                write_atomic(target, f.read_bytes())
                restored.append(target.name)
    lines = [f"{primary} is already included as {planned.name}" if already else
             f"Included {primary} as {planned.name} ({planned.ip}), last in the arrays"]
    plan = _commit(c, options, layout, lines)
    shutil.rmtree(keep, ignore_errors=True)
    if restored:
        lines.append(f"Restored its Container Linux Configs: {', '.join(restored)}")
    lines.append("Install it with 'racker apply'.")
    return Outcome(tuple(lines), plan)


# ---- replace --------------------------------------------------------------------------------

def _mac_forms(mac: str) -> re.Pattern[str]:
    """A MAC in colon or hyphen form, any case."""
    parts = mac.split(":")
    return re.compile("(?i)(?<![0-9a-f:-])" + "[:-]".join(re.escape(p) for p in parts)
                      + "(?![0-9a-f])")


def substitute_macs(text: str, pairs: Iterable[tuple[str, str]]) -> str:
    """`text` with every old MAC (colon or hyphen form, any case) replaced by the new one."""
    for old, new in pairs:
        text = _mac_forms(old).sub(new, text)
    return text


def rewrite_row(text: str, line: int, primary: str, bmc: str, secondary: str | None,
                source: str) -> str:
    """nodes.csv text with the MACs of row `line` (1-based) replaced; type and comment kept."""
    rows = text.split("\n")
    header = rows[0].lower()
    five = "secondary" in header or len(header.split(",")) != 4
    values = [primary, bmc] + ([secondary or ""] if five else [])
    if secondary and not five:
        raise InputError("nodes.csv has no secondary MAC column", where=Where(file=source),
                         hint="give only OLD_MAC NEW_PRIMARY NEW_BMC")
    fields = rows[line - 1].split(",", len(values))
    needed = max(i + 1 for i, v in enumerate(values) if v)
    while len(fields) < needed:  # a short row gets only the fields it needs now
        fields.append("")
    for i, value in enumerate(values[:len(fields)]):
        raw = fields[i]
        stripped = raw.strip()
        lead = raw[: len(raw) - len(raw.lstrip())]
        tail = raw[len(raw.rstrip()):] if stripped else ""
        quote = '"' if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"' else ""
        if not stripped and value:
            lead = " " if i else ""
        fields[i] = f"{lead}{quote}{value}{quote}{tail}"
    rows[line - 1] = ",".join(fields)
    return "\n".join(rows)


def _static_sections(ip_addrs: str, old: str, new: str | None, source: str) -> str:
    """The -ip-addrs text with the `[old secondary]` section renamed to the new secondary."""
    if not _mac_forms(old).search(ip_addrs):
        return ip_addrs
    if new is None:
        raise InputError(f"the node has a static public address on its secondary NIC {old}",
                         where=Where(file=source),
                         hint="give NEW_SECONDARY, the new server's secondary MAC address")
    return substitute_macs(ip_addrs, [(old, new)])


def without_leases(text: str, macs: Collection[str]) -> str:
    """A dnsmasq lease file's text without the leases of `macs` (pure)."""
    lines = text.splitlines(keepends=True)
    return "".join(x for x in lines
                   if len(x.split()) < 2 or parse_mac(x.split()[1]) not in macs)


def _drop_leases(paths: Paths, macs: Collection[str]) -> None:
    # NOTE: dnsmasq does not hand out a fixed address that is still leased to another MAC: the
    # replaced server's leases would keep the new server from getting the node's address
    leases = paths.dnsmasq_leases
    try:
        text = leases.read_text()
    except (OSError, UnicodeDecodeError):
        return
    new = without_leases(text, set(macs))
    if new != text:
        write_atomic(leases, new, mode=leases.stat().st_mode & 0o7777)


def _slot_mac(folder: Path, name: str) -> str | None:
    """The primary MAC the recorded layout gives the node called `name` (or its short form)."""
    layout = load_layout(folder)
    want = name.strip().lower()
    for s in (*layout.active, *layout.excluded) if layout else ():
        if s.name and want in (s.name.lower(), s.name.lower().split(".", 1)[0]):
            return s.mac
    return None


def _arg_mac(text: str, what: str) -> str:
    mac = parse_mac(text)
    if mac is None:
        raise InputError(f'{what} "{text}" is not a MAC address' + (
                             " nor the name of a node" if what == "OLD_MAC" else ""),
                         hint="write it as six pairs of hex digits, e.g. aa:bb:cc:dd:ee:ff")
    return mac


def _replacement_pairs(paths: Paths, folder: Path, options: Options, old_mac: str,
                       primary: str, bmc: str, secondary: str | None
                       ) -> tuple[Node | None, str, list[tuple[str, str]]]:
    """The node of `old_mac` in nodes.csv (None when nodes.csv was rewritten already by an
    interrupted replace), its primary MAC, and each (old MAC, new MAC) pair to substitute.

    The layout is recorded first, so that the node keeps its place whatever comes next."""
    csv = paths.nodes_csv
    inventory = load_inventory(paths)
    old_node = next((n for n in inventory.nodes if old_mac in n.macs), None)
    if old_mac in inventory.management.macs:
        raise InputError(f"{old_mac} is the management node (this machine)",
                         where=Where(file=str(csv)), hint="name another node of nodes.csv")
    if old_node is None:
        if any(n.primary_mac == primary and n.bmc_mac == bmc for n in inventory.nodes):
            return None, old_mac, [(old_mac, primary)]  # nodes.csv was rewritten already
        raise InputError(f"{old_mac} is not a MAC address of any node in {csv}",
                         where=Where(file=str(csv)),
                         hint="give a primary, BMC or secondary MAC address listed in nodes.csv")
    taken = {m: n for n in (inventory.management, *inventory.nodes) for m in n.macs
             if n is not old_node}
    for mac in dict.fromkeys([primary, bmc, *([secondary] if secondary else [])]):
        if mac in taken:
            raise InputError(f"{mac} already belongs to the node of nodes.csv line "
                             f"{taken[mac].line}", where=Where(file=str(csv)),
                             hint="give the MAC addresses of the new server")
    pairs = [(old_node.primary_mac, primary), (old_node.bmc_mac, bmc)]
    if old_node.secondary_mac:
        _static_sections(options.ip_addrs, old_node.secondary_mac, secondary, str(csv))
        if secondary:
            pairs.append((old_node.secondary_mac, secondary))
    if load_layout(folder) is None:
        current = load_configured(paths, folder)
        f = render_layout(current.layout)
        write_atomic(folder / f.path, f.content)
    return old_node, old_node.primary_mac, pairs


def _substitute_in_clcs(folder: Path, name: str, old_primary: str, primary: str,
                        pairs: list[tuple[str, str]]) -> None:
    """The node's Container Linux Configs (and their backups of an exclusion) with the new
    MACs, each file rewritten atomically with its mode kept."""
    for base in (folder, _backup_dir(folder, old_primary), _backup_dir(folder, primary)):
        for rel in clc_paths(name):
            path = base / (rel if base == folder else Path(rel).name)
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                new = substitute_macs(text, pairs)
                if new != text:
                    write_atomic(path, new, mode=path.stat().st_mode & 0o7777)


def replace(paths: Paths, folder: Path, old: str, new_primary: str, new_bmc: str,
            new_secondary: str | None = None) -> Outcome:
    """The server of `old` was swapped: new MACs everywhere, its name and addresses kept.

    Steps, each idempotent, in an order that a run after a crash can always finish: the layout
    is recorded; the node's CLC files, the options record and the layout get the new MACs;
    then nodes.csv; then the arrays, dnsmasq and hosts are rendered and the old flag file goes.
    """
    old_mac = parse_mac(old) or _slot_mac(folder, old) or _arg_mac(old, "OLD_MAC")
    primary = _arg_mac(new_primary, "NEW_PRIMARY")
    bmc = _arg_mac(new_bmc, "NEW_BMC")
    secondary = _arg_mac(new_secondary, "NEW_SECONDARY") if new_secondary else None
    options = load_record(folder)
    check_folder(paths, folder, options)
    csv = paths.nodes_csv
    old_node, old_primary, pairs = _replacement_pairs(
        paths, folder, options, old_mac, primary, bmc, secondary)
    layout = load_layout(folder)
    slot = layout.find(old_primary) or layout.find(primary) if layout else None
    if layout is None or slot is None:
        raise InputError(f"{old_mac} has no place in the node layout",
                         where=Where(file=str(folder / LAYOUT_NAME)))
    if slot.name:
        _substitute_in_clcs(folder, slot.name, old_primary, primary, pairs)
    tokens = [t for item in options.exclude for t in item.split()]
    options = dataclasses.replace(
        options, exclude=tuple(substitute_macs(t, pairs) for t in tokens),
        ip_addrs=substitute_macs(options.ip_addrs, pairs))
    layout = layout.replace_slot(slot.mac, dataclasses.replace(slot, mac=primary, bmc_mac=bmc))
    for f in (render_record(options, racker_version=__version__), render_layout(layout)):
        write_atomic(folder / f.path, f.content, mode=f.mode)
    if old_node is not None:
        new_text = rewrite_row(read_nodes_csv_text(csv), old_node.line, primary, bmc, secondary,
                               str(csv))
        parse_nodes_csv(new_text, csv, read_machine_macs(paths.sys_class_net),  # still valid
                        read_pxe_file(paths))
        write_atomic(csv, new_text, mode=csv.stat().st_mode & 0o7777)
    old_backup = _backup_dir(folder, old_primary)
    if old_backup.is_dir() and not _backup_dir(folder, primary).exists():
        old_backup.rename(_backup_dir(folder, primary))
    c = load_configured(paths, folder)
    notes: list[str] = []
    plan = _commit(c, c.options, c.layout, notes)
    _drop_leases(paths, [old for old, _ in pairs])
    _drop_node_state(paths, c, old_primary)
    planned = [n for n in plan.nodes if n.mac == primary]
    if planned:
        p = planned[0]
        lines = [f"Replaced {old_primary} by {primary} (BMC {bmc}) as {p.name} ({p.ip}, BMC "
                 f"{p.bmc_ip})", "Install the new server with 'racker apply'."]
    else:
        lines = [f"Replaced {old_primary} by {primary} (BMC {bmc}); the node stays excluded",
                 f"Add it back with 'racker node include {primary}'."]
    return Outcome(tuple(lines + notes), plan)


def reprovisionable(paths: Paths, folder: Path, mac: str) -> str:
    """Before a reinstall of one node: the node's primary MAC (InputError when it is excluded).
    Its flag file stays until the reinstall starts (apply's executor removes it then)."""
    c = load_configured(paths, folder)
    node = c.node(mac)
    if not c.planned(node.primary_mac):
        raise InputError(f"{node.primary_mac} is excluded from the configuration",
                         hint=f"add it back first with 'racker node include {node.primary_mac}'")
    return node.primary_mac


def forget_provisioned(paths: Paths, folder: Path, mac: str) -> str:
    """A reinstall that starts at once (the dashboard's reprovision: a PXE boot right away):
    the node's flag file and recorded Ignition go now, so that the installer is served and
    apply installs it again. Returns its primary MAC (InputError when it is excluded)."""
    primary = reprovisionable(paths, folder, mac)
    provision = load_configured(paths, folder).options.provision
    FlagFiles(asset_dir(paths, provision)).path(primary).unlink(missing_ok=True)
    AppliedHashes(paths.state_dir).forget(primary)
    return primary
