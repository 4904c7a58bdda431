"""Taking nodes out of a configured rack (and keeping what is needed to add them back).

As the reference's exclude procedure did: the node leaves the configuration arrays, its CLC
files and flag file go, and its dnsmasq and hosts entries go. Its CLC files are kept under
`<folder>/.racker-excluded/<MAC>/` so that `racker node include` can bring them back.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from racker import __version__
from racker.atomic import write_atomic
from racker.configdir import render_record, rewrite_files
from racker.configure import dnsmasq_conf_path, dnsmasq_settings
from racker.engine.run import FlagFiles
from racker.hostsfile import update_hosts
from racker.model import ClusterPlan
from racker.paths import Paths
from racker.render import asset_dir, clc_paths, config_folder, render_config
from racker.render.dnsmasq import render_dnsmasq
from racker.render.hosts import hosts_entries

EXCLUDED_DIR = ".racker-excluded"


def exclude_nodes(paths: Paths, plan: ClusterPlan, macs: Iterable[str]) -> ClusterPlan:
    """The plan without the nodes of `macs` (primary MACs); rewrite what names them.

    The other nodes keep their names and addresses (the plan is filtered, not made again:
    renumbering `node-<i>` would rename running machines).
    """
    options = plan.options
    leaving = set(macs)
    new_options = replace(options, exclude=tuple(dict.fromkeys([*options.exclude, *leaving])))
    gone = [n for n in plan.nodes if n.mac in leaving]
    new_plan = replace(plan, options=new_options,
                       nodes=tuple(n for n in plan.nodes if n.mac not in leaving),
                       excluded=(*plan.excluded, *(n.node for n in gone)))
    folder = config_folder(paths, options.provision)
    flags = FlagFiles(asset_dir(paths, options.provision))
    for n in gone:
        keep = folder / EXCLUDED_DIR / n.mac
        keep.mkdir(parents=True, exist_ok=True)
        for rel in clc_paths(n.name):
            src = folder / rel
            if src.exists():
                shutil.copy2(src, keep / Path(rel).name)
                src.unlink()
        flags.path(n.mac).unlink(missing_ok=True)
    # a kept node's CLC files may carry the operator's edits: they stay as they are
    files = [f for f in render_config(new_plan, paths)
             if not (f.path.parts[0] == "cl" and (folder / f.path).exists())]
    files.append(render_record(new_options, racker_version=__version__))
    rewrite_files(folder, files)
    write_atomic(dnsmasq_conf_path(paths),
                 render_dnsmasq(new_plan, dnsmasq_settings(paths, plan.inventory.pxe_interface)))
    update_hosts(paths.hosts_file, hosts_entries(new_plan))
    return new_plan
