"""A configuration folder as the after-provisioning commands see it, and re-rendering it.

The folder's recorded options (`racker-options.yaml`), the rack (`nodes.csv`) and the node
layout (`racker-nodes.yaml`) give the plan. Re-rendering writes only what racker owns and what
the plan changes: the vars file with the arrays (`terraform.tfvars` / `lokocfg.vars`), CLC files
of nodes that have none, racker files that were deleted, dnsmasq.conf and the hosts entries.
The operator's edits of `cl/*.yaml`, `flatcar.tf` or `baremetal.lokocfg` are never overwritten.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from racker import __version__
from racker.adapters.fs.atomic import write_atomic
from racker.adapters.fs.configdir import RECORD_NAME, load_record, render_record
from racker.adapters.fs.hostsfile import update_hosts
from racker.adapters.fs.rackmeta import load_inventory
from racker.adapters.procs import running
from racker.app.configuration.create import dnsmasq_conf_path, dnsmasq_settings
from racker.core.layout import (
    Layout,
    layout_from_vars,
    layout_of,
    load_layout,
    pin_plan,
    render_layout,
    slot_of,
)
from racker.core.macs import parse_mac
from racker.core.plan import make_plan
from racker.core.render import RenderedFile, config_folder
from racker.core.render.dnsmasq import render_dnsmasq
from racker.core.render.folder import render_config
from racker.core.render.hosts import hosts_entries
from racker.errors import InputError, Where
from racker.model import ClusterPlan, Inventory, Node, Options, Provision
from racker.paths import Paths

EXCLUDED_DIR = ".racker-excluded"
"""Where an excluded node's CLC files are kept, to add it back later."""


def vars_name(provision: Provision) -> str:
    """The file with the configuration arrays."""
    return "lokocfg.vars" if provision is Provision.LOKOMOTIVE else "terraform.tfvars"


@dataclass(frozen=True)
class Configured:
    """A configuration folder with its options, rack, layout and the plan they give."""

    paths: Paths
    folder: Path
    options: Options
    inventory: Inventory
    layout: Layout
    plan: ClusterPlan
    layout_recorded: bool

    def node(self, text: str) -> Node:
        """The nodes.csv node named by any of its MACs, its name or its host name (the name's
        first label, e.g. `lokomotive-worker-0`); InputError saying what was not found."""
        mac = parse_mac(text) or self._mac_of_name(text)
        if mac is None:
            names = [n.name for n in self.plan.nodes][:4]
            raise InputError(f'"{text}" is neither a MAC address nor the name of a node of '
                             f"{self.folder}",
                             hint="give one of the node's MAC addresses from nodes.csv (e.g. "
                                  "aa:bb:cc:dd:ee:ff) or its name"
                                  + (f" ({', '.join(names)}, …)" if names else ""))
        if mac in self.inventory.management.macs:
            raise InputError(f"{mac} is the management node (this machine)",
                             where=Where(file=str(self.inventory.path)),
                             hint="name another node of nodes.csv")
        for n in self.inventory.nodes:
            if mac in n.macs:
                return n
        raise InputError(f"{mac} is not a MAC address of any node in {self.inventory.path}",
                         where=Where(file=str(self.inventory.path)),
                         hint="use a primary, BMC or secondary MAC address listed in nodes.csv")

    def _mac_of_name(self, text: str) -> str | None:
        """The primary MAC of the node called `text` (planned or excluded, any case)."""
        want = text.strip().lower().rstrip(".")
        named = [(n.name, n.mac) for n in self.plan.nodes]
        named += [(s.name, s.mac) for s in (*self.layout.active, *self.layout.excluded)
                  if s.name]
        for name, mac in named:
            if want in (name.lower(), name.lower().split(".", 1)[0]):
                return mac
        return None

    def planned(self, mac: str) -> bool:
        """True when the node of primary MAC `mac` takes part in the plan."""
        return any(n.mac == mac for n in self.plan.nodes)


def find_folder(paths: Paths, start: Path | None) -> Path:
    """The configuration folder: `start`, else the current folder, else the one under $HOME.

    It must hold racker's options record, and be the folder racker manages for its kind
    (its flag files and rendered paths live under $HOME).
    """
    candidates = [start] if start is not None else [Path.cwd(), paths.flatcar_dir,
                                                    paths.lokomotive_dir]
    for folder in candidates:
        if (folder / RECORD_NAME).is_file():
            return folder
    where = candidates[0]
    raise InputError(f"{where} is not a configuration folder written by racker (no "
                     f"{RECORD_NAME})", where=Where(file=str(where)),
                     hint="run this in ~/flatcar-container-linux or ~/lokomotive, or pass -C DIR;"
                          " 'racker bootstrap' creates the folder")


