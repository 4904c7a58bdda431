"""An interrupted bootstrap (crash, kill -9, power loss, cancel) continues where it stopped.

While provisioning runs, `<state>/bootstrap-in-progress` names the configuration folder. A
later `racker bootstrap` that finds it (and the folder with its options record) provisions the
same plan again; nodes with a flag file are skipped, so finished nodes are not reinstalled.
"""

from __future__ import annotations

import json
from pathlib import Path

from racker.adapters.fs.atomic import write_atomic
from racker.adapters.fs.configdir import load_record
from racker.adapters.fs.hostsfile import update_hosts
from racker.app.configuration.create import ConfigureResult, dnsmasq_conf_path, dnsmasq_settings
from racker.app.configuration.loaded import load_configured
from racker.core.render import config_folder
from racker.core.render.dnsmasq import render_dnsmasq
from racker.core.render.hosts import hosts_entries
from racker.errors import InputError
from racker.model import Provision
from racker.paths import Paths

MARKER = "bootstrap-in-progress"


def marker(paths: Paths) -> Path:
    return paths.state_dir / MARKER


def mark_started(paths: Paths, folder: Path) -> None:
    write_atomic(marker(paths), json.dumps({"folder": str(folder)}) + "\n")


def mark_finished(paths: Paths) -> None:
    marker(paths).unlink(missing_ok=True)


def interrupted(paths: Paths) -> Path | None:
    """The folder of an interrupted bootstrap, when there is one to continue."""
    try:
        folder = Path(json.loads(marker(paths).read_text())["folder"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return folder if (folder / "racker-options.yaml").is_file() else None


def resume(paths: Paths, folder: Path) -> ConfigureResult:
    """The interrupted run's plan from its options record; dnsmasq and hosts written again."""
    # the recorded layout keeps names and addresses through exclusions and replacements
    plan = load_configured(paths, folder).plan
    conf = dnsmasq_conf_path(paths)
    write_atomic(conf, render_dnsmasq(plan, dnsmasq_settings(paths,
                                                             plan.inventory.pxe_interface)))
    entries = hosts_entries(plan)
    changed = update_hosts(paths.hosts_file, entries)
    return ConfigureResult(plan=plan, folder=folder, files=(), dnsmasq_conf=conf,
                           hosts_file=paths.hosts_file, hosts_entries=entries,
                           hosts_changed=changed, render_only=False)


def configured_rack(paths: Paths) -> ConfigureResult:
    """The configured rack as `racker serve` serves it: its folder found (either kind), its
    record checked before anything starts, its dnsmasq.conf and hosts entries rendered again."""
    folder = next((f for f in (config_folder(paths, p) for p in Provision)
                   if (f / "racker-options.yaml").is_file()), None)
    if folder is None:
        raise InputError("there is no configured rack to serve",
                         hint="run 'racker bootstrap' first (it writes ~/flatcar-container-linux "
                              "or ~/lokomotive)")
    load_record(folder)  # a broken record is reported before anything starts
    return resume(paths, folder)
