"""Use case: from the rack metadata and the options to a configuration folder on disk.

Checks, plan, configuration folder, dnsmasq.conf and hosts entries — everything `racker
bootstrap -render-only` does, and the first half of a full bootstrap. Nothing here touches a
BMC, a service or the network.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from racker import __version__
from racker.adapters.fs.atomic import write_atomic
from racker.adapters.fs.configdir import check_folders, render_record, write_new_folder
from racker.adapters.fs.credentials import load_credentials
from racker.adapters.fs.hostsfile import update_hosts
from racker.adapters.fs.rackmeta import load_inventory
from racker.adapters.fs.writable import ensure_dir
from racker.core.plan import make_plan
from racker.core.render import config_folder
from racker.core.render.dnsmasq import DnsmasqSettings, render_dnsmasq
from racker.core.render.folder import render_config
from racker.core.render.hosts import HostsEntry, hosts_entries
from racker.model import ClusterPlan, Options
from racker.paths import Paths


@dataclass(frozen=True)
class ConfigureResult:
    """What configure() decided and wrote."""

    plan: ClusterPlan
    folder: Path
    files: tuple[Path, ...]
    """Every file of the configuration folder, absolute."""
    dnsmasq_conf: Path
    hosts_file: Path
    hosts_entries: tuple[HostsEntry, ...]
    hosts_changed: bool
    render_only: bool


def dnsmasq_settings(paths: Paths, interface: str) -> DnsmasqSettings:
    """Where dnsmasq keeps its leases and pid file: racker's state folder."""
    return DnsmasqSettings(interface=interface,
                           lease_file=paths.dnsmasq_dir / "dnsmasq.leases",
                           pid_file=paths.dnsmasq_dir / "dnsmasq.pid")


def dnsmasq_conf_path(paths: Paths) -> Path:
    """`$RACKER_STATE_DIR/dnsmasq/dnsmasq.conf`"""
    return paths.dnsmasq_dir / "dnsmasq.conf"


def configure(paths: Paths, options: Options, *, render_only: bool) -> ConfigureResult:
    """Load and check the rack metadata, plan the cluster and write its configuration.

    `render_only` is carried into the result for the caller (bootstrap stops after this step
    when it is set); configure itself never goes beyond writing files.
    """
    inventory = load_inventory(paths)
    load_credentials(paths)  # checked now (presence, modes); the engine uses them later
    plan = make_plan(options, inventory)
    return write_configuration(paths, plan, render_only=render_only)


def write_configuration(
    paths: Paths, plan: ClusterPlan, *, render_only: bool
) -> ConfigureResult:
    """Write everything for a plan: the folder, dnsmasq.conf and the hosts entries.

    The folders are checked first, and everything is rendered before the first write, so a
    refusal or a rendering error leaves the disk as it was.
    """
    check_folders(paths)
    folder = config_folder(paths, plan.options.provision)
    files = render_config(plan, paths)
    files += (render_record(plan.options, racker_version=__version__),)
    dnsmasq_text = render_dnsmasq(plan, dnsmasq_settings(paths, plan.inventory.pxe_interface))
    entries = hosts_entries(plan)

    conf = dnsmasq_conf_path(paths)
    # checked before the first write: a folder racker cannot use leaves nothing behind
    ensure_dir(paths.state_dir, "racker's state folder", "RACKER_STATE_DIR")
    ensure_dir(folder.parent, "the home folder", "HOME")
    written = write_new_folder(folder, files)
    try:
        write_atomic(conf, dnsmasq_text)
        changed = update_hosts(paths.hosts_file, entries)
    except BaseException:
        # NOTE: a folder left here would make every later bootstrap refuse ("already exists")
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return ConfigureResult(plan=plan, folder=folder, files=written, dnsmasq_conf=conf,
                           hosts_file=paths.hosts_file, hosts_entries=entries,
                           hosts_changed=changed, render_only=render_only)


def summary_lines(result: ConfigureResult) -> tuple[str, ...]:
    """What the CLI prints after configure(): where everything went."""
    lines = [
        f"➤ Configuration folder: {result.folder} ({len(result.files)} files)",
        f"➤ dnsmasq configuration: {result.dnsmasq_conf}",
        f"➤ Hosts entries: {len(result.hosts_entries)} in {result.hosts_file}"
        + ("" if result.hosts_changed else " (unchanged)"),
    ]
    if result.render_only:
        lines.append("Rendered only: no BMC, service or network was touched.")
    return tuple(lines)


def make_room(paths: Paths) -> None:
    """Before the wizard asks anything: an empty configuration folder of either kind is
    removed, a non-empty one stops the bootstrap with the documented guidance."""
    check_folders(paths)