def plan_for(options: Options, inventory: Inventory, layout: Layout | None) -> ClusterPlan:
    """make_plan, then the layout pinned (when there is one)."""
    fresh = make_plan(options, inventory)
    return fresh if layout is None else pin_plan(fresh, layout)


def check_folder(paths: Paths, folder: Path, options: Options) -> None:
    """The folder must be the one racker manages for its kind (flag files and paths hang on it)."""
    expected = config_folder(paths, options.provision)
    if folder.resolve() != expected.resolve():
        raise InputError(f"{folder} is not the {options.provision.value} configuration folder "
                         f"racker manages ({expected})", where=Where(file=str(folder)),
                         hint=f"run it in {expected}")


def load_configured(paths: Paths, folder: Path) -> Configured:
    """Read the folder's record and layout and the rack; plan."""
    options = load_record(folder)
    check_folder(paths, folder, options)
    inventory = load_inventory(paths)
    options = without_stale_exclusions(options, inventory)
    recorded = load_layout(folder)
    layout = recorded
    if layout is None:
        # no record yet: the folder as racker bootstrap wrote it (an exclusion during the
        # bootstrap keeps the other names, which a fresh plan would renumber)
        layout = folder_layout(folder, make_plan(options, inventory))
    plan = plan_for(options, inventory, layout)
    return Configured(paths, folder, plan.options, inventory, settle(plan, layout), plan,
                      layout_recorded=recorded is not None)


def without_stale_exclusions(options: Options, inventory: Inventory) -> Options:
    """The options without excluded MACs that nodes.csv no longer lists (a removed server)."""
    known = {m for n in inventory.nodes for m in n.macs}
    tokens = [t for item in options.exclude for t in item.split()]
    kept = tuple(t for t in tokens if parse_mac(t) in known)
    return options if len(kept) == len(tokens) else dataclasses.replace(options, exclude=kept)


def folder_layout(folder: Path, fresh: ClusterPlan) -> Layout | None:
    """The layout the folder's vars file and kept CLC files show (None without a vars file)."""
    text = _text(folder / vars_name(fresh.options.provision))
    if text is None:
        return None
    kept: dict[str, str] = {}
    for n in fresh.excluded:
        files = sorted((folder / EXCLUDED_DIR / n.primary_mac).glob("*.yaml"))
        names = [f.stem for f in files if not f.stem.endswith("-custom")]
        if names:
            kept[n.primary_mac] = names[0]
    return layout_from_vars(fresh, text, kept)


def settle(plan: ClusterPlan, previous: Layout | None) -> Layout:
    """The layout of `plan`: its nodes in order, the previous excluded slots, new exclusions."""
    derived = layout_of(plan)
    active = {n.mac for n in plan.nodes}
    excluded = [s for s in (previous.excluded if previous else ()) if s.mac not in active]
    have = {s.mac for s in excluded}
    excluded += [s for s in derived.excluded if s.mac not in have]
    return Layout(tuple(slot_of(n) for n in plan.nodes), tuple(excluded))


def updates(c: Configured, plan: ClusterPlan, options: Options, layout: Layout
            ) -> list[RenderedFile]:
    """The folder files that must be written for `plan`, each only when it would change."""
    name = vars_name(options.provision)
    out: list[RenderedFile] = []
    for f in render_config(plan, c.paths):
        target = c.folder / f.path
        if f.path.as_posix() == name:
            if _text(target) != f.content:
                out.append(f)
        elif not target.exists():
            out.append(f)  # a new node's CLC files, or a racker file that was deleted
    for f in (render_record(options, racker_version=__version__), render_layout(layout)):
        if _text(c.folder / f.path) != f.content:
            out.append(f)
    return out


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def write_updates(c: Configured, plan: ClusterPlan, files: Sequence[RenderedFile]) -> bool:
    """Write the folder files, then dnsmasq.conf and the hosts entries for `plan`.

    Returns True when dnsmasq.conf changed.
    """
    for f in files:
        write_atomic(c.folder / f.path, f.content, mode=f.mode)
    conf = dnsmasq_conf_path(c.paths)
    settings = dnsmasq_settings(c.paths, plan.inventory.pxe_interface)
    text = render_dnsmasq(plan, settings)
    changed = _text(conf) != text
    if changed:
        write_atomic(conf, text)
    update_hosts(c.paths.hosts_file, hosts_entries(plan))
    return changed


def dnsmasq_running(paths: Paths) -> bool:
    """True when a dnsmasq started with racker's configuration runs (its pid file names it)."""
    pid_file = dnsmasq_settings(paths, "").pid_file
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    return running(pid)
